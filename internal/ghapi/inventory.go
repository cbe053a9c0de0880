package ghapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
)

// What an organization-wide audit lists: an owner's repositories, their
// releases with assets, and their deployments to an environment.

// ReleaseListing is a release as the release list shows it, assets included.
type ReleaseListing struct {
	Release
	CreatedAt   time.Time
	PublishedAt time.Time // zero for a draft
	HTMLURL     string
	Assets      []Asset
}

// Deployment is a deployment of a commit to an environment.
type Deployment struct {
	ID          int64
	SHA         string
	Ref         string
	Environment string
	CreatedAt   time.Time
	Creator     string
}

// Repo names a repository.
type Repo struct {
	Owner, Name string
	Archived    bool
}

func (r Repo) String() string { return r.Owner + "/" + r.Name }

// eachPage calls fn with every page of a list, following rel="next" on the
// API's origin; fn returns false to stop early.
func (c *Client) eachPage(ctx context.Context, o op, ref string, fn func(page int, body []byte) (bool, error)) error {
	for page := 1; page <= maxPages; page++ {
		body, hdr, err := c.get(ctx, o, ref)
		if err != nil {
			return err
		}
		more, err := fn(page, body)
		if err != nil {
			return fault.Operationalf("get %s: page %d: %w", o.resource, page, err)
		}
		next, err := c.nextLink(hdr)
		if err != nil {
			return fault.Operationalf("get %s: %w", o.resource, err)
		}
		if next == "" || !more {
			return nil
		}
		ref = next
	}
	return fault.Operationalf("get %s: more than %d pages", o.resource, maxPages)
}

func parseGHTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", field, truncate(v, 64))
	}
	return t, nil
}

// ListReleases lists a repository's releases created at or after since
// (zero: all), newest first as GitHub orders them; it stops paging once a
// whole page is older than since.
func (c *Client) ListReleases(ctx context.Context, owner, repo string, since time.Time) ([]ReleaseListing, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("releases of %s/%s", owner, repo), permission: "contents: read"}
	out := []ReleaseListing{}
	err = c.eachPage(ctx, o, p+"/releases?per_page=100", func(_ int, body []byte) (bool, error) {
		var ws []struct {
			wireRelease
			CreatedAt   *string     `json:"created_at"`
			PublishedAt *string     `json:"published_at"`
			HTMLURL     string      `json:"html_url"`
			Assets      []wireAsset `json:"assets"`
		}
		if err := decodeArray(body, &ws); err != nil {
			return false, err
		}
		inRange := false
		for _, w := range ws {
			r, err := w.release()
			if err != nil {
				return false, err
			}
			if w.CreatedAt == nil {
				return false, fmt.Errorf("release %q: expected created_at", r.Tag)
			}
			l := ReleaseListing{Release: *r, HTMLURL: w.HTMLURL}
			if l.CreatedAt, err = parseGHTime("release "+r.Tag+": created_at", *w.CreatedAt); err != nil {
				return false, err
			}
			if w.PublishedAt != nil {
				if l.PublishedAt, err = parseGHTime("release "+r.Tag+": published_at", *w.PublishedAt); err != nil {
					return false, err
				}
			}
			if l.CreatedAt.Before(since) {
				continue
			}
			inRange = true
			for _, wa := range w.Assets {
				a, err := wa.asset()
				if err != nil {
					return false, fmt.Errorf("release %q: %w", r.Tag, err)
				}
				l.Assets = append(l.Assets, a)
			}
			out = append(out, l)
		}
		return inRange || since.IsZero(), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListDeployments lists a repository's deployments to environment created
// at or after since, newest first.
func (c *Client) ListDeployments(ctx context.Context, owner, repo, environment string, since time.Time) ([]Deployment, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if environment == "" {
		return nil, fault.Configf("list deployments: no environment")
	}
	o := op{resource: fmt.Sprintf("deployments of %s/%s to %q", owner, repo, environment), permission: "deployments: read"}
	out := []Deployment{}
	ref := p + "/deployments?environment=" + url.QueryEscape(environment) + "&per_page=100"
	err = c.eachPage(ctx, o, ref, func(_ int, body []byte) (bool, error) {
		var ws []struct {
			ID          *int64  `json:"id"`
			SHA         *string `json:"sha"`
			Ref         string  `json:"ref"`
			Environment *string `json:"environment"`
			CreatedAt   *string `json:"created_at"`
			Creator     *struct {
				Login string `json:"login"`
			} `json:"creator"`
		}
		if err := decodeArray(body, &ws); err != nil {
			return false, err
		}
		inRange := false
		for i, w := range ws {
			if w.ID == nil || *w.ID <= 0 || w.SHA == nil || w.Environment == nil || w.CreatedAt == nil {
				return false, fmt.Errorf("deployment #%d: expected id, sha, environment and created_at", i+1)
			}
			if *w.Environment != environment {
				// Asked for one environment: another is GitHub not filtering.
				return false, fmt.Errorf("deployment %d: environment %q, asked for %q", *w.ID, truncate(*w.Environment, 64), environment)
			}
			if !isHexSHA(*w.SHA) {
				return false, fmt.Errorf("deployment %d: sha %q is not a commit id", *w.ID, truncate(*w.SHA, 80))
			}
			d := Deployment{ID: *w.ID, SHA: strings.ToLower(*w.SHA), Ref: w.Ref, Environment: *w.Environment}
			if d.CreatedAt, err = parseGHTime(fmt.Sprintf("deployment %d: created_at", d.ID), *w.CreatedAt); err != nil {
				return false, err
			}
			if w.Creator != nil {
				d.Creator = w.Creator.Login
			}
			if d.CreatedAt.Before(since) {
				continue
			}
			inRange = true
			out = append(out, d)
		}
		return inRange || since.IsZero(), nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func isHexSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// OrgRepos lists an organization's repositories (or a user's, when org is
// a user: GitHub answers 404 for /orgs/{user}, and the user listing is
// tried).
func (c *Client) OrgRepos(ctx context.Context, org string) ([]Repo, error) {
	seg, err := segment("organization", org)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("repositories of %s", org), permission: "metadata: read"}
	var out []Repo
	err = c.eachPage(ctx, o, "orgs/"+seg+"/repos?type=all&per_page=100", func(_ int, body []byte) (bool, error) {
		var ws []struct {
			Name     *string `json:"name"`
			Archived bool    `json:"archived"`
			Owner    *struct {
				Login *string `json:"login"`
			} `json:"owner"`
		}
		if err := decodeArray(body, &ws); err != nil {
			return false, err
		}
		for i, w := range ws {
			if w.Name == nil || *w.Name == "" || w.Owner == nil || w.Owner.Login == nil {
				return false, fmt.Errorf("repository #%d: expected name and owner.login", i+1)
			}
			if !strings.EqualFold(*w.Owner.Login, org) {
				return false, fmt.Errorf("repository %q: owner %q, asked for %q", truncate(*w.Name, 100), truncate(*w.Owner.Login, 64), org)
			}
			out = append(out, Repo{Owner: *w.Owner.Login, Name: *w.Name, Archived: w.Archived})
		}
		return true, nil
	})
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return nil, fault.Operationalf("%s: no such organization, or the token cannot see it", o.resource)
	}
	return out, err
}
