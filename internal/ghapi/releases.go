package ghapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// Release is a GitHub release, as far as publishing a decision needs it.
type Release struct {
	ID        int64
	Tag       string
	Draft     bool
	Immutable bool
}

// Asset is a release asset.
type Asset struct {
	ID   int64
	Name string
	Size int64
	// Digest is "sha256:HEX" as GitHub computed it; empty when GitHub
	// did not report one.
	Digest string
}

// AlreadyExistsError is GitHub's 422 for an asset name already taken.
type AlreadyExistsError struct{ Name string }

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("release asset %q already exists", e.Name)
}

// WithUploadURL sets the base of the uploads API. The default is derived
// from the API URL: https://uploads.github.com/ for api.github.com, and
// https://HOST/api/uploads/ for GHES (https://HOST/api/v3/).
func WithUploadURL(raw string) Option {
	return func(c *Client) error {
		u, err := parseAPIURL(raw)
		if err != nil {
			return err
		}
		c.upload = u
		return nil
	}
}

// uploadBase is the uploads API base; the token goes there too, so it is
// never taken from a response (upload_url), only from configuration.
func (c *Client) uploadBase() (*url.URL, error) {
	if c.upload != nil {
		return c.upload, nil
	}
	b := *c.base
	switch {
	case strings.EqualFold(b.Host, "api.github.com"):
		b.Host = "uploads.github.com"
		b.Path = "/"
	case strings.HasSuffix(b.Path, "/api/v3/"):
		b.Path = strings.TrimSuffix(b.Path, "v3/") + "uploads/"
	default:
		return nil, fault.Configf("github uploads url: cannot derive it from %s; configure it", c.base.Redacted())
	}
	b.RawPath = ""
	return &b, nil
}

type wireRelease struct {
	ID        *int64  `json:"id"`
	TagName   *string `json:"tag_name"`
	Draft     *bool   `json:"draft"`
	Immutable *bool   `json:"immutable"`
}

func (w wireRelease) release() (*Release, error) {
	if w.ID == nil || *w.ID <= 0 || w.TagName == nil || w.Draft == nil {
		return nil, errors.New("decode release: expected id, tag_name and draft")
	}
	r := &Release{ID: *w.ID, Tag: *w.TagName, Draft: *w.Draft}
	if w.Immutable != nil {
		r.Immutable = *w.Immutable
	}
	return r, nil
}

// ReleaseByTag finds the release of tag, drafts included: GitHub's
// get-by-tag answers 404 for a draft, so a miss is followed by a search of
// the release list (which shows drafts to a token that may push).
func (c *Client) ReleaseByTag(ctx context.Context, owner, repo, tag string) (*Release, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	t, err := segment("tag", tag)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("release %q of %s/%s", tag, owner, repo), permission: "contents: read"}
	body, _, err := c.get(ctx, o, p+"/releases/tags/"+t)
	var nf *NotFoundError
	switch {
	case err == nil:
		var w wireRelease
		if err := decodeStrict(body, &w); err != nil {
			return nil, fault.Operationalf("get %s: decode: %w", o.resource, err)
		}
		r, err := w.release()
		if err != nil {
			return nil, fault.Operationalf("get %s: %w", o.resource, err)
		}
		return r, nil
	case !errors.As(err, &nf):
		return nil, err
	}
	ref := p + "/releases?per_page=100"
	lo := op{resource: fmt.Sprintf("releases of %s/%s", owner, repo), permission: "contents: read"}
	for page := 1; page <= maxPages; page++ {
		body, hdr, err := c.get(ctx, lo, ref)
		if err != nil {
			return nil, err
		}
		var ws []wireRelease
		if err := decodeArray(body, &ws); err != nil {
			return nil, fault.Operationalf("get %s: page %d: %w", lo.resource, page, err)
		}
		for _, w := range ws {
			r, err := w.release()
			if err != nil {
				return nil, fault.Operationalf("get %s: page %d: %w", lo.resource, page, err)
			}
			if r.Tag == tag {
				return r, nil
			}
		}
		next, err := c.nextLink(hdr)
		if err != nil {
			return nil, fault.Operationalf("get %s: %w", lo.resource, err)
		}
		if next == "" {
			return nil, &NotFoundError{Resource: o.resource}
		}
		ref = next
	}
	return nil, fault.Operationalf("get %s: more than %d pages", lo.resource, maxPages)
}

func decodeArray(body []byte, v any) error {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return errors.New("expected a JSON array")
	}
	return decodeStrict(body, v)
}

type wireAsset struct {
	ID     *int64  `json:"id"`
	Name   *string `json:"name"`
	Size   *int64  `json:"size"`
	Digest *string `json:"digest"`
}

func (w wireAsset) asset() (Asset, error) {
	if w.ID == nil || *w.ID <= 0 || w.Name == nil || *w.Name == "" {
		return Asset{}, errors.New("decode asset: expected id and name")
	}
	a := Asset{ID: *w.ID, Name: *w.Name}
	if w.Size != nil {
		a.Size = *w.Size
	}
	if w.Digest != nil {
		a.Digest = *w.Digest
	}
	return a, nil
}

// ReleaseAssets lists every asset of a release.
func (c *Client) ReleaseAssets(ctx context.Context, owner, repo string, releaseID int64) ([]Asset, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("assets of release %d of %s/%s", releaseID, owner, repo), permission: "contents: read"}
	ref := p + "/releases/" + strconv.FormatInt(releaseID, 10) + "/assets?per_page=100"
	out := []Asset{}
	err = c.eachPage(ctx, o, ref, func(_ int, body []byte) (bool, error) {
		var ws []wireAsset
		if err := decodeArray(body, &ws); err != nil {
			return false, err
		}
		for _, w := range ws {
			a, err := w.asset()
			if err != nil {
				return false, err
			}
			out = append(out, a)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UploadReleaseAsset uploads data as asset name. A name already taken is an
// *AlreadyExistsError: the caller decides whether the asset is its own.
func (c *Client) UploadReleaseAsset(ctx context.Context, owner, repo string, releaseID int64, name, contentType string, data []byte) (*Asset, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, "/\\") {
		return nil, fault.Usagef("release asset name: expected a file name, got %q", name)
	}
	base, err := c.uploadBase()
	if err != nil {
		return nil, err
	}
	target := base.JoinPath(p, "releases", strconv.FormatInt(releaseID, 10), "assets")
	target.RawQuery = url.Values{"name": {name}}.Encode()
	// Not retried after no answer or a 5xx: an upload that reached GitHub
	// holds the name (perhaps half-written); the caller's next run sees
	// *AlreadyExistsError and judges the asset there, not a blind resend.
	o := op{resource: fmt.Sprintf("asset %q to release %d of %s/%s", name, releaseID, owner, repo), permission: "contents: write", method: http.MethodPost}
	body, err := c.send(ctx, o, func() (*http.Request, error) {
		req, err := c.gh.NewUploadRequest(target.String(), bytes.NewReader(data), int64(len(data)), contentType)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/vnd.github+json")
		return req, nil
	}, func(status int, body []byte) error {
		if status == http.StatusUnprocessableEntity && bytes.Contains(body, []byte("already_exists")) {
			return &AlreadyExistsError{Name: name}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var w wireAsset
	if err := decodeStrict(body, &w); err != nil {
		return nil, fault.Operationalf("post %s: decode: %w", o.resource, err)
	}
	a, err := w.asset()
	if err != nil {
		return nil, fault.Operationalf("post %s: %w", o.resource, err)
	}
	return &a, nil
}

// DeleteReleaseAsset deletes an asset; one already gone is not an error.
func (c *Client) DeleteReleaseAsset(ctx context.Context, owner, repo string, assetID int64) error {
	p, err := repoPath(owner, repo)
	if err != nil {
		return err
	}
	o := op{resource: fmt.Sprintf("release asset %d of %s/%s", assetID, owner, repo), permission: "contents: write", method: http.MethodDelete}
	_, err = c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodDelete, p+"/releases/assets/"+strconv.FormatInt(assetID, 10), nil)
	}, nil)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// CreateAttestation stores a Sigstore bundle in the repository's
// attestation store and returns its id.
func (c *Client) CreateAttestation(ctx context.Context, owner, repo string, bundle []byte) (int64, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return 0, err
	}
	if !json.Valid(bundle) {
		return 0, fault.Usagef("attestation: the bundle is not JSON")
	}
	// Not retried after no answer or a 5xx: each POST stores another record.
	o := op{resource: fmt.Sprintf("attestation of %s/%s", owner, repo), permission: "attestations: write", method: http.MethodPost}
	body, err := c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodPost, p+"/attestations", map[string]json.RawMessage{"bundle": bundle})
	}, nil)
	if err != nil {
		return 0, err
	}
	var w struct {
		ID *int64 `json:"id"`
	}
	if err := decodeStrict(body, &w); err != nil {
		return 0, fault.Operationalf("post %s: decode: %w", o.resource, err)
	}
	if w.ID == nil || *w.ID <= 0 {
		return 0, fault.Operationalf("post %s: expected an id in the response", o.resource)
	}
	return *w.ID, nil
}

// send makes a request of any method with the same bounded retries, caps
// and error classification as get; a POST or PATCH is retried after no
// answer or a 5xx only when o.retryPOST says why that is safe. special may
// turn a non-2xx answer into a typed error before the generic
// classification.
func (c *Client) send(ctx context.Context, o op, build func() (*http.Request, error), special func(status int, body []byte) error) (body []byte, err error) {
	err = c.retry().Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		body, wait, err = c.sendOnce(ctx, o, build, special)
		return wait, err
	})
	if err != nil {
		return nil, gaveUp(err)
	}
	return body, nil
}

func (c *Client) sendOnce(ctx context.Context, o op, build func() (*http.Request, error), special func(int, []byte) error) ([]byte, httpx.Wait, error) {
	req, err := build()
	if err != nil {
		return nil, httpx.Final, fault.Operationalf("%s %s: build request: %w", o.verb(), o.resource, httpx.StripURL(err))
	}
	req = req.WithContext(ctx)
	c.authorize(req)
	client := c.hc
	if o.download {
		client = c.downloadClient()
	}
	resp, err := httpx.Do(client, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, httpx.Final, fault.Operationalf("%s %s: %w", o.verb(), o.resource, ctx.Err())
		}
		return nil, httpx.ForError(ctx, o.idempotent(), err), fault.Operationalf("%s %s: %w", o.verb(), o.resource, err)
	}
	defer resp.Body.Close()
	limit := c.maxBody
	if o.maxBody > 0 {
		limit = o.maxBody
	}
	body, err := httpx.ReadBody(resp.Body, limit)
	if err != nil {
		if ctx.Err() != nil {
			return nil, httpx.Final, fault.Operationalf("%s %s: read response: %w", o.verb(), o.resource, ctx.Err())
		}
		return nil, httpx.ForError(ctx, o.idempotent(), err), fault.Operationalf("%s %s: HTTP %d: read response: %w", o.verb(), o.resource, resp.StatusCode, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, httpx.Final, nil
	}
	if special != nil {
		if err := special(resp.StatusCode, body); err != nil {
			return nil, httpx.Final, err
		}
	}
	wait, err := c.classify(resp, body, o)
	return nil, wait, err
}
