// Package gate is the promotion use case: collect evidence, let policy decide,
// and hand back a Decision that the caller emits (and later signs).
//
// Trust boundary: facts about the run come only from the verified OIDC token;
// GITHUB_* variables are hints compared with it. Collectors record facts and
// never decide; only policy decides, and a deny is a value, not an error. An
// error from Run means airlock could not decide: it never ends in allow.
package gate

import (
	"context"
	"errors"
	"fmt"
	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/mint"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// DefaultIssuer is GitHub.com's Actions OIDC issuer.
const DefaultIssuer = "https://token.actions.githubusercontent.com"

// DefaultBranchRef is the placeholder in AllowedRefs for the repository's
// default branch, resolved through the API at run time.
const DefaultBranchRef = "{default-branch}"

// Config is what the workflow asked for, read from inputs at the edge.
type Config struct {
	Environment     string
	AllowedRefs     []string // may contain DefaultBranchRef
	AllowSelfHosted bool
	Workflow        string
	RepositoryID    string
	// QAManifest and ProductionManifest are paths in the repository, read
	// at the verified commit; both or neither.
	QAManifest         string
	ProductionManifest string
	Promotion          string // "promote" (default) or "rollback"
	// QACredentials are the QA credentials to prove dead, with their
	// secrets resolved; nil when the workflow declared nothing.
	QACredentials *revocation.Declaration
	// ProductionIdentity is compared with every QA identity; when nil and
	// manifests are given, the production manifest's identity is used.
	ProductionIdentity *revocation.ProductionIdentity
	Audience           string
	Issuer             string

	TokenRequestURL   string
	TokenRequestToken string // secret
	APIURL            string
	GitHubToken       string // secret

	// Hints are GITHUB_* / RUNNER_* variables, keyed by variable name.
	Hints map[string]string

	// Approvals is what C4 asks of the approval record. Its Environment is
	// Config.Environment. A request with no Source was not filled in at all
	// and takes the approvals package defaults (and names no approvers);
	// otherwise every field is validated as given.
	Approvals approvals.Request
}

func (c Config) approvalsRequest() approvals.Request {
	r := c.Approvals
	r.Environment = c.Environment
	if r.Source == "" {
		r.Source = approvals.SourceRun
		r.MinApprovals = max(r.MinApprovals, approvals.DefaultMinApprovals)
		if r.MaxAge == 0 {
			r.MaxAge = approvals.DefaultMaxAge
		}
	}
	return r
}

// Deps are the side effects the gate may use.
type Deps struct {
	HTTPClient *http.Client
	Now        func() time.Time
	Policy     policy.Engine
	// Verifier is optional; when nil one is built from Config (and reused
	// across runs only if the caller keeps it).
	Verifier *identity.Verifier
	// Mask is called with every secret the gate obtains (the job's token)
	// before anything else happens with it.
	Mask func(string)
}

// Result is what the gate found and decided.
type Result struct {
	Evidence evidence.Evidence
	Decision policy.Decision
	// Validity, when set (by the mint step, whose credential must not
	// outlive it), is the decision's validity window; otherwise signing
	// opens it.
	Validity *attest.Validity
	// Credential is what the mint step issued or refused; nil when the
	// workflow did not ask airlock to mint.
	Credential *mint.Record
}

// Validate rejects configurations that cannot be enforced.
func (c Config) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"environment", c.Environment},
		{"audience", c.Audience},
		{"oidc-issuer", c.Issuer},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fault.Configf("gate config: empty %s", strings.Join(missing, ", "))
	}
	if len(c.AllowedRefs) == 0 {
		return fault.Configf("gate config: allowed-refs is empty: no ref could ever be promoted")
	}
	for i, r := range c.AllowedRefs {
		if r != DefaultBranchRef && !strings.HasPrefix(r, "refs/") {
			return fault.Configf("gate config: allowed-refs[%d]: %q must start with refs/ (or be %s)", i, r, DefaultBranchRef)
		}
		if strings.Contains(strings.TrimSuffix(r, "*"), "*") {
			return fault.Configf("gate config: allowed-refs[%d]: %q: only a trailing * is supported", i, r)
		}
	}
	if (c.QAManifest == "") != (c.ProductionManifest == "") {
		return fault.Configf("gate config: qa-manifest and production-manifest go together: got qa-manifest %q, production-manifest %q", c.QAManifest, c.ProductionManifest)
	}
	if _, err := manifest.ParsePromotion(c.Promotion); err != nil {
		return fault.Config(fmt.Errorf("gate config: input promotion: %w", err))
	}
	if err := c.approvalsRequest().Validate(); err != nil {
		return fault.Configf("gate config: %w", err)
	}
	if c.TokenRequestURL == "" {
		return fault.Usagef("ACTIONS_ID_TOKEN_REQUEST_URL is not set: the job needs `permissions: id-token: write`")
	}
	if c.TokenRequestToken == "" {
		return fault.Usagef("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: the job needs `permissions: id-token: write`")
	}
	return nil
}

// Decide is the gate's decision step: identify the run (its verified OIDC
// token), collect the evidence concurrently, and evaluate it. cfg must be
// validated (the caller parses every input before the first request); a
// token that does not verify is evidence (a C1 deny), not an error.
func Decide(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	if deps.HTTPClient == nil || deps.Now == nil || deps.Policy == nil {
		return nil, fault.Configf("gate: HTTPClient, Now and Policy are required")
	}
	promotion, err := manifest.ParsePromotion(cfg.Promotion)
	if err != nil {
		return nil, fault.Config(err)
	}
	ev := evidence.Evidence{
		Schema:      evidence.SchemaURI,
		CollectedAt: deps.Now().UTC(),
		Request: evidence.Request{
			Environment:       cfg.Environment,
			AllowedRefs:       cfg.AllowedRefs,
			AllowSelfHosted:   cfg.AllowSelfHosted,
			Workflow:          cfg.Workflow,
			RepositoryID:      cfg.RepositoryID,
			ManifestsRequired: cfg.ProductionManifest != "",
			Promotion:         promotion,
		},
		Identity: evidence.Identity{Issuer: cfg.Issuer, Audience: cfg.Audience, HintMismatches: []evidence.HintMismatch{}},
	}
	claims, err := Identify(ctx, cfg, deps)
	var verr *identity.VerificationError
	switch {
	case errors.As(err, &verr):
		ev.Identity.Error = verr.Error()
	case err != nil:
		return nil, err
	default:
		ev.Identity.Verified = true
		ev.Identity.Claims = claims
		ev.Identity.HintMismatches = crossCheck(cfg.Hints, claims)
		cctx, cancel := collectContext(ctx)
		err := collect(cctx, cfg, deps, claims, &ev)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	dec, err := Evaluate(ctx, deps.Policy, ev)
	if err != nil {
		return nil, err
	}
	return &Result{Evidence: ev, Decision: dec}, nil
}

// collectContext is the run's context with an earlier deadline for
// collecting evidence: a dependency that does not answer uses up the
// collectors' share of the time, not the decision's. What is left (a fifth
// of the remaining time, between 1 s and 15 s) is for deciding, signing,
// publishing and emitting, so that an issuer that hangs until the deadline
// still yields a decision that names it (a deny: unknown is not revoked),
// not an operational failure after the fact.
// Deadlines are wall-clock time, whatever clock the run decides by.
func collectContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	reserve := min(max(left/5, time.Second), 15*time.Second)
	if reserve >= left {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// Evaluate lets policy decide on the evidence, then applies what no policy
// may waive: an allow needs a verified identity (a policy directory with its
// own main.rego replaces the defaults and their C1 rules).
func Evaluate(ctx context.Context, engine policy.Engine, ev evidence.Evidence) (policy.Decision, error) {
	dec, err := engine.Evaluate(ctx, ev)
	if err != nil {
		return dec, err
	}
	if dec.Allow && !ev.Identity.Verified {
		dec = dec.Refuse("C1", "the policy allowed a run whose OIDC token did not verify; airlock refuses it: no policy can waive C1")
	}
	return dec, nil
}

// Identify requests the job's OIDC token, masks it before anything else
// sees it, and verifies it. A *identity.VerificationError means the token is
// invalid (the gate's deny, the check's refusal to report); any other error
// means airlock could not tell.
func Identify(ctx context.Context, cfg Config, deps Deps) (*identity.Claims, error) {
	verifier := deps.Verifier
	if verifier == nil {
		v, err := identity.NewVerifier(identity.Config{
			Issuer: cfg.Issuer, Audience: cfg.Audience, HTTPClient: deps.HTTPClient, Now: deps.Now,
		})
		if err != nil {
			return nil, err
		}
		verifier = v
	}
	raw, err := identity.Fetch(ctx, deps.HTTPClient, cfg.TokenRequestURL, cfg.TokenRequestToken, cfg.Audience)
	if err != nil {
		return nil, err
	}
	if deps.Mask != nil {
		deps.Mask(raw)
	}
	return verifier.Verify(ctx, raw)
}

// resolveRefs replaces DefaultBranchRef with the repository's default branch,
// asked of the API for the repository named by the verified token.
func resolveRefs(ctx context.Context, cfg Config, client *ghapi.Client, owner, name string, c *identity.Claims) ([]string, error) {
	out := make([]string, 0, len(cfg.AllowedRefs))
	for _, r := range cfg.AllowedRefs {
		if r != DefaultBranchRef {
			out = append(out, r)
			continue
		}
		repo, err := client.Repository(ctx, owner, name)
		if err != nil {
			return nil, fmt.Errorf("resolve default branch of %s: %w", c.Repository, err)
		}
		if repo.DefaultBranch == "" {
			return nil, fault.Operationalf("resolve default branch of %s: the API returned none", c.Repository)
		}
		out = append(out, "refs/heads/"+repo.DefaultBranch)
	}
	return out, nil
}

// hintClaims pairs runner variables with the verified claim they must equal.
var hintClaims = []struct {
	variable, claim string
	get             func(*identity.Claims) string
}{
	{"GITHUB_REPOSITORY", "repository", func(c *identity.Claims) string { return c.Repository }},
	{"GITHUB_REPOSITORY_ID", "repository_id", func(c *identity.Claims) string { return c.RepositoryID }},
	{"GITHUB_REPOSITORY_OWNER", "repository_owner", func(c *identity.Claims) string { return c.RepositoryOwner }},
	{"GITHUB_REPOSITORY_OWNER_ID", "repository_owner_id", func(c *identity.Claims) string { return c.RepositoryOwnerID }},
	{"GITHUB_SHA", "sha", func(c *identity.Claims) string { return c.SHA }},
	{"GITHUB_REF", "ref", func(c *identity.Claims) string { return c.Ref }},
	{"GITHUB_RUN_ID", "run_id", func(c *identity.Claims) string { return c.RunID }},
	{"GITHUB_RUN_ATTEMPT", "run_attempt", func(c *identity.Claims) string { return c.RunAttempt }},
	{"GITHUB_WORKFLOW_REF", "workflow_ref", func(c *identity.Claims) string { return c.WorkflowRef }},
	{"GITHUB_EVENT_NAME", "event_name", func(c *identity.Claims) string { return c.EventName }},
	{"GITHUB_ACTOR_ID", "actor_id", func(c *identity.Claims) string { return c.ActorID }},
	{"RUNNER_ENVIRONMENT", "runner_environment", func(c *identity.Claims) string { return c.RunnerEnvironment }},
}

// HintVariables lists the runner variables the gate cross-checks.
func HintVariables() []string {
	out := make([]string, len(hintClaims))
	for i, h := range hintClaims {
		out[i] = h.variable
	}
	return out
}

func crossCheck(hints map[string]string, c *identity.Claims) []evidence.HintMismatch {
	out := []evidence.HintMismatch{}
	for _, h := range hintClaims {
		hint, ok := hints[h.variable]
		if !ok || hint == "" {
			continue
		}
		if v := h.get(c); v != hint {
			out = append(out, evidence.HintMismatch{Variable: h.variable, Hint: hint, Claim: h.claim, Verified: v})
		}
	}
	return out
}
