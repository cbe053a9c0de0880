package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// auditEnv is an organization on an in-process GitHub whose releases and
// deployments carry decisions signed by an in-process Sigstore as each
// repository's promotion workflow: the gate's real statement, with
// subjects, environment and validity set per case.
type auditEnv struct {
	*ghVerifyEnv
	t0 time.Time
}

func newAuditEnv(t testing.TB, opts ...githubsim.Option) *auditEnv {
	t.Helper()
	e := newSignedGitHub(t, opts...)
	e.env = map[string]string{"GITHUB_API_URL": e.sim.APIURL(), "GITHUB_TOKEN": e.sim.JobToken()}
	return &auditEnv{ghVerifyEnv: e, t0: time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)}
}

// decision signs an allow (or deny) for env, valid [from, to], about subjects,
// as repo's promotion workflow.
func (e *auditEnv) decision(t testing.TB, repo, verdict, env string, from, to time.Time, subjects ...map[string]any) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(e.statement, &st); err != nil {
		t.Fatal(err)
	}
	st["subject"] = subjects
	p := st["predicate"].(map[string]any)
	p["decision"] = verdict
	p["issuer"].(map[string]any)["environment"] = env
	p["validity"] = map[string]any{"issuedAt": from.Format(time.RFC3339), "notAfter": to.Format(time.RFC3339)}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ss.Attest(verifytest.GitHubWorkflow(repo, ".github/workflows/promote.yml", "refs/heads/main"), raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// revocation signs a revocation of decision by workflow of repo.
func (e *auditEnv) revocation(t *testing.T, repo, workflow string, decision []byte, reason string) []byte {
	t.Helper()
	ref, err := attest.InspectDecision(decision)
	if err != nil {
		t.Fatal(err)
	}
	signer := verifytest.GitHubWorkflow(repo, workflow, "refs/heads/main")
	st, err := attest.NewRevocationStatement(ref, attest.RevocationPredicate{
		Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType},
		Reason:  reason, RevokedAt: e.t0.Add(47 * time.Hour), Revoker: attest.Revoker{Identity: signer.SAN, Issuer: signer.Issuer},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ss.Attest(signer, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func commitSubject(sha string) map[string]any {
	return map[string]any{"name": "acme@" + sha, "digest": map[string]any{"gitCommit": sha}}
}

// deploy records a deployment of sha to production at at, with the
// decisions the attestation store holds for it.
func (e *auditEnv) deploy(repo, sha string, at time.Time, bundles ...[]byte) {
	owner, name, _ := strings.Cut(repo, "/")
	e.sim.AddDeployment(owner, name, githubsim.Deployment{SHA: sha, Environment: "production", CreatedAt: at})
	for _, b := range bundles {
		e.sim.AddAttestation(owner, name, githubsim.Attestation{Bundle: b})
	}
}

// ship publishes a release at at with one asset and the bundles given.
func (e *auditEnv) ship(repo, tag string, at time.Time, asset []byte, bundles ...[]byte) {
	owner, name, _ := strings.Cut(repo, "/")
	id := e.sim.AddRelease(owner, name, githubsim.Release{Tag: tag, CreatedAt: at, PublishedAt: at})
	e.sim.AddReleaseAsset(owner, name, id, githubsim.Asset{Name: "agent.tar.gz", Data: asset})
	for i, b := range bundles {
		e.sim.AddReleaseAsset(owner, name, id, githubsim.Asset{Name: fmt.Sprintf("airlock-decision-%d.sigstore.json", i), Data: b})
	}
}

func (e *auditEnv) audit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return e.env[k] }
	base := []string{"audit", "--trusted-root", e.root, "--signer-workflow", "{repo}/.github/workflows/promote.yml"}
	code := Main(context.Background(), append(base, args...), getenv, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

type auditJSON struct {
	Summary struct{ Total, Covered, Uncovered, Revoked, Expired, Failed int }
	Records []struct {
		Kind, Repo, Ref, Commit, Status string
		Reasons, Notes, Decisions       []string
	}
}

// status is a record's status and its reasons and notes in one text.
func (j auditJSON) status(kind, ref string) (string, string) {
	for _, r := range j.Records {
		if r.Kind == kind && (r.Ref == ref || r.Commit == ref) {
			return r.Status, strings.Join(append(r.Reasons, r.Notes...), "\n")
		}
	}
	return "missing", ""
}

// seedOrg: acme/support-agent has one of everything an auditor looks for;
// acme/billing is fully covered.
func (e *auditEnv) seedOrg(t *testing.T) {
	const app = "acme/support-agent"
	e.sim.SetRepository(githubsim.Repository{Owner: "acme", Name: "support-agent", Visibility: "private"})
	e.sim.SetRepository(githubsim.Repository{Owner: "acme", Name: "billing", Visibility: "private"})
	t0, hour := e.t0, time.Hour
	agent := []byte("agent build 1.0\n")
	sub := verifytest.Subject("agent.tar.gz", agent)

	e.ship(app, "v1-covered", t0.Add(10*time.Minute), agent, e.decision(t, app, "allow", "production", t0, t0.Add(hour), sub))
	e.ship(app, "v2-no-decision", t0.Add(2*hour), []byte("agent build 2.0\n"))
	e.ship(app, "v3-staging-only", t0.Add(3*hour), agent, e.decision(t, app, "allow", "staging", t0.Add(3*hour), t0.Add(4*hour), sub))
	e.ship(app, "v4-expired", t0.Add(6*hour), agent, e.decision(t, app, "allow", "production", t0.Add(4*hour), t0.Add(5*hour), sub))
	// Signed by another repository's workflow: not this repository's gate.
	e.ship(app, "v5-foreign-signer", t0.Add(7*hour), agent, e.decision(t, "acme/billing", "allow", "production", t0.Add(7*hour), t0.Add(8*hour), sub))

	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	e.deploy(app, sha('a'), t0.Add(20*time.Minute), e.decision(t, app, "allow", "production", t0, t0.Add(hour), commitSubject(sha('a'))))
	e.deploy(app, sha('b'), t0.Add(2*hour), e.decision(t, app, "allow", "production", t0, t0.Add(hour), commitSubject(sha('b'))))
	revoked := e.decision(t, app, "allow", "production", t0.Add(3*hour), t0.Add(4*hour), commitSubject(sha('c')))
	e.deploy(app, sha('c'), t0.Add(3*hour+time.Minute), revoked, e.revocation(t, app, ".github/workflows/promote.yml", revoked, "QA token leaked"))
	ignored := e.decision(t, app, "allow", "production", t0.Add(5*hour), t0.Add(6*hour), commitSubject(sha('d')))
	e.deploy(app, sha('d'), t0.Add(5*hour+time.Minute), ignored, e.revocation(t, app, ".github/workflows/other.yml", ignored, "not mine to revoke"))
	older := e.decision(t, app, "allow", "production", t0.Add(8*hour), t0.Add(10*hour), commitSubject(sha('e')))
	newer := e.decision(t, app, "allow", "production", t0.Add(9*hour), t0.Add(10*hour), commitSubject(sha('e')))
	e.deploy(app, sha('e'), t0.Add(8*hour+time.Minute), older, newer) // deployed on the older, superseded later
	e.deploy(app, sha('f'), t0.Add(11*hour), e.decision(t, app, "deny", "production", t0.Add(11*hour), t0.Add(12*hour), commitSubject(sha('f'))))

	const billing = "acme/billing"
	e.ship(billing, "v9", t0.Add(hour), agent, e.decision(t, billing, "allow", "production", t0, t0.Add(2*hour), sub))
	e.deploy(billing, sha('9'), t0.Add(hour), e.decision(t, billing, "allow", "production", t0, t0.Add(2*hour), commitSubject(sha('9'))))
}

func TestAuditOrganization(t *testing.T) {
	e := newAuditEnv(t)
	e.seedOrg(t)
	code, out, errs := e.audit(t, "--org", "acme", "--format", "json")
	if code != ExitDeny {
		t.Fatalf("exit %d, expected 1 (not everything is covered)\n%s%s", code, out, errs)
	}
	var j auditJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	for _, tc := range []struct{ kind, ref, status, reason string }{
		{"release", "v1-covered", "covered", ""},
		{"release", "v2-no-decision", "uncovered", "no decision found"},
		{"release", "v3-staging-only", "uncovered", `environment ["staging"] only`},
		{"release", "v4-expired", "expired", "decision expired: notAfter"},
		{"release", "v5-foreign-signer", "failed", "acme/billing"},
		{"release", "v9", "covered", ""},
	} {
		status, reasons := j.status(tc.kind, tc.ref)
		if status != tc.status || !strings.Contains(reasons, tc.reason) {
			t.Errorf("%s %s: expected %s naming %q, got %s %q", tc.kind, tc.ref, tc.status, tc.reason, status, reasons)
		}
	}
	for _, tc := range []struct{ commit, status, reason string }{
		{"a", "covered", ""},
		{"b", "expired", "decision expired: notAfter"},
		{"c", "revoked", "QA token leaked"},
		{"d", "covered", "ignored revocation"},
		// Deployed on the older; the newer came later: covered by the older.
		{"e", "covered", ""},
		{"f", "failed", "deny"},
		{"9", "covered", ""},
	} {
		status, reasons := j.status("deployment", strings.Repeat(tc.commit, 40))
		if status != tc.status || !strings.Contains(reasons, tc.reason) {
			t.Errorf("deployment of %s…: expected %s naming %q, got %s %q", tc.commit, tc.status, tc.reason, status, reasons)
		}
	}
	s := j.Summary
	if s.Total != 13 || s.Covered != 6 || s.Uncovered != 2 || s.Revoked != 1 || s.Expired != 2 || s.Failed != 2 {
		t.Errorf("summary: %+v", s)
	}

	// The table: what is not covered first, and the same exit.
	code, table, _ := e.audit(t, "--org", "acme", "--quiet")
	if code != ExitDeny || !strings.HasPrefix(strings.Split(table, "\n")[1], "uncovered") && !strings.HasPrefix(strings.Split(table, "\n")[1], "expired") &&
		!strings.HasPrefix(strings.Split(table, "\n")[1], "revoked") && !strings.HasPrefix(strings.Split(table, "\n")[1], "failed") {
		t.Errorf("table: exit %d, expected problems first\n%s", code, table)
	}
	if !strings.Contains(table, "13 release(s) and deployment(s) in 2 repositories: 6 covered") {
		t.Errorf("table summary:\n%s", table)
	}
	// One covered repository alone passes.
	if code, out, errs := e.audit(t, "--repo", "acme/billing"); code != ExitAllow {
		t.Errorf("acme/billing: exit %d\n%s%s", code, out, errs)
	}
	// --since leaves out what came before.
	if code, out, errs := e.audit(t, "--repo", "acme/support-agent", "--since", e.t0.Add(12*time.Hour).Format(time.RFC3339)); code != ExitAllow ||
		!strings.Contains(out, "0 release(s) and deployment(s)") {
		t.Errorf("--since after everything: exit %d\n%s%s", code, out, errs)
	}
}

// A second run with --state asks again, conditionally: unchanged answers are
// 304s, which GitHub does not count against the rate limit.
func TestAuditSecondRunIsConditional(t *testing.T) {
	e := newAuditEnv(t)
	e.seedOrg(t)
	state := t.TempDir()
	if code, out, errs := e.audit(t, "--org", "acme", "--state", state); code != ExitDeny {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errs)
	}
	before, n304 := len(e.sim.Requests()), e.sim.NotModified()
	code, out, errs := e.audit(t, "--org", "acme", "--state", state)
	if code != ExitDeny {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errs)
	}
	reqs := e.sim.RequestsSince(before, "")
	got304 := e.sim.NotModified() - n304
	var lists int
	for _, r := range reqs {
		if !strings.Contains(r.Route, "/attestations/") {
			lists++
		}
	}
	if lists == 0 || got304 < lists {
		t.Errorf("second run: %d requests, %d of them beside the attestation store, %d answered 304", len(reqs), lists, got304)
	}
	for _, r := range reqs {
		if strings.Contains(r.Route, "releases/assets") {
			t.Errorf("second run downloaded a bundle again: %s %s", r.Method, r.Path)
		}
	}
	if !strings.Contains(errs, "answered 304") {
		t.Errorf("stderr does not report the 304s:\n%s", errs)
	}
}

// The rate limit runs out mid-run: exit 3 saying so, and the same --state
// finishes the run once a fresh budget is there.
func TestAuditRateLimitExhaustedResumes(t *testing.T) {
	e := newAuditEnv(t, githubsim.WithRateLimit(12))
	e.seedOrg(t)
	state := t.TempDir()
	code, out, errs := e.audit(t, "--org", "acme", "--state", state, "--max-wait", "0s", "--concurrency", "1")
	if code != ExitOperational || !strings.Contains(errs, "rate limit") || !strings.Contains(errs, "same --state") {
		t.Fatalf("exhausted: exit %d, expected 3 naming the rate limit and --state\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, e.sim.JobToken()) {
		t.Error("the token is in the output")
	}
	fresh := "ghs_fresh_budget_token"
	e.sim.AddToken(fresh, githubsim.DefaultJobPermissions...)
	e.env["GITHUB_TOKEN"] = fresh
	before := e.sim.NotModified()
	code, out, errs = e.audit(t, "--org", "acme", "--state", state, "--format", "json")
	if code != ExitDeny {
		t.Fatalf("resumed: exit %d\n%s%s", code, out, errs)
	}
	var j auditJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Summary.Total != 13 {
		t.Errorf("resumed: %v %+v", err, j.Summary)
	}
	if e.sim.NotModified() == before {
		t.Error("the resumed run asked again for what the first had read, unconditionally")
	}
}

func TestAuditBadFlags(t *testing.T) {
	e := newAuditEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--org ORG or --repo"},
		{[]string{"--org", "acme", "--repo", "acme/x"}, "not both"},
		{[]string{"--repo", "acme"}, "--repo"},
		{[]string{"--repo", "acme/x", "--since", "yesterday"}, "--since"},
		{[]string{"--repo", "acme/x", "--format", "pdf"}, "--format"},
		{[]string{"--repo", "acme/x", "--concurrency", "0"}, "--concurrency"},
		{[]string{"--repo", "acme/x", "--policy-digest", "sha256:nothex"}, "--policy-digest"},
		{[]string{"--repo", "acme/x", "--signer-workflow", "not a workflow"}, "--signer-workflow"},
		{[]string{"--repo", "acme/x", "--revoker-oidc-issuer", "https://x"}, "--revoker-oidc-issuer"},
		{[]string{"--repo", "acme/x", "--bogus"}, "bogus"},
	} {
		before := len(e.sim.Requests())
		code, _, errs := e.audit(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, expected 2 naming %q\n%s", tc.args, code, tc.want, errs)
		}
		if n := len(e.sim.Requests()) - before; n != 0 {
			t.Errorf("%q: %d request(s) before refusing", tc.args, n)
		}
	}
	// No signer workflow pinned at all.
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"audit", "--repo", "acme/x"}, func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != ExitUsage || !strings.Contains(errb.String(), "--signer-workflow") {
		t.Errorf("no --signer-workflow: exit %d\n%s", code, errb.String())
	}
}

// The auditor's page, rendered by a real browser: its counts are the JSON's,
// what is not covered is listed first, and it asks nothing of the network.
func TestAuditHTMLRendersInChromium(t *testing.T) {
	chromium := testsvc.ChromiumBinary(t)
	e := newAuditEnv(t)
	e.seedOrg(t)
	code, out, errs := e.audit(t, "--org", "acme", "--format", "json", "--quiet")
	if code != ExitDeny {
		t.Fatalf("json: exit %d\n%s", code, errs)
	}
	var j auditJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "audit.html")
	if code, _, errs := e.audit(t, "--org", "acme", "--format", "html", "--out", page, "--quiet"); code != ExitDeny {
		t.Fatalf("html: exit %d\n%s", code, errs)
	}
	profile := t.TempDir()
	run := func(args ...string) []byte {
		cmd := exec.Command(chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir=" + profile, "--window-size=1280,1600"}, args...)...)
		cmd.Stderr = io.Discard
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return b
	}
	dom := string(run("--dump-dom", "file://"+page))
	s := j.Summary
	for id, want := range map[string]int{"total": s.Total, "covered": s.Covered, "uncovered": s.Uncovered,
		"revoked": s.Revoked, "expired": s.Expired, "failed": s.Failed} {
		m := regexp.MustCompile(`id="` + id + `"><span>[^<]*</span><b>(\d+)</b>`).FindStringSubmatch(dom)
		if m == nil || m[1] != strconv.Itoa(want) {
			t.Errorf("rendered %s: expected %d, got %v", id, want, m)
		}
	}
	problems := regexp.MustCompile(`(?s)<table id="problems">(.*?)</table>`).FindStringSubmatch(dom)
	if problems == nil || strings.Count(problems[1], `class="problem"`) != s.Total-s.Covered {
		t.Errorf("the not-covered table does not list the %d problems", s.Total-s.Covered)
	}
	if n := strings.Count(dom, `class="bar-covered"`); n == 0 {
		t.Error("no coverage chart")
	}
	shot := filepath.Join(t.TempDir(), "audit.png")
	if p := os.Getenv("AUDIT_SHOT"); p != "" {
		shot = p
	}
	run("--screenshot="+shot, "file://"+page)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot: %v (a rendered page is larger than %d bytes)", err, 10_000)
	}
	raw, _ := os.ReadFile(page)
	if bytes.Contains(raw, []byte("<script")) || !bytes.Contains(raw, []byte("default-src 'none'")) {
		t.Error("the page carries a script, or no policy that keeps it off the network")
	}
}
