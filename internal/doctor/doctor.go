// Package doctor checks, before the first promotion, what the gate would
// deny because of how a repository is set up: the target environment's
// protection settings (read through the GitHub API), the promotion workflow
// (read from a file) and the policy's parameters. It decides nothing: every
// "will deny" item carries the reason the gate would give, worded as the
// gate words it, and the setting to change.
//
// Trust boundary: what GitHub answers and what the files say are facts to
// report; anything doctor could not read is "cannot tell", never a pass.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/internal/ghapi"
)

// Status is an item's outcome.
type Status string

const (
	Pass Status = "pass"
	// Deny: the gate would deny (or refuse to run) as things are.
	Deny Status = "will deny"
	// Unknown: doctor could not find out (a permission, a file, GitHub).
	Unknown Status = "cannot tell"
	// Warn: the gate would not deny, but the setting weakens the promotion.
	Warn Status = "warn"
)

// Item is one line of the checklist.
type Item struct {
	Area   string `json:"area"`  // "environment", "workflow" or "policy"
	Check  string `json:"check"` // what was checked, in a few words
	Status Status `json:"status"`
	// Control is the control whose reason Message is (Deny items), e.g. "C4".
	Control string `json:"control,omitempty"`
	// Message is the gate's reason (Deny), what was found (Pass, Warn) or
	// what could not be read and why (Unknown).
	Message string `json:"message"`
	// Fix is the setting to change, or the permission to grant.
	Fix string `json:"fix,omitempty"`
}

// GitHub is what doctor reads from GitHub's API.
type GitHub interface {
	Environment(ctx context.Context, owner, repo, env string) (*ghapi.Environment, error)
	CustomProtectionRules(ctx context.Context, owner, repo, env string) ([]ghapi.CustomProtectionRule, error)
}

// Params reads the loaded policy's parameters (policy.Engine).
type Params interface {
	Param(topic, key string) (any, bool)
}

// Config is one doctor run.
type Config struct {
	Owner, Repo string
	Environment string
	GitHub      GitHub
	// Workflow is the promotion workflow file, WorkflowName how to call it
	// (its path); nil: not given, and its items cannot tell.
	Workflow     []byte
	WorkflowName string
	// Policy is the loaded policy, or nil with PolicyErr saying why it did
	// not load (the gate would refuse to run).
	Policy    Params
	PolicyErr error
	// ReadFile reads a file of the repository by its path from the root
	// (the production manifest the workflow names); nil: not read.
	ReadFile func(path string) ([]byte, error)
}

// Report is the checklist.
type Report struct {
	Repository  string `json:"repository"`
	Environment string `json:"environment"`
	Items       []Item `json:"items"`
}

// Count returns how many items have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, it := range r.Items {
		if it.Status == s {
			n++
		}
	}
	return n
}

// Run checks everything it can. It returns an error only for a Config it
// cannot use; what it could not read is an Unknown item.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Owner == "" || cfg.Repo == "" || cfg.Environment == "" || cfg.GitHub == nil {
		return nil, errors.New("doctor: owner, repo, environment and a GitHub client are required")
	}
	rep := &Report{Repository: cfg.Owner + "/" + cfg.Repo, Environment: cfg.Environment}
	wf := checkWorkflow(cfg, rep)
	checkEnvironment(ctx, cfg, rep)
	checkPolicy(cfg, wf, rep)
	// Shown in the order a newcomer sets things up.
	order := map[string]int{"environment": 0, "workflow": 1, "policy": 2}
	slices.SortStableFunc(rep.Items, func(a, b Item) int { return order[a.Area] - order[b.Area] })
	return rep, nil
}

func (r *Report) add(it Item) { r.Items = append(r.Items, it) }

// --- the environment -------------------------------------------------------

func settingsPath(env string) string {
	return fmt.Sprintf("Settings → Environments → %s", env)
}

func checkEnvironment(ctx context.Context, cfg Config, rep *Report) {
	const area = "environment"
	name := cfg.Environment
	env, err := cfg.GitHub.Environment(ctx, cfg.Owner, cfg.Repo, name)
	switch {
	case ghapi.IsNotFound(err):
		rep.add(Item{Area: area, Check: "environment exists", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("environment %q does not exist or the token cannot read it: create it with required reviewers, or grant the github-token actions: read", name),
			Fix:     fmt.Sprintf("Settings → Environments → New environment %q (a 404 is also what a token that cannot see the repository gets)", name)})
		return
	case err != nil:
		rep.add(unknownFrom(area, fmt.Sprintf("environment %q", name), err))
		return
	}
	where := settingsPath(env.Name)
	rep.add(Item{Area: area, Check: "environment exists", Status: Pass, Message: fmt.Sprintf("environment %q (id %d)", env.Name, env.ID)})

	rr := env.Rule(ghapi.RuleRequiredReviewers)
	var reviewers []string
	if rr != nil {
		for _, rv := range rr.Reviewers {
			if rv.Type == "Team" {
				reviewers = append(reviewers, cfg.Owner+"/"+rv.Slug)
			} else {
				reviewers = append(reviewers, rv.Login)
			}
		}
	}
	if len(reviewers) == 0 {
		rep.add(Item{Area: area, Check: "required reviewers", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("environment %q has no required reviewers: nobody has to approve a deployment to it", env.Name),
			Fix:     where + " → Deployment protection rules → Required reviewers: add the people or teams who approve"})
	} else {
		rep.add(Item{Area: area, Check: "required reviewers", Status: Pass, Message: strings.Join(reviewers, ", ")})
		switch psr := rr.PreventSelfReview; {
		case psr == nil:
			rep.add(Item{Area: area, Check: "prevent self-review", Status: Deny, Control: "C4",
				Message: fmt.Sprintf("GitHub did not say whether environment %q prevents self-review (prevent_self_review missing): treated as allowed", env.Name),
				Fix:     where + " → Required reviewers → Prevent self-review (GitHub's answer lacked the field: check the API version)"})
		case !*psr:
			rep.add(Item{Area: area, Check: "prevent self-review", Status: Deny, Control: "C4",
				Message: fmt.Sprintf("environment %q lets whoever triggered a deployment approve it: turn on \"prevent self-review\"", env.Name),
				Fix:     where + " → Required reviewers → Prevent self-review: on"})
		default:
			rep.add(Item{Area: area, Check: "prevent self-review", Status: Pass, Message: "on"})
		}
	}
	switch b := env.CanAdminsBypass; {
	case b == nil:
		rep.add(Item{Area: area, Check: "administrators bypass", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("GitHub did not say whether administrators can bypass environment %q (can_admins_bypass missing): treated as allowed", env.Name),
			Fix:     where + " → Allow administrators to bypass configured protection rules: off (GitHub's answer lacked the field)"})
	case *b:
		rep.add(Item{Area: area, Check: "administrators bypass", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("environment %q lets administrators bypass its protection rules: turn off \"allow administrators to bypass\"", env.Name),
			Fix:     where + " → Allow administrators to bypass configured protection rules: off"})
	default:
		rep.add(Item{Area: area, Check: "administrators bypass", Status: Pass, Message: "off"})
	}
	requireBranchPolicy := true
	if cfg.Policy != nil {
		if v, ok := cfg.Policy.Param("approvals", "require_branch_policy"); ok && v == false {
			requireBranchPolicy = false
		}
	}
	switch bp := env.BranchPolicy; {
	case bp == nil && requireBranchPolicy:
		rep.add(Item{Area: area, Check: "deployment branches", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("environment %q lets any branch deploy: set a deployment branch policy (protected or selected branches)", env.Name),
			Fix:     where + " → Deployment branches and tags: Protected branches only, or Selected branches and tags"})
	case bp == nil:
		rep.add(Item{Area: area, Check: "deployment branches", Status: Warn, Message: "any branch may deploy (params.approvals.require_branch_policy is false)"})
	case bp.ProtectedBranches:
		rep.add(Item{Area: area, Check: "deployment branches", Status: Pass, Message: "protected branches only"})
	default:
		rep.add(Item{Area: area, Check: "deployment branches", Status: Pass, Message: "selected branches and tags"})
	}

	custom, err := cfg.GitHub.CustomProtectionRules(ctx, cfg.Owner, cfg.Repo, name)
	switch {
	case err != nil:
		rep.add(unknownFrom(area, fmt.Sprintf("custom protection rules of %q", name), err))
	case len(custom) == 0:
		rep.add(Item{Area: area, Check: "custom protection rules", Status: Pass, Message: "none (only required reviewers decide)"})
	default:
		var apps []string
		for _, c := range custom {
			state := "enabled"
			if !c.Enabled {
				state = "disabled"
			}
			apps = append(apps, fmt.Sprintf("%s (%s)", c.AppSlug, state))
		}
		rep.add(Item{Area: area, Check: "custom protection rules", Status: Pass, Message: strings.Join(apps, ", ")})
	}
}

// unknownFrom turns a read that failed into a "cannot tell" item naming the
// permission a 403 says is missing.
func unknownFrom(area, what string, err error) Item {
	it := Item{Area: area, Check: "read " + what, Status: Unknown, Message: err.Error()}
	var fe *ghapi.ForbiddenError
	if errors.As(err, &fe) {
		it.Message = fmt.Sprintf("the token may not read %s (HTTP 403)", what)
		it.Fix = "give the token " + fe.Permission + " (a fine-grained token's repository permission of that name; a classic token: repo)"
	}
	return it
}

// --- the policy ------------------------------------------------------------

func checkPolicy(cfg Config, wf *workflowStep, rep *Report) {
	const area = "policy"
	if cfg.PolicyErr != nil {
		rep.add(Item{Area: area, Check: "policy loads", Status: Deny, Message: cfg.PolicyErr.Error(),
			Fix: "fix the file and line named (airlock policy test DIR shows the same)"})
		return
	}
	if cfg.Policy == nil {
		return
	}
	rep.add(Item{Area: area, Check: "policy loads", Status: Pass, Message: "compiles and passes the strict checks"})

	manifestPath := ""
	if wf != nil {
		manifestPath = wf.with["production-manifest"]
	}
	allowed := allowedScopes(cfg.Policy)
	if manifestPath == "" {
		if wf == nil {
			rep.add(Item{Area: area, Check: "scope allow-lists", Status: Unknown,
				Message: "without the workflow doctor does not know the production manifest, whose scopes params.agent.allowed_scopes must allow"})
			return
		}
		rep.add(Item{Area: area, Check: "scope allow-lists", Status: Pass,
			Message: "no production-manifest input: the agent rules (C6–C11) are off, scopes are not checked"})
		return
	}
	if cfg.ReadFile == nil {
		rep.add(Item{Area: area, Check: "scope allow-lists", Status: Unknown, Message: fmt.Sprintf("production manifest %s not read", manifestPath)})
		return
	}
	data, err := cfg.ReadFile(manifestPath)
	if err != nil {
		rep.add(Item{Area: area, Check: "scope allow-lists", Status: Unknown,
			Message: fmt.Sprintf("production manifest %s: %v", manifestPath, err),
			Fix:     "run doctor in a checkout of the repository (--repo-dir), where the production-manifest input's path exists"})
		return
	}
	sens, scopes, err := manifestScopes(manifestPath, data)
	if err != nil {
		rep.add(Item{Area: area, Check: "production manifest", Status: Deny, Control: "C6", Message: err.Error(), Fix: "fix the manifest where named"})
		return
	}
	patterns := allowed[sens]
	var excess []string
	for _, s := range scopes {
		if !scopeAllowed(s, patterns) {
			excess = append(excess, s)
		}
	}
	slices.Sort(excess)
	if len(excess) == 0 {
		rep.add(Item{Area: area, Check: "scope allow-lists", Status: Pass,
			Message: fmt.Sprintf("every scope of %s is allowed for %s data", manifestPath, sens)})
		return
	}
	allowedText := "none"
	if len(patterns) > 0 {
		allowedText = strings.Join(patterns, ", ")
	}
	rep.add(Item{Area: area, Check: "scope allow-lists", Status: Deny, Control: "C6",
		Message: fmt.Sprintf("scopes %s are more than policy allows for %s data (allowed: %s); drop them or add them to params.agent.allowed_scopes.%s",
			strings.Join(excess, ", "), sens, allowedText, sens),
		Fix: fmt.Sprintf("params/agent.json in the policy directory: {\"allowed_scopes\": {%q: [...]}} (the defaults allow no scope)", sens)})
}

// allowedScopes is params.agent.allowed_scopes by sensitivity.
func allowedScopes(p Params) map[string][]string {
	out := map[string][]string{}
	v, _ := p.Param("agent", "allowed_scopes")
	m, _ := v.(map[string]any)
	for sens, list := range m {
		xs, _ := list.([]any)
		for _, x := range xs {
			if s, ok := x.(string); ok {
				out[sens] = append(out[sens], s)
			}
		}
	}
	return out
}

// scopeAllowed mirrors agent_privilege.rego: a pattern ending in "*"
// matches by prefix, anything else exactly.
func scopeAllowed(s string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(s, prefix) {
				return true
			}
		} else if s == p {
			return true
		}
	}
	return false
}
