// Package approvals collects the evidence for C4 ("a named human approved
// this promotion"): the target environment's protection settings, who
// approved — the run's deployment review log, or in promotion-PR mode the
// pull request's reviews — and the team memberships that make an approver
// one of the people the workflow named.
//
// Trust boundary: the repository, run id, actor and ref come only from the
// verified OIDC token; everything else is read from GitHub's API with the
// configured token and recorded as found. The collector records facts and
// never decides. What the API will not tell — a setting it omits, a team the
// token cannot read, the time of a run approval — is recorded as unknown
// (null or "unknown"), never as a default that reads as safe. Comments are
// recorded verbatim: renderers escape them.
package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
)

// Status values of Report.
const (
	StatusOK                 = "ok"
	StatusEnvironmentMissing = "environment-missing"
	StatusNoPullRequest      = "pull-request-missing"
)

// Team membership states recorded in Report.TeamMembership.
const (
	MemberActive  = "active"
	MemberPending = "pending"
	// MemberNone: GitHub answered 404, which it does both for a user who is
	// not a member and for a team the token cannot see.
	MemberNone = "not-member"
	// MemberUnknown: the token may not read the team (403).
	MemberUnknown = "unknown"
)

// Age sources of Report.AgeSource.
const (
	// AgeFromRunCreation: GitHub's approvals log carries no times, so the age
	// recorded is an upper bound: an approval of a run cannot be older than
	// the run.
	AgeFromRunCreation = "run.created_at"
	AgeFromReviews     = "review.submitted_at"
	AgeUnknown         = "unknown"
)

// Report is the evidence section "approvals".
type Report struct {
	Status string `json:"status"`
	Source string `json:"source"`
	// Environment is nil when Status is StatusEnvironmentMissing.
	Environment *Environment `json:"environment"`
	Run         *Run         `json:"run"`
	// PullRequest is set in promotion-PR mode.
	PullRequest *PullRequest `json:"pull_request,omitempty"`
	// Approvals are the run's review log entries (all environments), or in
	// PR mode each reviewer's latest deciding review.
	Approvals []Approval `json:"approvals"`
	// Approvers are the distinct logins whose approval counts: approved, for
	// this environment (PR mode: on the current head), not the run's actor,
	// triggering actor or PR author, named in the approvers input directly or
	// through an active team membership, and (PR mode) not older than the
	// requested maximum age. Other policies count this list.
	Approvers []string `json:"approvers"`
	// TeamMembership is "org/team" → login → MemberActive, MemberPending,
	// MemberNone or MemberUnknown, for each approver whose standing depends
	// on a named team. Keys are lower case.
	TeamMembership map[string]map[string]string `json:"team_membership"`
	// Quorum has one entry per requested group, in order.
	Quorum []GroupResult `json:"quorum"`
	// AgeSeconds bounds the age of the oldest approval that counts from
	// above; nil when unknown.
	AgeSeconds *int64    `json:"age_seconds"`
	AgeSource  string    `json:"age_source"`
	Requested  Requested `json:"requested"`
}

// Requested echoes what the workflow asked for.
type Requested struct {
	Environment   string  `json:"environment"`
	Approvers     []Group `json:"approvers"`
	MinApprovals  int     `json:"min_approvals"`
	MaxAgeSeconds int64   `json:"max_age_seconds"`
}

// GroupResult is what was found for one requested group.
type GroupResult struct {
	// Eligible are the approvers (from Approvers) who are members of the
	// group, directly or through an active team membership.
	Eligible []string `json:"eligible"`
	// Assigned is a choice of distinct people across all groups, as many as
	// each group's minimum where possible: a proof of the quorum that policy
	// checks, not a verdict.
	Assigned []string `json:"assigned"`
}

// Environment is what GitHub says about the target environment's protection.
type Environment struct {
	Name              string     `json:"name"`
	ID                int64      `json:"id"`
	RequiredReviewers []Reviewer `json:"required_reviewers"`
	// PreventSelfReview and CanAdminsBypass are nil when GitHub did not say.
	PreventSelfReview *bool `json:"prevent_self_review"`
	CanAdminsBypass   *bool `json:"can_admins_bypass"`
	// WaitTimer is in minutes; 0 when there is no wait timer.
	WaitTimer int `json:"wait_timer"`
	// BranchPolicy is nil when every branch may deploy.
	BranchPolicy *BranchPolicy `json:"branch_policy"`
	CustomRules  []CustomRule  `json:"custom_rules"`
	// RuleTypes lists every protection rule type, including unknown ones.
	RuleTypes []string `json:"rule_types"`
}

// Reviewer is a required reviewer of the environment.
type Reviewer struct {
	Type  string `json:"type"`
	ID    int64  `json:"id"`
	Login string `json:"login,omitempty"`
	// Slug is "org/team" for teams (teams belong to the repository's owner).
	Slug string `json:"slug,omitempty"`
}

// BranchPolicy is the environment's deployment branch policy.
type BranchPolicy struct {
	ProtectedBranches    bool `json:"protected_branches"`
	CustomBranchPolicies bool `json:"custom_branch_policies"`
}

// CustomRule is a custom deployment protection rule (a GitHub App).
type CustomRule struct {
	ID      int64  `json:"id"`
	AppSlug string `json:"app_slug"`
	AppID   int64  `json:"app_id"`
	Enabled bool   `json:"enabled"`
}

// Person is a GitHub account; a zero Person is unknown.
type Person struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
}

// Run is the workflow run named by the verified token.
type Run struct {
	ID              int64     `json:"id"`
	Attempt         int       `json:"attempt"`
	Actor           Person    `json:"actor"`
	TriggeringActor Person    `json:"triggering_actor"`
	CreatedAt       time.Time `json:"created_at"`
}

// PullRequest is the promotion pull request (PR mode).
type PullRequest struct {
	Number         int    `json:"number"`
	State          string `json:"state"`
	Author         Person `json:"author"`
	HeadSHA        string `json:"head_sha"`
	MergeCommitSHA string `json:"merge_commit_sha"`
	BaseRef        string `json:"base_ref"`
}

// Approval is one approval or rejection.
type Approval struct {
	Login  string `json:"login"`
	UserID int64  `json:"user_id"`
	// State: "approved" or "rejected" (run); "approved",
	// "changes_requested" or "dismissed" (PR reviews, lower-cased).
	State   string `json:"state"`
	Comment string `json:"comment"`
	// Environments the approval applies to (run mode; empty in PR mode).
	Environments []string `json:"environments"`
	// Time is nil when GitHub does not say (run approvals never carry one).
	Time *time.Time `json:"time"`
	// CommitID is the reviewed commit (PR mode).
	CommitID string `json:"commit_id,omitempty"`
}

// Collector reads approval evidence from GitHub.
type Collector struct {
	GH  *ghapi.Client
	Now func() time.Time
	// PullRequest is the pull request the caller already read (the check
	// reads it to find the promotion files); nil: Collect reads it.
	PullRequest *ghapi.PullRequest
}

// PullRequestRef reads a pull request ref, refs/pull/N/merge or
// refs/pull/N/head: its number and which of the two (ok false otherwise).
func PullRequestRef(ref string) (number int, kind string, ok bool) {
	rest, found := strings.CutPrefix(ref, "refs/pull/")
	if !found {
		return 0, "", false
	}
	n, kind, found := strings.Cut(rest, "/")
	if !found || (kind != "merge" && kind != "head") || n == "" || strings.TrimLeft(n, "0123456789") != "" {
		return 0, "", false
	}
	number, err := strconv.Atoi(n)
	if err != nil || number <= 0 {
		return 0, "", false
	}
	return number, kind, true
}

// membershipConcurrency bounds the team-membership calls in flight.
const membershipConcurrency = 4

// Collect gathers the evidence for the run the verified claims describe.
// An error means airlock cannot decide (exit 3 or 2); everything GitHub
// answered, including "no such environment", is a fact in the report.
func (c *Collector) Collect(ctx context.Context, claims *identity.Claims, req Request) (*Report, error) {
	if c.GH == nil || c.Now == nil {
		return nil, fault.Configf("approvals: GitHub client and clock are required")
	}
	if err := req.Validate(); err != nil {
		return nil, fault.Config(err)
	}
	if claims == nil {
		return nil, fault.Configf("approvals: no verified claims")
	}
	owner, repo, ok := strings.Cut(claims.Repository, "/")
	if !ok || owner == "" || repo == "" {
		return nil, fault.Operationalf("approvals: verified repository claim %q is not owner/name", claims.Repository)
	}
	runID, err := strconv.ParseInt(claims.RunID, 10, 64)
	if err != nil || runID <= 0 {
		return nil, fault.Operationalf("approvals: verified run_id claim %q is not a run id", claims.RunID)
	}

	rep := &Report{
		Status: StatusOK, Source: req.Source, Approvals: []Approval{}, Approvers: []string{},
		TeamMembership: map[string]map[string]string{}, Quorum: []GroupResult{}, AgeSource: AgeUnknown,
		Requested: Requested{
			Environment: req.Environment, Approvers: slices.Clone(req.Groups), MinApprovals: req.MinApprovals,
			MaxAgeSeconds: int64(req.MaxAge / time.Second),
		},
	}
	if rep.Requested.Approvers == nil {
		rep.Requested.Approvers = []Group{}
	}

	var (
		env     *ghapi.Environment
		custom  []ghapi.CustomProtectionRule
		run     *ghapi.WorkflowRun
		log     []ghapi.Approval
		pr      *ghapi.PullRequest
		reviews []ghapi.Review
	)
	calls := []func(context.Context) error{
		func(ctx context.Context) error {
			var err error
			env, err = c.GH.Environment(ctx, owner, repo, req.Environment)
			if ghapi.IsNotFound(err) {
				return nil // recorded as environment-missing
			}
			return err
		},
		func(ctx context.Context) error {
			var err error
			custom, err = c.GH.CustomProtectionRules(ctx, owner, repo, req.Environment)
			if ghapi.IsNotFound(err) {
				return nil // the environment is missing; checked below
			}
			return err
		},
		func(ctx context.Context) error {
			var err error
			run, err = c.GH.WorkflowRun(ctx, owner, repo, runID)
			return notVisible(err, "actions: read")
		},
	}
	prNumber := 0
	if req.Source == SourceRun {
		calls = append(calls, func(ctx context.Context) error {
			var err error
			log, err = c.GH.RunApprovals(ctx, owner, repo, runID)
			return notVisible(err, "actions: read")
		})
	} else if n, _, ok := PullRequestRef(claims.Ref); ok {
		prNumber = n
		pr = c.PullRequest
		if pr != nil && pr.Number != prNumber {
			return nil, fault.Configf("approvals: the pull request given (#%d) is not the one the verified ref %q names", pr.Number, claims.Ref)
		}
		if pr == nil {
			calls = append(calls, func(ctx context.Context) error {
				var err error
				pr, err = c.GH.PullRequest(ctx, owner, repo, prNumber)
				return notVisible(err, "pull-requests: read")
			})
		}
		calls = append(calls,
			func(ctx context.Context) error {
				var err error
				reviews, err = c.GH.PullRequestReviews(ctx, owner, repo, prNumber)
				return notVisible(err, "pull-requests: read")
			})
	}
	if err := parallel(ctx, len(calls), calls); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	now := c.Now().UTC()

	if env == nil {
		rep.Status = StatusEnvironmentMissing
	} else {
		if custom == nil {
			return nil, fault.Operationalf("approvals: environment %q exists but its custom protection rules were not found", req.Environment)
		}
		rep.Environment = environmentFacts(env, custom, owner)
	}
	rep.Run = &Run{
		ID: run.ID, Attempt: run.RunAttempt, CreatedAt: run.CreatedAt,
		Actor:           Person{Login: run.Actor.Login, ID: run.Actor.ID},
		TriggeringActor: Person{Login: run.TriggeringActor.Login, ID: run.TriggeringActor.ID},
	}
	selves := []Person{rep.Run.Actor, rep.Run.TriggeringActor, claimsActor(claims)}

	// candidates are the approvals that count if their author is named.
	var candidates []Approval
	switch {
	case req.Source == SourceRun:
		for _, a := range log {
			ap := Approval{Login: a.User.Login, UserID: a.User.ID, State: a.State, Comment: a.Comment, Environments: []string{}}
			for _, e := range a.Environments {
				ap.Environments = append(ap.Environments, e.Name)
			}
			rep.Approvals = append(rep.Approvals, ap)
			if ap.State == "approved" && containsFold(ap.Environments, req.Environment) && !isAny(ap.Login, ap.UserID, selves) {
				candidates = append(candidates, ap)
			}
		}
		rep.AgeSource = AgeFromRunCreation
		age := ceilSeconds(now.Sub(run.CreatedAt))
		rep.AgeSeconds = &age
	case pr == nil:
		rep.Status = StatusNoPullRequest
	default:
		rep.PullRequest = &PullRequest{
			Number: pr.Number, State: pr.State, Author: Person{Login: pr.Author.Login, ID: pr.Author.ID},
			HeadSHA: pr.HeadSHA, MergeCommitSHA: pr.MergeCommitSHA, BaseRef: pr.BaseRef,
		}
		selves = append(selves, rep.PullRequest.Author)
		rep.Approvals = latestReviews(reviews)
		for _, ap := range rep.Approvals {
			if ap.State == "approved" && ap.CommitID == pr.HeadSHA && ap.Time != nil && now.Sub(*ap.Time) <= req.MaxAge &&
				!isAny(ap.Login, ap.UserID, selves) {
				candidates = append(candidates, ap)
			}
		}
	}

	if err := c.memberships(ctx, rep, candidates, req.Groups); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	eligible := make([][]string, len(req.Groups))
	counted := map[string]bool{}
	var oldest *time.Time
	for _, a := range candidates {
		named := false
		for i, g := range req.Groups {
			if rep.inGroup(a.Login, g) && !slices.Contains(eligible[i], a.Login) {
				eligible[i] = append(eligible[i], a.Login)
				named = true
			}
		}
		if named && !counted[strings.ToLower(a.Login)] {
			counted[strings.ToLower(a.Login)] = true
			rep.Approvers = append(rep.Approvers, a.Login)
			if a.Time != nil && (oldest == nil || a.Time.Before(*oldest)) {
				oldest = a.Time
			}
		}
	}
	if req.Source == SourcePullRequest && oldest != nil {
		age := ceilSeconds(now.Sub(*oldest))
		rep.AgeSeconds, rep.AgeSource = &age, AgeFromReviews
	}
	mins := make([]int, len(req.Groups))
	for i, g := range req.Groups {
		mins[i] = g.Min
	}
	for i, assigned := range assign(mins, eligible) {
		rep.Quorum = append(rep.Quorum, GroupResult{Eligible: orEmpty(eligible[i]), Assigned: orEmpty(assigned)})
	}
	return rep, nil
}

// memberships asks GitHub, for each candidate and each named team in a group
// that does not name the candidate directly, whether they are a member.
func (c *Collector) memberships(ctx context.Context, rep *Report, candidates []Approval, groups []Group) error {
	type query struct{ team, login string }
	var queries []query
	seen := map[query]bool{}
	for _, a := range candidates {
		for _, g := range groups {
			if namesDirectly(g, a.Login) {
				continue
			}
			for _, m := range g.Members {
				q := query{strings.ToLower(m), a.Login}
				if IsTeam(m) && !seen[q] {
					seen[q] = true
					queries = append(queries, q)
				}
			}
		}
	}
	states := make([]string, len(queries))
	calls := make([]func(context.Context) error, len(queries))
	for i, q := range queries {
		calls[i] = func(ctx context.Context) error {
			org, team, _ := strings.Cut(q.team, "/")
			m, err := c.GH.TeamMembership(ctx, org, team, q.login)
			var fe *ghapi.ForbiddenError
			switch {
			case err == nil && m.State == "active":
				states[i] = MemberActive
			case err == nil && m.State == "pending":
				states[i] = MemberPending
			case err == nil:
				return fault.Operationalf("membership of %s in %s: unexpected state %q", q.login, q.team, m.State)
			case ghapi.IsNotFound(err):
				states[i] = MemberNone
			case errors.As(err, &fe):
				states[i] = MemberUnknown
			default:
				return err
			}
			return nil
		}
	}
	if err := parallel(ctx, membershipConcurrency, calls); err != nil {
		return err
	}
	for i, q := range queries {
		if rep.TeamMembership[q.team] == nil {
			rep.TeamMembership[q.team] = map[string]string{}
		}
		rep.TeamMembership[q.team][q.login] = states[i]
	}
	return nil
}

func (rep *Report) inGroup(login string, g Group) bool {
	if namesDirectly(g, login) {
		return true
	}
	for _, m := range g.Members {
		if IsTeam(m) && rep.TeamMembership[strings.ToLower(m)][login] == MemberActive {
			return true
		}
	}
	return false
}

func namesDirectly(g Group, login string) bool {
	for _, m := range g.Members {
		if !IsTeam(m) && strings.EqualFold(m, login) {
			return true
		}
	}
	return false
}

func environmentFacts(env *ghapi.Environment, custom []ghapi.CustomProtectionRule, owner string) *Environment {
	out := &Environment{
		Name: env.Name, ID: env.ID, CanAdminsBypass: env.CanAdminsBypass,
		RequiredReviewers: []Reviewer{}, CustomRules: []CustomRule{}, RuleTypes: []string{},
	}
	for _, r := range env.Rules {
		out.RuleTypes = append(out.RuleTypes, r.Type)
		switch r.Type {
		case ghapi.RuleWaitTimer:
			out.WaitTimer = r.WaitTimer
		case ghapi.RuleRequiredReviewers:
			out.PreventSelfReview = r.PreventSelfReview
			for _, rv := range r.Reviewers {
				x := Reviewer{Type: rv.Type, ID: rv.ID, Login: rv.Login}
				if rv.Type == "Team" {
					x.Slug = owner + "/" + rv.Slug
				}
				out.RequiredReviewers = append(out.RequiredReviewers, x)
			}
		}
	}
	if bp := env.BranchPolicy; bp != nil {
		out.BranchPolicy = &BranchPolicy{ProtectedBranches: bp.ProtectedBranches, CustomBranchPolicies: bp.CustomBranchPolicies}
	}
	for _, r := range custom {
		out.CustomRules = append(out.CustomRules, CustomRule{ID: r.ID, AppSlug: r.AppSlug, AppID: r.AppID, Enabled: r.Enabled})
	}
	return out
}

// latestReviews keeps each reviewer's latest deciding review, as GitHub does
// for a pull request's review state: comments and pending reviews do not
// change it; a dismissal does. Reviews by deleted accounts are dropped.
func latestReviews(reviews []ghapi.Review) []Approval {
	var order []string
	latest := map[string]Approval{}
	for _, r := range reviews {
		state := strings.ToLower(r.State)
		if r.User.Login == "" || (state != "approved" && state != "changes_requested" && state != "dismissed") {
			continue
		}
		key := strings.ToLower(r.User.Login)
		if _, ok := latest[key]; !ok {
			order = append(order, key)
		}
		a := Approval{Login: r.User.Login, UserID: r.User.ID, State: state, Comment: r.Body, Environments: []string{}, CommitID: r.CommitID}
		if !r.SubmittedAt.IsZero() {
			t := r.SubmittedAt
			a.Time = &t
		}
		latest[key] = a
	}
	out := make([]Approval, 0, len(order))
	for _, k := range order {
		out = append(out, latest[k])
	}
	return out
}

func claimsActor(c *identity.Claims) Person {
	id, _ := strconv.ParseInt(c.ActorID, 10, 64)
	return Person{Login: c.Actor, ID: id}
}

// isAny matches by id when both are known, and by login (GitHub logins are
// case-insensitive) — either match makes the approver that person.
func isAny(login string, id int64, people []Person) bool {
	for _, p := range people {
		if (p.ID > 0 && p.ID == id) || (p.Login != "" && strings.EqualFold(p.Login, login)) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// notVisible explains a 404 for something the verified token says exists:
// the token cannot see it.
func notVisible(err error, permission string) error {
	if ghapi.IsNotFound(err) {
		return fault.Operationalf("%w: it exists according to the verified token, so the github-token cannot read it (needs %s)", err, permission)
	}
	return err
}

// parallel runs calls with at most limit in flight and returns the first
// error; the first error cancels the calls still running.
func parallel(ctx context.Context, limit int, calls []func(context.Context) error) error {
	if len(calls) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(limit, 1))
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				once.Do(func() { first = fault.Operationalf("%w", ctx.Err()) })
				return
			}
			defer func() { <-sem }()
			if err := call(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}
