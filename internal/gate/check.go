package gate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// CheckConfig is what `airlock check` was asked. The embedded Config is the
// gate's; its approvals always come from the pull request's reviews.
type CheckConfig struct {
	Config
	// ManifestPaths are the repository paths whose change makes a pull
	// request a promotion: exact paths, path.Match globs, or directories
	// ending in "/". Empty: the production manifest.
	ManifestPaths []string
	// QACredentialsPath, when set, is the repository path of the
	// qa-credentials YAML file. The check reads it at the pull request's
	// head, like the manifests, so that findings point at its lines; the
	// embedded QACredentials is then ignored.
	QACredentialsPath string
	// ResolveCredentials fills the secrets of credentials parsed from
	// QACredentialsPath (from the environment, masking them): the caller
	// owns the environment.
	ResolveCredentials func(revocation.Declaration) (revocation.Declaration, error)
	// Event is what the event payload says about the pull request: a hint,
	// compared with what the verified token and the API say.
	Event PullRequestHint
}

// PullRequestHint is the event payload's view of the pull request.
type PullRequestHint struct {
	Number  int
	HeadSHA string
}

// CheckResult is what the check found. When Promotion is false the pull
// request touches no promotion file and nothing was evaluated: Result is
// zero.
type CheckResult struct {
	Result
	Promotion bool
	// Repository is "owner/name" from the verified token.
	Repository  string
	Claims      *identity.Claims
	PullRequest evidence.PullRequest
	// ApprovalsWouldAllow is true when the decision is a deny that enough
	// approvals would turn into an allow: the same evidence, with more
	// named reviewers approving the head commit, passes every policy.
	ApprovalsWouldAllow bool
	// Sources locate findings at lines of the files at the head commit.
	Sources Sources
	// IncompleteFiles is set when GitHub listed fewer files than the pull
	// request changes: it was treated as a promotion, to be safe.
	IncompleteFiles string
}

// Sources are the files at the pull request's head that findings point at.
type Sources struct {
	QAManifestPath, ProductionManifestPath string
	// QA and Production are nil when not configured or not valid.
	QA, Production *manifest.Manifest
	// CredentialsPath is the qa-credentials file's path; "" when the
	// credentials were given inline.
	CredentialsPath string
	Credentials     []revocation.Credential
	// Problems are what made a file at the head invalid, with lines.
	Problems []SourceProblem
}

// SourceProblem is one thing wrong with a file of the pull request.
type SourceProblem struct {
	Path    string // repository path of the file
	Line    int    // 0 when unknown
	Message string
}

var (
	// Compiled on first use, not at every process start.
	reErrLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(line ([0-9]+)\)`) })
)

// Validate rejects a check configuration that cannot work.
func (c CheckConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if len(c.paths()) == 0 {
		return fault.Configf("check config: manifest-paths is empty and no production-manifest is given: nothing marks a pull request as a promotion")
	}
	for i, p := range c.paths() {
		if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "./") || strings.Contains(p, "\\") || strings.Contains(p, "..") {
			return fault.Configf("check config: manifest-paths[%d]: %q: expected a path relative to the repository root", i, p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fault.Configf("check config: manifest-paths[%d]: %q: %w", i, p, err)
		}
	}
	if c.QACredentialsPath != "" && c.ResolveCredentials == nil {
		return fault.Configf("check config: a qa-credentials file needs a resolver for its secrets")
	}
	return nil
}

func (c CheckConfig) paths() []string {
	if len(c.ManifestPaths) > 0 {
		return c.ManifestPaths
	}
	if c.ProductionManifest != "" {
		return []string{c.ProductionManifest}
	}
	return nil
}

// MatchesPromotionPath reports whether a changed file is a promotion file.
func MatchesPromotionPath(patterns []string, file string) bool {
	for _, p := range patterns {
		switch {
		case strings.HasSuffix(p, "/"):
			if strings.HasPrefix(file, p) {
				return true
			}
		case p == file:
			return true
		default:
			if ok, _ := path.Match(p, file); ok {
				return true
			}
		}
	}
	return false
}

// DecideCheck evaluates a promotion pull request as it would be at merge: the
// verified token names the pull request; the merge commit's parents are the
// head and base it tested; manifests and the qa-credentials file are read at
// the head; approvals come from the reviews of the head. Nothing is signed.
// A token that does not verify is an error (*identity.VerificationError):
// nothing trustworthy names a pull request to report on.
func DecideCheck(ctx context.Context, cfg CheckConfig, deps Deps) (*CheckResult, error) {
	if cfg.Approvals.Source != approvals.SourcePullRequest {
		return nil, fault.Configf("check: approvals come from the pull request's reviews (CheckConfig.Approvals.Source)")
	}
	if deps.HTTPClient == nil || deps.Now == nil || deps.Policy == nil {
		return nil, fault.Configf("check: HTTPClient, Now and Policy are required")
	}
	claims, err := Identify(ctx, cfg.Config, deps)
	if err != nil {
		var verr *identity.VerificationError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("the job's OIDC token did not verify, so nothing names the pull request to report on; no check was published: %w", err)
		}
		return nil, err
	}
	number, refKind, isPR := approvals.PullRequestRef(claims.Ref)
	if (claims.EventName != "pull_request" && claims.EventName != "pull_request_review") || !isPR {
		return nil, fault.Usagef("airlock check runs on pull_request and pull_request_review events: the verified token says event %q, ref %q", claims.EventName, claims.Ref)
	}
	owner, name, ok := strings.Cut(claims.Repository, "/")
	if !ok || owner == "" || name == "" {
		return nil, fault.Operationalf("check: verified repository claim %q is not owner/name", claims.Repository)
	}
	client, err := ghapi.New(cfg.APIURL, cfg.GitHubToken, deps.HTTPClient)
	if err != nil {
		return nil, err
	}

	res := &CheckResult{Repository: claims.Repository, Claims: claims}
	var (
		pr     *ghapi.PullRequest
		files  []ghapi.PullRequestFile
		parent *ghapi.GitCommit
	)
	calls := []func(context.Context) error{
		func(ctx context.Context) error {
			var err error
			pr, err = client.PullRequest(ctx, owner, name, number)
			return err
		},
		func(ctx context.Context) error {
			var err error
			files, err = client.PullRequestFiles(ctx, owner, name, number)
			return err
		},
	}
	if refKind == "merge" {
		calls = append(calls, func(ctx context.Context) error {
			var err error
			parent, err = client.GitCommit(ctx, owner, name, claims.SHA)
			return err
		})
	}
	if err := runConcurrently(ctx, calls); err != nil {
		return nil, fmt.Errorf("check: pull request #%d of %s: %w", number, claims.Repository, err)
	}
	head, base := claims.SHA, pr.BaseSHA
	if parent != nil {
		// GitHub's test merge: first parent the base, second the head.
		if len(parent.Parents) != 2 {
			return nil, fault.Operationalf("check: the verified merge commit %s of pull request #%d has %d parents, expected 2 (base and head)", claims.SHA, number, len(parent.Parents))
		}
		base, head = parent.Parents[0], parent.Parents[1]
	}
	res.PullRequest = evidence.PullRequest{
		Number: number, HeadSHA: strings.ToLower(head), BaseSHA: strings.ToLower(base), BaseRef: "refs/heads/" + pr.BaseRef,
		PromotionFiles: []string{}, ProductionChanges: []manifest.Change{}, ProductionEscalations: []manifest.Escalation{},
	}
	patterns := cfg.paths()
	for _, f := range files {
		for _, name := range []string{f.Filename, f.PreviousFilename} {
			if name != "" && MatchesPromotionPath(patterns, name) && !slices.Contains(res.PullRequest.PromotionFiles, name) {
				res.PullRequest.PromotionFiles = append(res.PullRequest.PromotionFiles, name)
			}
		}
	}
	res.Promotion = len(res.PullRequest.PromotionFiles) > 0
	if !res.Promotion && (pr.ChangedFiles < 0 || pr.ChangedFiles > len(files)) {
		// A file GitHub did not list may be a promotion file: unknown is
		// never "not a promotion".
		res.Promotion = true
		res.IncompleteFiles = fmt.Sprintf("GitHub listed %d of the %d files pull request #%d changes; it is checked as a promotion because the unlisted ones may be promotion files", len(files), pr.ChangedFiles, number)
		if pr.ChangedFiles < 0 {
			res.IncompleteFiles = fmt.Sprintf("GitHub did not say how many files pull request #%d changes; it is checked as a promotion", number)
		}
	}
	if !res.Promotion && !strings.EqualFold(pr.HeadSHA, head) {
		// The file list is GitHub's for its current head; a push since the
		// run started means it may not be the verified head's.
		res.Promotion = true
		res.IncompleteFiles = fmt.Sprintf("pull request #%d moved to %s after this run's commit %s; it is checked as a promotion because the files GitHub listed may not be this commit's", number, pr.HeadSHA, head)
	}
	if !res.Promotion {
		return res, nil
	}

	promotion, _ := manifest.ParsePromotion(cfg.Promotion) // validated above
	ev := evidence.Evidence{
		Schema:      evidence.SchemaURI,
		CollectedAt: deps.Now().UTC(),
		Request: evidence.Request{
			Environment: cfg.Environment, AllowedRefs: cfg.AllowedRefs, AllowSelfHosted: cfg.AllowSelfHosted,
			Workflow: cfg.Workflow, RepositoryID: cfg.RepositoryID, ManifestsRequired: cfg.ProductionManifest != "", Promotion: promotion,
		},
		Identity: evidence.Identity{Issuer: cfg.Issuer, Audience: cfg.Audience, Verified: true, Claims: claims,
			HintMismatches: append(crossCheck(cfg.Hints, claims), eventMismatches(cfg.Event, number, res.PullRequest.HeadSHA)...)},
		PullRequest: &res.PullRequest,
	}
	cctx, cancel := collectContext(ctx)
	err = collectCheck(cctx, cfg, deps, client, owner, name, claims, pr, &ev, res)
	cancel()
	if err != nil {
		return nil, err
	}
	dec, err := Evaluate(ctx, deps.Policy, ev)
	if err != nil {
		return nil, err
	}
	res.Result = Result{Evidence: ev, Decision: dec}
	if !dec.Allow {
		if hypo, ok := withApprovals(ev); ok {
			d, err := deps.Policy.Evaluate(ctx, hypo)
			if err != nil {
				return nil, err
			}
			res.ApprovalsWouldAllow = d.Allow
		}
	}
	return res, nil
}

// eventMismatches compares the event payload with what was verified.
func eventMismatches(h PullRequestHint, number int, head string) []evidence.HintMismatch {
	out := []evidence.HintMismatch{}
	if h.Number != 0 && h.Number != number {
		out = append(out, evidence.HintMismatch{Variable: "GITHUB_EVENT_PATH pull_request.number", Hint: strconv.Itoa(h.Number), Claim: "ref", Verified: strconv.Itoa(number)})
	}
	if h.HeadSHA != "" && !strings.EqualFold(h.HeadSHA, head) {
		out = append(out, evidence.HintMismatch{Variable: "GITHUB_EVENT_PATH pull_request.head.sha", Hint: h.HeadSHA, Claim: "sha (second parent of the merge commit)", Verified: head})
	}
	return out
}

// collectCheck runs the gate's collectors for the pull request,
// concurrently: allowed refs, approvals from reviews, the manifests at the
// head (and the production manifest at the base), and the QA credentials
// from the file at the head. The probes wait for the manifests only when
// the production identity comes from them.
func collectCheck(ctx context.Context, cfg CheckConfig, deps Deps, client *ghapi.Client, owner, name string, c *identity.Claims, pr *ghapi.PullRequest, ev *evidence.Evidence, res *CheckResult) error {
	src := &res.Sources
	var problemsMu sync.Mutex
	problem := func(p SourceProblem) {
		problemsMu.Lock()
		defer problemsMu.Unlock()
		src.Problems = append(src.Problems, p)
	}
	head := res.PullRequest.HeadSHA
	agentDone := make(chan struct{})
	collectors := []func(context.Context) error{
		func(ctx context.Context) error {
			refs, err := resolveRefs(ctx, cfg.Config, client, owner, name, c)
			ev.Request.AllowedRefs = refs
			return err
		},
		func(ctx context.Context) error {
			col := &approvals.Collector{GH: client, Now: deps.Now, PullRequest: pr}
			rep, err := col.Collect(ctx, c, cfg.approvalsRequest())
			ev.Approvals = rep
			return err
		},
		func(ctx context.Context) error {
			defer close(agentDone)
			if cfg.ProductionManifest == "" {
				return nil
			}
			return checkAgent(ctx, cfg, client, owner, name, res, ev, problem)
		},
	}
	if cfg.QACredentials != nil || cfg.QACredentialsPath != "" {
		collectors = append(collectors, func(ctx context.Context) error {
			decl := cfg.QACredentials
			if cfg.QACredentialsPath != "" {
				src.CredentialsPath = cfg.QACredentialsPath
				d, err := readCredentials(ctx, cfg, client, owner, name, head, res.PullRequest.BaseSHA, problem)
				if err != nil || d == nil {
					return err // nil: invalid in the pull request, recorded as a problem
				}
				decl = d
			}
			src.Credentials = decl.Credentials
			prod := cfg.ProductionIdentity
			if prod == nil && cfg.ProductionManifest != "" {
				select {
				case <-agentDone:
				case <-ctx.Done():
					return fault.Operationalf("check: %w", ctx.Err())
				}
				if ev.Agent != nil {
					prod = manifestIdentity(ev.Agent)
				}
			}
			rep, err := revocationEvidence(ctx, Config{QACredentials: decl}, deps, prod)
			ev.Revocation = rep
			return err
		})
	}
	err := runConcurrently(ctx, collectors)
	slices.SortStableFunc(src.Problems, func(a, b SourceProblem) int {
		if a.Path != b.Path {
			return strings.Compare(a.Path, b.Path)
		}
		return a.Line - b.Line
	})
	return err
}

// checkAgent reads both manifests at the head and the production manifest
// at the base. A manifest that is missing or invalid at the head is the pull
// request's problem, not airlock's configuration: it is recorded with its
// lines, and policy denies the missing agent evidence.
func checkAgent(ctx context.Context, cfg CheckConfig, client *ghapi.Client, owner, name string, res *CheckResult, ev *evidence.Evidence, problem func(SourceProblem)) error {
	src := &res.Sources
	pr := &res.PullRequest
	src.QAManifestPath, src.ProductionManifestPath = cfg.QAManifest, cfg.ProductionManifest
	reads := []struct {
		input, path, sha string
		out              **manifest.Manifest
	}{
		{"qa-manifest", cfg.QAManifest, pr.HeadSHA, &src.QA},
		{"production-manifest", cfg.ProductionManifest, pr.HeadSHA, &src.Production},
		{"production-manifest", cfg.ProductionManifest, pr.BaseSHA, new(*manifest.Manifest)},
	}
	base := reads[2].out
	baseState := "present"
	fns := make([]func(context.Context) error, len(reads))
	for i, rd := range reads {
		atBase := i == 2
		fns[i] = func(ctx context.Context) error {
			b, err := client.File(ctx, owner, name, rd.path, rd.sha)
			switch {
			case ghapi.IsNotFound(err) && atBase:
				baseState = "absent"
				return nil
			case ghapi.IsNotFound(err):
				problem(SourceProblem{Path: rd.path, Message: fmt.Sprintf("%s: %s is not in the pull request's head commit %s", rd.input, rd.path, rd.sha)})
				return nil
			case err != nil:
				return fmt.Errorf("%s at %s: %w", rd.input, rd.sha, err)
			}
			m, err := manifest.Parse(rd.input, b)
			var pe *manifest.ParseError
			switch {
			case errors.As(err, &pe) && atBase:
				baseState = "invalid"
				return nil
			case errors.As(err, &pe):
				for _, p := range pe.Problems {
					problem(SourceProblem{Path: rd.path, Line: p.Line, Message: rd.input + ": " + p.String()})
				}
				return nil
			case err != nil && atBase:
				baseState = "invalid"
				return nil
			case err != nil:
				problem(SourceProblem{Path: rd.path, Message: err.Error()})
				return nil
			}
			*rd.out = m
			return nil
		}
	}
	if err := runConcurrently(ctx, fns); err != nil {
		return err
	}
	pr.ProductionManifestAtBase = baseState
	if src.QA != nil && src.Production != nil {
		ev.Agent = manifest.Diff(src.QA, src.Production, ev.Request.Promotion)
	}
	if *base != nil && src.Production != nil {
		d := manifest.Diff(*base, src.Production, manifest.Promote)
		pr.ProductionChanges, pr.ProductionEscalations = d.Changes, d.Escalations
	}
	return nil
}

// readCredentials reads the qa-credentials file at the head. A file the
// pull request broke is recorded as a problem (nil, nil); a missing secret
// in the environment is the workflow's configuration error.
//
// The file chooses where the workflow's secrets are sent. A pull request
// may not choose a new place: every URL a head credential would send a
// secret to must already be in the file at the base; otherwise nothing is
// probed and the check says why (the gate probes it once it is merged).
func readCredentials(ctx context.Context, cfg CheckConfig, client *ghapi.Client, owner, name, head, base string, problem func(SourceProblem)) (*revocation.Declaration, error) {
	p := cfg.QACredentialsPath
	b, err := client.File(ctx, owner, name, p, head)
	if ghapi.IsNotFound(err) {
		problem(SourceProblem{Path: p, Message: fmt.Sprintf("qa-credentials: %s is not in the pull request's head commit %s", p, head)})
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("qa-credentials at %s: %w", head, err)
	}
	d, err := revocation.ParseCredentials(p, b)
	if err != nil {
		line := 0
		if m := reErrLine().FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		problem(SourceProblem{Path: p, Line: line, Message: err.Error()})
		return nil, nil
	}
	known, err := baseSecretURLs(ctx, client, owner, name, p, base)
	if err != nil {
		return nil, err
	}
	fresh := false
	for _, c := range d.Credentials {
		for _, u := range c.SecretURLs() {
			if !known[u] {
				fresh = true
				problem(SourceProblem{Path: p, Line: c.Line, Message: fmt.Sprintf("qa-credentials: credential %q would send a secret to %s, which the file at the base commit %s does not name: airlock check sends no secret where a pull request points it, so nothing is probed (the gate probes it after the merge)", c.Name, u, base)})
			}
		}
	}
	if fresh {
		return nil, nil
	}
	d, err = cfg.ResolveCredentials(d)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// baseSecretURLs are the URLs the qa-credentials file at base sends
// secrets to; none when it is missing or does not parse there.
func baseSecretURLs(ctx context.Context, client *ghapi.Client, owner, name, p, base string) (map[string]bool, error) {
	known := map[string]bool{}
	b, err := client.File(ctx, owner, name, p, base)
	if ghapi.IsNotFound(err) {
		return known, nil
	}
	if err != nil {
		return nil, fmt.Errorf("qa-credentials at the base %s: %w", base, err)
	}
	d, err := revocation.ParseCredentials(p, b)
	if err != nil {
		return known, nil
	}
	for _, c := range d.Credentials {
		for _, u := range c.SecretURLs() {
			known[u] = true
		}
	}
	return known, nil
}

// hypotheticalApprovers is how many extra approvers withApprovals adds: more
// than any approval threshold a policy sensibly sets.
const hypotheticalApprovers = 100

// withApprovals returns the evidence as it would be if enough named
// reviewers had approved the head commit just now: every approvers line met
// by its own people, and many more besides. Approvals and rejections that
// were given stay as they are, so a self-approval or a request for changes
// still denies. ok is false when there is no pull request approval record
// to extend.
func withApprovals(ev evidence.Evidence) (evidence.Evidence, bool) {
	if ev.Approvals == nil || ev.Approvals.Status != approvals.StatusOK || ev.Approvals.PullRequest == nil {
		return ev, false
	}
	ap := *ev.Approvals
	ap.Approvers = slices.Clone(ap.Approvers)
	ap.Quorum = make([]approvals.GroupResult, len(ap.Requested.Approvers))
	// Names no GitHub login can have, so none is mistaken for a real person.
	n := 0
	next := func() string { n++; return fmt.Sprintf("(approver %d)", n) }
	for i, g := range ap.Requested.Approvers {
		var assigned []string
		for range g.Min {
			assigned = append(assigned, next())
		}
		var eligible []string
		if i < len(ev.Approvals.Quorum) {
			eligible = slices.Clone(ev.Approvals.Quorum[i].Eligible)
		}
		ap.Quorum[i] = approvals.GroupResult{Eligible: append(eligible, assigned...), Assigned: assigned}
		ap.Approvers = append(ap.Approvers, assigned...)
	}
	for range hypotheticalApprovers {
		ap.Approvers = append(ap.Approvers, next())
	}
	if ap.AgeSeconds == nil {
		zero := int64(0)
		ap.AgeSeconds, ap.AgeSource = &zero, approvals.AgeFromReviews
	}
	ev.Approvals = &ap
	return ev, true
}
