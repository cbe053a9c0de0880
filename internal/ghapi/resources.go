package ghapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/go-github/v62/github"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Repository is what airlock needs to know about a repository.
type Repository struct {
	ID            int64
	FullName      string
	OwnerLogin    string
	OwnerID       int64
	DefaultBranch string
	// Visibility is "public", "private" or "internal"; "" when GitHub did not
	// say (unknown, not public).
	Visibility string
}

// Repository fetches GET /repos/{owner}/{repo}.
func (c *Client) Repository(ctx context.Context, owner, repo string) (*Repository, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("repository %s/%s", owner, repo), permission: "metadata: read"}
	return getDecoded(ctx, c, o, p, decodeRepository)
}

func decodeRepository(body []byte) (*Repository, error) {
	var gr github.Repository
	if err := decodeStrict(body, &gr); err != nil {
		return nil, fmt.Errorf("decode repository: %w", err)
	}
	if gr.GetID() <= 0 || gr.GetOwner().GetID() <= 0 || gr.GetOwner().GetLogin() == "" {
		return nil, fmt.Errorf("decode repository: expected id, owner.id and owner.login, got id %d, owner.id %d, owner.login %q",
			gr.GetID(), gr.GetOwner().GetID(), gr.GetOwner().GetLogin())
	}
	return &Repository{
		ID: gr.GetID(), FullName: gr.GetFullName(), OwnerLogin: gr.GetOwner().GetLogin(),
		OwnerID: gr.GetOwner().GetID(), DefaultBranch: gr.GetDefaultBranch(), Visibility: gr.GetVisibility(),
	}, nil
}

// Environment is a deployment environment with its built-in protection rules.
type Environment struct {
	ID   int64
	Name string
	// CanAdminsBypass is nil when the response did not carry the field
	// (GitHub's REST description does not list it): unknown, never "off".
	CanAdminsBypass *bool
	// Rules are the built-in protection rules in GitHub's order, including
	// types airlock does not know.
	Rules []ProtectionRule
	// BranchPolicy is nil when every branch may deploy.
	BranchPolicy *BranchPolicy
}

// Rule types GitHub documents.
const (
	RuleRequiredReviewers = "required_reviewers"
	RuleWaitTimer         = "wait_timer"
	RuleBranchPolicy      = "branch_policy"
)

// Rule returns the first rule of type typ, or nil.
func (e *Environment) Rule(typ string) *ProtectionRule {
	for i := range e.Rules {
		if e.Rules[i].Type == typ {
			return &e.Rules[i]
		}
	}
	return nil
}

// ProtectionRule is one built-in protection rule.
type ProtectionRule struct {
	ID   int64
	Type string
	// WaitTimer is in minutes (wait_timer rules).
	WaitTimer int
	// PreventSelfReview is nil when a required_reviewers rule did not say.
	PreventSelfReview *bool
	Reviewers         []Reviewer
}

// Reviewer is a required reviewer. Teams belong to the repository's owner.
type Reviewer struct {
	Type  string // "User" or "Team"; other values are kept as sent
	ID    int64
	Login string // users
	Slug  string // teams
	Name  string // teams
}

// BranchPolicy is the environment's deployment branch policy.
type BranchPolicy struct {
	ProtectedBranches    bool
	CustomBranchPolicies bool
}

// Wire types for GET .../environments/{name}, shaped like GitHub's
// "environment" schema. Pointers tell "absent" from "zero".
type wireEnvironment struct {
	ID                     *int64            `json:"id"`
	Name                   *string           `json:"name"`
	CanAdminsBypass        *bool             `json:"can_admins_bypass"`
	ProtectionRules        []wireRule        `json:"protection_rules"`
	DeploymentBranchPolicy *wireBranchPolicy `json:"deployment_branch_policy"`
}

type wireRule struct {
	ID                *int64         `json:"id"`
	Type              *string        `json:"type"`
	WaitTimer         *int           `json:"wait_timer"`
	PreventSelfReview *bool          `json:"prevent_self_review"`
	Reviewers         []wireReviewer `json:"reviewers"`
}

type wireReviewer struct {
	Type     *string `json:"type"`
	Reviewer *struct {
		ID    *int64 `json:"id"`
		Login string `json:"login"`
		Slug  string `json:"slug"`
		Name  string `json:"name"`
	} `json:"reviewer"`
}

type wireBranchPolicy struct {
	ProtectedBranches    *bool `json:"protected_branches"`
	CustomBranchPolicies *bool `json:"custom_branch_policies"`
}

// Environment fetches GET /repos/{owner}/{repo}/environments/{environment_name}.
// A missing environment is a *NotFoundError.
func (c *Client) Environment(ctx context.Context, owner, repo, env string) (*Environment, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	e, err := segment("environment", env)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("environment %q of %s/%s", env, owner, repo), permission: "actions: read"}
	return getDecoded(ctx, c, o, p+"/environments/"+e, decodeEnvironment)
}

func decodeEnvironment(body []byte) (*Environment, error) {
	var w wireEnvironment
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decode environment: %w", err)
	}
	if w.ID == nil || *w.ID <= 0 || w.Name == nil || *w.Name == "" {
		return nil, errors.New("decode environment: expected id and name")
	}
	out := &Environment{ID: *w.ID, Name: *w.Name, CanAdminsBypass: w.CanAdminsBypass, Rules: []ProtectionRule{}}
	for i, r := range w.ProtectionRules {
		if r.Type == nil || *r.Type == "" {
			return nil, fmt.Errorf("decode environment: protection rule %d: expected a type", i)
		}
		rule := ProtectionRule{Type: *r.Type, PreventSelfReview: r.PreventSelfReview}
		if r.ID != nil {
			rule.ID = *r.ID
		}
		if r.WaitTimer != nil {
			rule.WaitTimer = *r.WaitTimer
		}
		if rule.Type == RuleRequiredReviewers && r.Reviewers == nil {
			return nil, fmt.Errorf("decode environment: protection rule %d (%s): expected a reviewers array", i, rule.Type)
		}
		for j, rv := range r.Reviewers {
			if rv.Type == nil || *rv.Type == "" || rv.Reviewer == nil || rv.Reviewer.ID == nil || *rv.Reviewer.ID <= 0 {
				return nil, fmt.Errorf("decode environment: protection rule %d reviewer %d: expected type and reviewer.id", i, j)
			}
			out := Reviewer{Type: *rv.Type, ID: *rv.Reviewer.ID, Login: rv.Reviewer.Login, Slug: rv.Reviewer.Slug, Name: rv.Reviewer.Name}
			if (out.Type == "User" && out.Login == "") || (out.Type == "Team" && out.Slug == "") {
				return nil, fmt.Errorf("decode environment: protection rule %d reviewer %d: %s without login/slug", i, j, out.Type)
			}
			rule.Reviewers = append(rule.Reviewers, out)
		}
		out.Rules = append(out.Rules, rule)
	}
	if bp := w.DeploymentBranchPolicy; bp != nil {
		if bp.ProtectedBranches == nil || bp.CustomBranchPolicies == nil {
			return nil, errors.New("decode environment: deployment_branch_policy: expected protected_branches and custom_branch_policies")
		}
		out.BranchPolicy = &BranchPolicy{ProtectedBranches: *bp.ProtectedBranches, CustomBranchPolicies: *bp.CustomBranchPolicies}
	}
	return out, nil
}

// CustomProtectionRule is a custom deployment protection rule (a GitHub App
// that must approve deployments).
type CustomProtectionRule struct {
	ID      int64
	Enabled bool
	AppID   int64
	AppSlug string
}

// CustomProtectionRules fetches
// GET /repos/{owner}/{repo}/environments/{environment_name}/deployment_protection_rules.
func (c *Client) CustomProtectionRules(ctx context.Context, owner, repo, env string) ([]CustomProtectionRule, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	e, err := segment("environment", env)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("custom protection rules of environment %q of %s/%s", env, owner, repo), permission: "actions: read"}
	return getDecoded(ctx, c, o, p+"/environments/"+e+"/deployment_protection_rules", decodeCustomRules)
}

func decodeCustomRules(body []byte) ([]CustomProtectionRule, error) {
	var w github.ListDeploymentProtectionRuleResponse
	if err := decodeStrict(body, &w); err != nil {
		return nil, fmt.Errorf("decode custom protection rules: %w", err)
	}
	if w.TotalCount == nil {
		return nil, errors.New("decode custom protection rules: expected total_count")
	}
	out := make([]CustomProtectionRule, 0, len(w.ProtectionRules))
	for i, r := range w.ProtectionRules {
		if r == nil || r.ID == nil || r.Enabled == nil || r.App == nil || r.App.ID == nil || r.App.GetSlug() == "" {
			return nil, fmt.Errorf("decode custom protection rules: rule %d: expected id, enabled, app.id and app.slug", i)
		}
		out = append(out, CustomProtectionRule{ID: r.GetID(), Enabled: r.GetEnabled(), AppID: r.App.GetID(), AppSlug: r.App.GetSlug()})
	}
	return out, nil
}

// Approval is one entry of a run's deployment review log.
type Approval struct {
	State        string // "approved", "rejected" (GitHub also documents "pending")
	Comment      string
	User         User
	Environments []ApprovalEnvironment
}

// User is a GitHub account.
type User struct {
	Login string
	ID    int64
}

// ApprovalEnvironment is an environment an approval applies to.
type ApprovalEnvironment struct {
	ID   int64
	Name string
}

type wireApproval struct {
	State        *string `json:"state"`
	Comment      *string `json:"comment"`
	Environments []struct {
		ID   *int64  `json:"id"`
		Name *string `json:"name"`
	} `json:"environments"`
	User *struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
	} `json:"user"`
}

// RunApprovals fetches GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals,
// following Link pagination. go-github v62 has no method for it.
func (c *Client) RunApprovals(ctx context.Context, owner, repo string, runID int64) ([]Approval, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	if runID <= 0 {
		return nil, fault.Usagef("run id: expected > 0, got %d", runID)
	}
	o := op{resource: fmt.Sprintf("approvals of run %d of %s/%s", runID, owner, repo), permission: "actions: read"}
	ref := p + "/actions/runs/" + strconv.FormatInt(runID, 10) + "/approvals?per_page=100"
	out := []Approval{}
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fault.Operationalf("get %s: more than %d pages", o.resource, maxPages)
		}
		body, hdr, err := c.get(ctx, o, ref)
		if err != nil {
			return nil, err
		}
		items, err := decodeApprovals(body)
		if err != nil {
			return nil, fault.Operationalf("get %s: page %d: %w", o.resource, page, err)
		}
		out = append(out, items...)
		next, err := c.nextLink(hdr)
		if err != nil {
			return nil, fault.Operationalf("get %s: page %d: %w", o.resource, page, err)
		}
		if next == "" {
			return out, nil
		}
		ref = next
	}
}

func decodeApprovals(body []byte) ([]Approval, error) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("decode approvals: expected a JSON array")
	}
	var ws []wireApproval
	if err := decodeStrict(body, &ws); err != nil {
		return nil, fmt.Errorf("decode approvals: %w", err)
	}
	out := make([]Approval, 0, len(ws))
	for i, w := range ws {
		if w.State == nil || *w.State == "" || w.User == nil || w.User.Login == "" || w.User.ID <= 0 {
			return nil, fmt.Errorf("decode approvals: entry %d: expected state, user.login and user.id", i)
		}
		a := Approval{State: *w.State, User: User{Login: w.User.Login, ID: w.User.ID}, Environments: []ApprovalEnvironment{}}
		if w.Comment != nil {
			a.Comment = *w.Comment
		}
		for j, e := range w.Environments {
			if e.Name == nil || *e.Name == "" || e.ID == nil {
				return nil, fmt.Errorf("decode approvals: entry %d environment %d: expected id and name", i, j)
			}
			a.Environments = append(a.Environments, ApprovalEnvironment{ID: *e.ID, Name: *e.Name})
		}
		out = append(out, a)
	}
	return out, nil
}
