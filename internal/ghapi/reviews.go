package ghapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/airlock-dev/airlock/internal/fault"
)

// WorkflowRun is what airlock needs to know about a workflow run: who started
// it and when it was created. GitHub's approvals log carries no times, so the
// run's creation is the earliest moment any of its approvals can have
// happened.
type WorkflowRun struct {
	ID           int64
	RunAttempt   int
	Event        string
	HeadSHA      string
	RepositoryID int64
	// Actor started the run; TriggeringActor started this attempt (they
	// differ on a re-run). A zero User means GitHub did not say.
	Actor           User
	TriggeringActor User
	CreatedAt       time.Time
	// RunStartedAt is when this attempt started; zero when not sent.
	RunStartedAt time.Time
}

// WorkflowRun fetches GET /repos/{owner}/{repo}/actions/runs/{run_id}.
func (c *Client) WorkflowRun(ctx context.Context, owner, repo string, runID int64) (*WorkflowRun, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if runID <= 0 {
		return nil, fault.Usagef("run id: expected > 0, got %d", runID)
	}
	o := op{resource: fmt.Sprintf("run %d of %s/%s", runID, owner, repo), permission: "actions: read"}
	body, _, err := c.get(ctx, o, p+"/actions/runs/"+strconv.FormatInt(runID, 10))
	if err != nil {
		return nil, err
	}
	out, err := decodeWorkflowRun(body)
	if err != nil {
		return nil, fault.Operationalf("get %s: %w", o.resource, err)
	}
	if out.ID != runID {
		return nil, fault.Operationalf("get %s: expected run id %d, got %d", o.resource, runID, out.ID)
	}
	return out, nil
}

func decodeWorkflowRun(body []byte) (*WorkflowRun, error) {
	var w github.WorkflowRun
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decode workflow run: %w", err)
	}
	if w.ID == nil || *w.ID <= 0 || w.CreatedAt == nil || w.CreatedAt.IsZero() {
		return nil, errors.New("decode workflow run: expected id and created_at")
	}
	out := &WorkflowRun{
		ID: w.GetID(), RunAttempt: w.GetRunAttempt(), Event: w.GetEvent(), HeadSHA: w.GetHeadSHA(),
		RepositoryID: w.GetRepository().GetID(), CreatedAt: w.GetCreatedAt().UTC(),
	}
	if w.RunStartedAt != nil {
		out.RunStartedAt = w.RunStartedAt.UTC()
	}
	var err error
	if out.Actor, err = optionalUser("actor", w.Actor); err != nil {
		return nil, err
	}
	if out.TriggeringActor, err = optionalUser("triggering_actor", w.TriggeringActor); err != nil {
		return nil, err
	}
	return out, nil
}

// optionalUser accepts an absent user (zero: unknown) but not a half one.
func optionalUser(field string, u *github.User) (User, error) {
	if u == nil {
		return User{}, nil
	}
	if u.GetLogin() == "" || u.GetID() <= 0 {
		return User{}, fmt.Errorf("decode workflow run: %s: expected login and id", field)
	}
	return User{Login: u.GetLogin(), ID: u.GetID()}, nil
}

// TeamMembership is a user's membership in an organization team.
type TeamMembership struct {
	State string // "active" or "pending"
	Role  string // "member" or "maintainer"
}

// TeamMembershipPermission is what a token needs to read team memberships.
// The job's GITHUB_TOKEN cannot be granted it.
const TeamMembershipPermission = "members: read (organization permission; a classic token needs read:org)"

// TeamMembership fetches GET /orgs/{org}/teams/{team_slug}/memberships/{username}.
// GitHub answers 404 (a *NotFoundError) both when the user is not a member
// and when the token cannot see the team; a 403 is a *ForbiddenError.
func (c *Client) TeamMembership(ctx context.Context, org, team, user string) (*TeamMembership, error) {
	o, err := segment("organization", org)
	if err != nil {
		return nil, err
	}
	t, err := segment("team", team)
	if err != nil {
		return nil, err
	}
	u, err := segment("user", user)
	if err != nil {
		return nil, err
	}
	call := op{resource: fmt.Sprintf("membership of %s in team %s/%s", user, org, team), permission: TeamMembershipPermission}
	body, _, err := c.get(ctx, call, "orgs/"+o+"/teams/"+t+"/memberships/"+u)
	if err != nil {
		return nil, err
	}
	var w github.Membership
	if err := decodeStrict(body, &w); err != nil {
		return nil, fault.Operationalf("get %s: decode team membership: %w", call.resource, err)
	}
	if w.GetState() == "" {
		return nil, fault.Operationalf("get %s: decode team membership: expected state", call.resource)
	}
	return &TeamMembership{State: w.GetState(), Role: w.GetRole()}, nil
}

// PullRequest is what airlock needs to know about a pull request.
type PullRequest struct {
	Number         int
	State          string // "open" or "closed"
	Author         User
	HeadSHA        string
	HeadRef        string
	BaseRef        string
	MergeCommitSHA string // "" when GitHub has not computed one
	// BaseSHA is the base branch's commit GitHub last compared against.
	BaseSHA string
	// ChangedFiles is how many files the pull request changes; -1 when
	// GitHub did not say.
	ChangedFiles int
}

// PullRequest fetches GET /repos/{owner}/{repo}/pulls/{pull_number}.
func (c *Client) PullRequest(ctx context.Context, owner, repo string, number int) (*PullRequest, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if number <= 0 {
		return nil, fault.Usagef("pull request number: expected > 0, got %d", number)
	}
	o := op{resource: fmt.Sprintf("pull request #%d of %s/%s", number, owner, repo), permission: "pull-requests: read"}
	body, _, err := c.get(ctx, o, p+"/pulls/"+strconv.Itoa(number))
	if err != nil {
		return nil, err
	}
	var w github.PullRequest
	if err := decodeStrict(body, &w); err != nil {
		return nil, fault.Operationalf("get %s: decode pull request: %w", o.resource, err)
	}
	if w.GetNumber() != number || w.GetHead().GetSHA() == "" || w.GetBase().GetRef() == "" || w.GetUser().GetLogin() == "" || w.GetUser().GetID() <= 0 {
		return nil, fault.Operationalf("get %s: decode pull request: expected number %d, head.sha, base.ref, user.login and user.id", o.resource, number)
	}
	changed := -1
	if w.ChangedFiles != nil {
		changed = *w.ChangedFiles
	}
	return &PullRequest{
		Number: w.GetNumber(), State: w.GetState(), Author: User{Login: w.GetUser().GetLogin(), ID: w.GetUser().GetID()},
		HeadSHA: w.GetHead().GetSHA(), HeadRef: w.GetHead().GetRef(), BaseRef: w.GetBase().GetRef(), MergeCommitSHA: w.GetMergeCommitSHA(),
		BaseSHA: w.GetBase().GetSHA(), ChangedFiles: changed,
	}, nil
}

// Review is one pull request review.
type Review struct {
	ID int64
	// User is zero for a deleted account ("ghost"): such a review cannot
	// count for anyone.
	User     User
	State    string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
	Body     string
	CommitID string
	// SubmittedAt is zero for a pending review.
	SubmittedAt time.Time
}

// PullRequestReviews fetches GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews
// (oldest first), following Link pagination.
func (c *Client) PullRequestReviews(ctx context.Context, owner, repo string, number int) ([]Review, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if number <= 0 {
		return nil, fault.Usagef("pull request number: expected > 0, got %d", number)
	}
	o := op{resource: fmt.Sprintf("reviews of pull request #%d of %s/%s", number, owner, repo), permission: "pull-requests: read"}
	out := []Review{}
	err = c.pages(ctx, o, p+"/pulls/"+strconv.Itoa(number)+"/reviews?per_page=100", func(body []byte) error {
		items, err := decodeReviews(body)
		out = append(out, items...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeReviews(body []byte) ([]Review, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("decode reviews: expected a JSON array")
	}
	var ws []*github.PullRequestReview
	if err := decodeStrict(body, &ws); err != nil {
		return nil, fmt.Errorf("decode reviews: %w", err)
	}
	out := make([]Review, 0, len(ws))
	for i, w := range ws {
		if w == nil || w.GetID() <= 0 || w.GetState() == "" {
			return nil, fmt.Errorf("decode reviews: entry %d: expected id and state", i)
		}
		r := Review{ID: w.GetID(), State: w.GetState(), Body: w.GetBody(), CommitID: w.GetCommitID()}
		if u := w.User; u != nil {
			if u.GetLogin() == "" || u.GetID() <= 0 {
				return nil, fmt.Errorf("decode reviews: entry %d: user without login or id", i)
			}
			r.User = User{Login: u.GetLogin(), ID: u.GetID()}
		}
		if w.SubmittedAt != nil {
			r.SubmittedAt = w.SubmittedAt.UTC()
		}
		out = append(out, r)
	}
	return out, nil
}

// pages GETs ref and every rel="next" page after it, handing each body to
// page, up to maxPages.
func (c *Client) pages(ctx context.Context, o op, ref string, page func([]byte) error) error {
	for n := 1; ; n++ {
		if n > maxPages {
			return fault.Operationalf("get %s: more than %d pages", o.resource, maxPages)
		}
		body, hdr, err := c.get(ctx, o, ref)
		if err != nil {
			return err
		}
		if err := page(body); err != nil {
			return fault.Operationalf("get %s: page %d: %w", o.resource, n, err)
		}
		next, err := c.nextLink(hdr)
		if err != nil {
			return fault.Operationalf("get %s: page %d: %w", o.resource, n, err)
		}
		if next == "" {
			return nil
		}
		ref = next
	}
}
