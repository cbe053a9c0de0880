package verify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// fixture is one in-process Sigstore, shared by the tests of this package
// (key generation is the slow part).
type fixture struct {
	ss      *verifytest.Sigstore
	root    []byte
	signer  verifytest.Signer
	artPath string
	art     []byte
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		f := &fixture{signer: verifytest.GitHubWorkflow("acme/agent", ".github/workflows/promote.yml", "refs/heads/main")}
		if f.ss, fixErr = verifytest.New(); fixErr != nil {
			return
		}
		if f.root, fixErr = f.ss.TrustedRoot(); fixErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "verify-fixture")
		if err != nil {
			fixErr = err
			return
		}
		f.art = []byte("agent build 1.2.3\n")
		f.artPath = filepath.Join(dir, "agent.tar")
		fixErr = os.WriteFile(f.artPath, f.art, 0o600)
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

var allowUntil = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// decision is a predicate as internal/attest writes it.
func decision(verdict string, issuedAt, notAfter time.Time) attest.Predicate {
	return attest.Predicate{
		Decision: verdict,
		Reasons:  []policy.Reason{{Control: "C4", Message: "approved by @alice"}},
		Validity: attest.Validity{IssuedAt: issuedAt.UTC().Truncate(time.Second), NotAfter: notAfter.UTC().Truncate(time.Second)},
	}
}

// attest signs a statement about content and writes the bundle to dir.
func (f *fixture) attest(t testing.TB, dir, name string, signer verifytest.Signer, predicateType string, predicate any, content []byte) string {
	t.Helper()
	st, err := verifytest.Statement(predicateType, predicate, verifytest.Subject("agent.tar", content))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ss.Attest(signer, st)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) config() Config {
	return Config{TrustedRoots: f.root, Identity: Identity{Repo: "acme/agent"}}
}

func run(t *testing.T, cfg Config, bundles []string, arts ...Artifact) *Report {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rep, err := v.Verify(context.Background(), bundles, arts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Invariant of every report: unverified means at least one error.
	for _, b := range rep.Bundles {
		if !b.Verified && len(b.Errors) == 0 {
			t.Errorf("%s: unverified without an error", b.Bundle)
		}
		if b.Verified && len(b.Errors) > 0 {
			t.Errorf("%s: verified with errors %v", b.Bundle, b.Errors)
		}
	}
	return rep
}

func fileArtifact(t *testing.T, p string) Artifact {
	t.Helper()
	a, err := ArtifactFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func errorsOf(rep *Report) string {
	var all []string
	for _, b := range rep.Bundles {
		all = append(all, b.Errors...)
	}
	for _, a := range rep.Artifacts {
		all = append(all, a.Errors...)
	}
	return strings.Join(append(all, rep.Errors...), "; ")
}

func TestDecisions(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	now := time.Now()
	issued := now.Add(-time.Minute)
	art := fileArtifact(t, f.artPath)
	other := []byte("another build\n")

	for _, tc := range []struct {
		name        string
		verdict     string
		issuedAt    time.Time
		notAfter    time.Time
		content     []byte
		at          time.Time
		includeDeny bool
		ok          bool
		decision    string
		want        string
	}{
		{name: "allow", verdict: "allow", issuedAt: issued, notAfter: allowUntil, ok: true, decision: "allow"},
		{name: "deny", verdict: "deny", issuedAt: issued, notAfter: allowUntil, decision: "deny", want: "refused"},
		{name: "deny listed", verdict: "deny", issuedAt: issued, notAfter: allowUntil, includeDeny: true, decision: "deny", want: "no verified allow decision"},
		{name: "expired", verdict: "allow", issuedAt: issued.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour), decision: "allow", want: "decision expired"},
		{name: "valid at a past date", verdict: "allow", issuedAt: issued.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour), at: now.Add(-90 * time.Minute), ok: true, decision: "allow"},
		{name: "not yet issued at the date", verdict: "allow", issuedAt: issued, notAfter: allowUntil, at: now.Add(-24 * time.Hour), decision: "allow", want: "not yet issued"},
		{name: "unknown verdict", verdict: "maybe", issuedAt: issued, notAfter: allowUntil, want: `expected "allow" or "deny", got "maybe"`},
		{name: "other artifact", verdict: "allow", issuedAt: issued, notAfter: allowUntil, content: other, want: "no subject of the statement matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := f.art
			if tc.content != nil {
				content = tc.content
			}
			p := f.attest(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".json", f.signer, DecisionPredicateType, decision(tc.verdict, tc.issuedAt, tc.notAfter), content)
			cfg := f.config()
			cfg.At, cfg.IncludeDeny = tc.at, tc.includeDeny
			rep := run(t, cfg, []string{p}, art)
			if rep.Verified != tc.ok {
				t.Fatalf("verified=%v, expected %v: %s", rep.Verified, tc.ok, errorsOf(rep))
			}
			if tc.want != "" && !strings.Contains(errorsOf(rep), tc.want) {
				t.Errorf("errors %q lack %q", errorsOf(rep), tc.want)
			}
			r := rep.Bundles[0]
			if r.Decision != tc.decision {
				t.Errorf("decision %q, expected %q", r.Decision, tc.decision)
			}
			if tc.ok && (r.NotAfter == nil || !r.NotAfter.Equal(tc.notAfter.Truncate(time.Second)) || len(r.Reasons) != 1 || r.Reasons[0].Control != "C4") {
				t.Errorf("record %+v", r)
			}
			if tc.ok && (r.Identity == nil || r.Identity.SourceRepository != "https://github.com/acme/agent" || r.SignedAt == nil) {
				t.Errorf("identity %+v signedAt %v", r.Identity, r.SignedAt)
			}
		})
	}
}

func TestPredicateType(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	art := fileArtifact(t, f.artPath)
	slsa := f.attest(t, dir, "slsa.json", f.signer, "https://slsa.dev/provenance/v1", map[string]any{"buildDefinition": map[string]any{}}, f.art)
	msg, err := f.ss.SignMessage(f.signer, f.art)
	if err != nil {
		t.Fatal(err)
	}
	msgPath := filepath.Join(dir, "blob.sigstore.json")
	os.WriteFile(msgPath, msg, 0o600)
	noValidity := f.attest(t, dir, "novalidity.json", f.signer, DecisionPredicateType, map[string]any{"decision": "allow"}, f.art)
	noIssued := f.attest(t, dir, "noissued.json", f.signer, DecisionPredicateType, map[string]any{"decision": "allow", "validity": map[string]any{"notAfter": "2030-01-01T00:00:00Z"}}, f.art)
	inverted := f.attest(t, dir, "inverted.json", f.signer, DecisionPredicateType, decision("allow", allowUntil, time.Now().Add(-time.Hour)), f.art)
	notObject := f.attest(t, dir, "notobject.json", f.signer, DecisionPredicateType, []string{"allow"}, f.art)

	for _, tc := range []struct {
		name   string
		bundle string
		cfg    func(*Config)
		ok     bool
		want   string
	}{
		{"other type by default", slsa, func(*Config) {}, false, `predicate type: expected "` + DecisionPredicateType + `", got "https://slsa.dev/provenance/v1"`},
		{"other type named", slsa, func(c *Config) { c.PredicateType = "https://slsa.dev/provenance/v1" }, true, ""},
		{"other type with any", slsa, func(c *Config) { c.Any = true }, true, ""},
		{"message signature by default", msgPath, func(*Config) {}, false, "message signature, not an attestation"},
		{"message signature with any", msgPath, func(c *Config) { c.Any = true }, true, ""},
		{"decision without notAfter", noValidity, func(*Config) {}, false, "no validity.notAfter"},
		{"decision checks still run with any", noValidity, func(c *Config) { c.Any = true }, false, "no validity.notAfter"},
		{"decision without issuedAt", noIssued, func(*Config) {}, false, "no validity.issuedAt"},
		{"decision window inverted", inverted, func(*Config) {}, false, "is before issuedAt"},
		{"decision predicate not an object", notObject, func(*Config) {}, false, "decision predicate: json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			tc.cfg(&cfg)
			for mode, a := range map[string]Artifact{"artifact": art, "digest": digestOfFile(t, f.artPath)} {
				rep := run(t, cfg, []string{tc.bundle}, a)
				if rep.Verified != tc.ok || !strings.Contains(errorsOf(rep), tc.want) {
					t.Errorf("%s mode: verified=%v (expected %v), errors %q (expected %q)", mode, rep.Verified, tc.ok, errorsOf(rep), tc.want)
				}
			}
		})
	}
}

func TestIdentityPolicy(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	art := fileArtifact(t, f.artPath)
	selfHosted := f.signer
	selfHosted.RunnerEnvironment = "self-hosted"
	reusable := verifytest.GitHubWorkflow("acme/shared-workflows", ".github/workflows/airlock.yml", "refs/tags/v2")
	reusable.SourceRepositoryURI, reusable.SourceRepositoryRef = "https://github.com/acme/agent", "refs/heads/main"
	pred := decision("allow", time.Now().Add(-time.Minute), allowUntil)
	main := f.attest(t, dir, "main.json", f.signer, DecisionPredicateType, pred, f.art)
	sh := f.attest(t, dir, "selfhosted.json", selfHosted, DecisionPredicateType, pred, f.art)
	reu := f.attest(t, dir, "reusable.json", reusable, DecisionPredicateType, pred, f.art)
	wf := "https://github.com/acme/agent/.github/workflows/promote.yml@refs/heads/main"

	for _, tc := range []struct {
		name   string
		bundle string
		id     Identity
		want   string // "" means it verifies
	}{
		{"exact SAN and issuer", main, Identity{SAN: wf, Issuer: verifytest.GitHubIssuer}, ""},
		{"wrong SAN", main, Identity{SAN: strings.Replace(wf, "main", "dev", 1), Issuer: verifytest.GitHubIssuer}, "expected SAN value"},
		{"wrong issuer", main, Identity{SAN: wf, Issuer: "https://accounts.google.com"}, "expected issuer value"},
		{"anchored SAN regexp", main, Identity{SANRegexp: `https://github\.com/acme/agent/.*`, Issuer: verifytest.GitHubIssuer}, ""},
		{"SAN regexp is anchored at the start", main, Identity{SANRegexp: `github\.com/acme/agent/.*`, Issuer: verifytest.GitHubIssuer}, "expected SAN value to match regex"},
		{"SAN regexp is anchored at the end", main, Identity{SANRegexp: `https://github\.com/acme/agent/\.github/workflows/promote\.yml`, Issuer: verifytest.GitHubIssuer}, "expected SAN value to match regex"},
		{"issuer regexp", main, Identity{SAN: wf, IssuerRegexp: `https://token\.actions\.githubusercontent\.com`}, ""},
		{"issuer regexp anchored", main, Identity{SAN: wf, IssuerRegexp: `token\.actions`}, "expected issuer value to match regex"},
		{"repo", main, Identity{Repo: "acme/agent"}, ""},
		{"repo is not a prefix", main, Identity{Repo: "acme/age"}, "expected SAN value to match regex"},
		{"other repo", main, Identity{Repo: "acme/other"}, "expected SAN value to match regex"},
		{"signer workflow any ref", main, Identity{SignerWorkflow: "acme/agent/.github/workflows/promote.yml"}, ""},
		{"signer workflow exact", main, Identity{SignerWorkflow: "acme/agent/.github/workflows/promote.yml@refs/heads/main"}, ""},
		{"signer workflow other ref", main, Identity{SignerWorkflow: "acme/agent/.github/workflows/promote.yml@refs/heads/dev"}, "expected SAN value"},
		{"signer workflow other file", main, Identity{SignerWorkflow: "acme/agent/.github/workflows/promote.yaml"}, "expected SAN value to match regex"},
		{"source ref", main, Identity{Repo: "acme/agent", SourceRef: "refs/heads/main"}, ""},
		{"other source ref", main, Identity{Repo: "acme/agent", SourceRef: "refs/tags/v1"}, `source ref: expected "refs/tags/v1", got "refs/heads/main"`},
		{"github-hosted runner", main, Identity{Repo: "acme/agent", DenySelfHostedRunners: true}, ""},
		{"self-hosted runner denied", sh, Identity{Repo: "acme/agent", DenySelfHostedRunners: true}, `runner environment: expected "github-hosted", got "self-hosted"`},
		{"self-hosted runner allowed", sh, Identity{Repo: "acme/agent"}, ""},
		{"reusable workflow needs its name", reu, Identity{Repo: "acme/agent"}, "expected SAN value to match regex"},
		{"reusable workflow named", reu, Identity{Repo: "acme/agent", SignerWorkflow: "acme/shared-workflows/.github/workflows/airlock.yml"}, ""},
		{"reusable workflow, caller repo checked", reu, Identity{Repo: "acme/other", SignerWorkflow: "acme/shared-workflows/.github/workflows/airlock.yml"}, `source repository: expected "https://github.com/acme/other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			cfg.Identity = tc.id
			rep := run(t, cfg, []string{tc.bundle}, art)
			if rep.Verified != (tc.want == "") || !strings.Contains(errorsOf(rep), tc.want) {
				t.Fatalf("verified=%v, errors %q, expected %q", rep.Verified, errorsOf(rep), tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	f := newFixture(t)
	key, err := verifytest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := key.PublicPEM()
	for _, tc := range []struct {
		name string
		cfg  Config
		kind fault.Kind
		want string
	}{
		{"no trust", Config{Identity: Identity{Repo: "a/b"}}, fault.KindUsage, "no trust material"},
		{"no identity", Config{TrustedRoots: f.root}, fault.KindUsage, "name the signer"},
		{"SAN without issuer", Config{TrustedRoots: f.root, Identity: Identity{SAN: "x@example.com"}}, fault.KindUsage, "--certificate-oidc-issuer"},
		{"SAN twice", Config{TrustedRoots: f.root, Identity: Identity{SAN: "a", SANRegexp: "b", Issuer: "i"}}, fault.KindUsage, "not both"},
		{"bad regexp", Config{TrustedRoots: f.root, Identity: Identity{SANRegexp: "(", Issuer: "i"}}, fault.KindUsage, "identity"},
		{"bad repo", Config{TrustedRoots: f.root, Identity: Identity{Repo: "acme"}}, fault.KindUsage, "--repo"},
		{"bad signer workflow", Config{TrustedRoots: f.root, Identity: Identity{SignerWorkflow: "acme/agent"}}, fault.KindUsage, "--signer-workflow"},
		{"short source ref", Config{TrustedRoots: f.root, Identity: Identity{Repo: "a/b", SourceRef: "main"}}, fault.KindUsage, "--source-ref"},
		{"key with identity", Config{Key: pem, Identity: Identity{Repo: "a/b"}}, fault.KindUsage, "not with --key"},
		{"type and any", Config{TrustedRoots: f.root, Identity: Identity{Repo: "a/b"}, Any: true, PredicateType: "x"}, fault.KindUsage, "not both"},
		{"root not JSON", Config{TrustedRoots: []byte("{nope"), Identity: Identity{Repo: "a/b"}}, fault.KindConfig, "trusted root 1"},
		{"root wrong media type", Config{TrustedRoots: []byte(`{"mediaType":"application/json"}`), Identity: Identity{Repo: "a/b"}}, fault.KindConfig, "trusted root 1"},
		{"second root broken", Config{TrustedRoots: append(append([]byte{}, f.root...), []byte("\n{\"mediaType\": 1}\n")...), Identity: Identity{Repo: "a/b"}}, fault.KindConfig, "trusted root 2"},
		{"empty root file", Config{TrustedRoots: []byte("  \n"), Identity: Identity{Repo: "a/b"}}, fault.KindConfig, "no root"},
		{"key not PEM", Config{Key: []byte("ssh-ed25519 AAAA")}, fault.KindConfig, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || fault.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (kind %v), expected kind %v containing %q", err, fault.KindOf(err), tc.kind, tc.want)
			}
		})
	}
}

func TestKeySigned(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	key, err := verifytest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := verifytest.NewKey()
	pem, _ := key.PublicPEM()
	otherPEM, _ := other.PublicPEM()
	st, _ := verifytest.Statement(DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), verifytest.Subject("agent.tar", f.art))
	b, err := f.ss.AttestWithKey(key, st)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "keyed.json")
	os.WriteFile(p, b, 0o600)
	keyless := f.attest(t, dir, "keyless.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	art := fileArtifact(t, f.artPath)

	// With the root: its TSA threshold applies to key-signed bundles too.
	rep := run(t, Config{TrustedRoots: f.root, Key: pem}, []string{p}, art)
	if !rep.Verified || rep.Bundles[0].Identity == nil || !strings.HasPrefix(rep.Bundles[0].Identity.PublicKey, "sha256:") {
		t.Fatalf("with root and key: %s %+v", errorsOf(rep), rep.Bundles[0])
	}
	// A key alone (air-gapped): no time source to check.
	if rep := run(t, Config{Key: pem}, []string{p}, art); !rep.Verified {
		t.Fatalf("key only: %s", errorsOf(rep))
	}
	if rep := run(t, Config{Key: otherPEM}, []string{p}, art); rep.Verified {
		t.Fatal("verified with another key")
	}
	// A certificate-signed bundle does not pass as key-signed, nor the reverse.
	if rep := run(t, Config{TrustedRoots: f.root, Key: pem}, []string{keyless}, art); rep.Verified || !strings.Contains(errorsOf(rep), "expected key signature") {
		t.Fatalf("keyless bundle under --key: %s", errorsOf(rep))
	}
	if rep := run(t, f.config(), []string{p}, art); rep.Verified {
		t.Fatal("key-signed bundle verified under an identity policy")
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	pred := decision("allow", time.Now().Add(-time.Minute), allowUntil)
	good := f.attest(t, dir, "a-good.json", f.signer, DecisionPredicateType, pred, f.art)
	goodBytes, _ := os.ReadFile(good)
	os.WriteFile(filepath.Join(dir, "b-truncated.json"), goodBytes[:len(goodBytes)/2], 0o600)
	os.WriteFile(filepath.Join(dir, "c-notes.txt"), []byte("not a bundle, not read"), 0o600)
	// JSONL: two good lines around a bad one and a blank line.
	os.WriteFile(filepath.Join(dir, "d-many.jsonl"), []byte(string(goodBytes)+"\n\nnot json\n"+string(goodBytes)+"\n"), 0o600)
	sub := filepath.Join(dir, "e-sub")
	os.Mkdir(sub, 0o700)
	f.attest(t, sub, "nested.sigstore.json", f.signer, DecisionPredicateType, pred, f.art)
	os.Symlink(good, filepath.Join(dir, "f-link.json"))

	cfg := f.config()
	cfg.Workers = 3
	rep := run(t, cfg, []string{dir}, fileArtifact(t, f.artPath))
	var got []string
	for _, b := range rep.Bundles {
		got = append(got, strings.TrimPrefix(b.Bundle, dir+"/")+"="+map[bool]string{true: "ok", false: "fail"}[b.Verified])
	}
	want := "a-good.json=ok b-truncated.json=fail d-many.jsonl:1=ok d-many.jsonl:3=fail d-many.jsonl:4=ok e-sub/nested.sigstore.json=ok"
	if strings.Join(got, " ") != want {
		t.Fatalf("records\n got  %s\n want %s", strings.Join(got, " "), want)
	}
	if rep.Verified {
		t.Fatal("a batch with bad bundles verified")
	}
	if !rep.Artifacts[0].Verified || len(rep.Artifacts[0].Bundles) != 4 {
		t.Fatalf("artifact %+v", rep.Artifacts[0])
	}
	if !strings.Contains(rep.Bundles[1].Errors[0], "parse bundle") {
		t.Errorf("truncated: %v", rep.Bundles[1].Errors)
	}

	// The good ones alone verify; an artifact nobody attests fails the run.
	rep = run(t, cfg, []string{good, filepath.Join(sub, "nested.sigstore.json")}, fileArtifact(t, f.artPath))
	if !rep.Verified {
		t.Fatalf("good bundles: %s", errorsOf(rep))
	}
	stray, _ := ParseDigest("sha256:" + strings.Repeat("ab", 32))
	rep = run(t, cfg, []string{good}, fileArtifact(t, f.artPath), stray)
	if rep.Verified || rep.Artifacts[1].Verified || !strings.Contains(rep.Artifacts[1].Errors[0], "no attestation found") {
		t.Fatalf("stray artifact: %+v", rep.Artifacts)
	}
	// An empty directory is "no attestation found", not success.
	empty := t.TempDir()
	rep = run(t, cfg, []string{empty}, fileArtifact(t, f.artPath))
	if rep.Verified || !strings.Contains(errorsOf(rep), "no attestation found") {
		t.Fatalf("empty dir: %+v", rep)
	}
}

func TestVerifyRunErrors(t *testing.T) {
	f := newFixture(t)
	v, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	art := fileArtifact(t, f.artPath)
	if _, err := v.Verify(context.Background(), []string{filepath.Join(t.TempDir(), "missing.json")}, []Artifact{art}); fault.KindOf(err) != fault.KindUsage {
		t.Errorf("missing bundle path: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{f.artPath}, nil); fault.KindOf(err) != fault.KindUsage {
		t.Errorf("no artifact: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, []string{f.artPath}, []Artifact{art}); fault.KindOf(err) != fault.KindOperational || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestSeveralRoots: a JSONL of roots verifies bundles of either deployment
// with that deployment's own thresholds.
func TestSeveralRoots(t *testing.T) {
	f := newFixture(t)
	other, err := verifytest.New()
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _ := other.TrustedRoot()
	dir := t.TempDir()
	pred := decision("allow", time.Now().Add(-time.Minute), allowUntil)
	a := f.attest(t, dir, "a.json", f.signer, DecisionPredicateType, pred, f.art)
	ofix := &fixture{ss: other}
	b := ofix.attest(t, dir, "b.json", f.signer, DecisionPredicateType, pred, f.art)
	art := fileArtifact(t, f.artPath)

	both := f.config()
	both.TrustedRoots = []byte(string(f.root) + "\n" + string(otherRoot) + "\n")
	if rep := run(t, both, []string{a, b}, art); !rep.Verified {
		t.Fatalf("two roots: %s", errorsOf(rep))
	}
	one := f.config()
	rep := run(t, one, []string{a, b}, art)
	if rep.Verified || rep.Bundles[0].Verified != true || rep.Bundles[1].Verified {
		t.Fatalf("one root: %s", errorsOf(rep))
	}
}

// TestGitCommitSubject: a decision about a commit (the gate's subject when no
// release asset matched) verifies against --digest gitCommit:SHA.
func TestGitCommitSubject(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	sha := strings.Repeat("3f", 20)
	st, err := verifytest.Statement(DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil),
		map[string]any{"name": "acme/agent@refs/tags/v1.2.3", "digest": map[string]string{"gitCommit": sha}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ss.Attest(f.signer, st)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "commit.sigstore.json")
	os.WriteFile(p, b, 0o600)
	for _, tc := range []struct {
		digest string
		ok     bool
	}{
		{"gitCommit:" + sha, true},
		{"gitCommit:" + strings.Repeat("3e", 20), false},
		{"sha256:" + strings.Repeat("3f", 32), false},
	} {
		a, err := ParseDigest(tc.digest)
		if err != nil {
			t.Fatal(err)
		}
		if rep := run(t, f.config(), []string{p}, a); rep.Verified != tc.ok {
			t.Errorf("%s: verified=%v, expected %v: %s", tc.digest, rep.Verified, tc.ok, errorsOf(rep))
		}
	}
	for _, bad := range []string{"gitCommit:abc", "md5:" + sha, "sha256:" + sha, "sha256", "SHA2_256:zz"} {
		if _, err := ParseDigest(bad); fault.KindOf(err) != fault.KindUsage {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestArtifactFailure: an artifact whose digest could not be learned fails
// the run next to one a verified bundle covers; it is never dropped.
func TestArtifactFailure(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	p := f.attest(t, dir, "a.sigstore.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	odd := Artifact{Name: "odd.tar", Failure: `release asset "odd.tar": GitHub reported digest "md5:00"`}
	rep := run(t, f.config(), []string{p}, fileArtifact(t, f.artPath), odd)
	if rep.Verified || len(rep.Artifacts) != 2 || !rep.Bundles[0].Verified {
		t.Fatalf("expected a verified bundle and a failed run, got %+v", rep)
	}
	good, bad := rep.Artifacts[0], rep.Artifacts[1]
	if !good.Verified || bad.Verified || bad.Artifact != "odd.tar" || bad.Digest != "" || strings.Join(bad.Errors, ";") != odd.Failure {
		t.Fatalf("artifacts: %+v", rep.Artifacts)
	}
	if _, n := rep.Failures(); n != 1 {
		t.Fatalf("expected 1 failed artifact, got %d", n)
	}
}

// TestVerifyBundlesReadError: a bundle that could not be read (Err set, as
// for an attestation whose blob does not decompress) is a failed record with
// that error, whatever Data holds, while the others in the batch still verify.
func TestVerifyBundlesReadError(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	good, err := os.ReadFile(f.attest(t, dir, "good.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art))
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	readErr := errors.New("attestation #2: not a snappy-compressed bundle")
	for _, tc := range []struct {
		name string
		data []byte // what Data holds next to Err: never verified
	}{
		{"no data", nil},
		{"valid data ignored", good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := v.VerifyBundles(t.Context(), "test", []Bundle{{Name: "one", Data: good}, {Name: "two", Data: tc.data, Err: readErr}}, []Artifact{fileArtifact(t, f.artPath)})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verified || len(rep.Bundles) != 2 {
				t.Fatalf("expected an unverified report of 2 records, got verified=%v, %d records", rep.Verified, len(rep.Bundles))
			}
			if !rep.Bundles[0].Verified {
				t.Errorf("the readable bundle did not verify: %v", rep.Bundles[0].Errors)
			}
			if b := rep.Bundles[1]; b.Verified || len(b.Errors) != 1 || b.Errors[0] != readErr.Error() {
				t.Errorf("expected record two to fail with %q, got verified=%v %q", readErr, b.Verified, b.Errors)
			}
		})
	}
}
