package verify

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// revoke signs the revocation of the decision bundle at decisionPath as
// signer and writes it to dir.
func (f *fixture) revoke(t testing.TB, dir, name, decisionPath string, signer verifytest.Signer, reason string, at time.Time) string {
	t.Helper()
	b, err := os.ReadFile(decisionPath)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := attest.InspectDecision(b)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.NewRevocationStatement(ref, attest.RevocationPredicate{
		Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType},
		Reason:  reason, RevokedAt: at.UTC().Truncate(time.Second), Revoker: attest.Revoker{Identity: signer.SAN},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.ss.Attest(signer, st)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func production(verdict string, issuedAt time.Time) attest.Predicate {
	p := decision(verdict, issuedAt, allowUntil)
	p.Issuer.Environment = "production"
	return p
}

func recordOf(t *testing.T, rep *Report, name string) Record {
	t.Helper()
	for _, r := range rep.Bundles {
		if filepath.Base(r.Bundle) == name {
			return r
		}
	}
	t.Fatalf("no record %s in %+v", name, rep.Bundles)
	return Record{}
}

func TestRevokedDecisionFails(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	allow := f.attest(t, dir, "allow.json", f.signer, DecisionPredicateType, production("allow", time.Now().Add(-time.Hour)), f.art)
	art := fileArtifact(t, f.artPath)
	if rep := run(t, f.config(), []string{dir}, art); !rep.Verified {
		t.Fatalf("before the revocation: %s", errorsOf(rep))
	}
	revAt := time.Now().Add(-time.Minute)
	f.revoke(t, dir, "revocation.json", allow, f.signer, "QA token seen in production logs", revAt)

	rep := run(t, f.config(), []string{dir}, art)
	if rep.Verified || len(rep.Bundles) != 1 {
		t.Fatalf("revoked decision verified, or the revocation listed as a bundle: %+v", rep.Bundles)
	}
	r := recordOf(t, rep, "allow.json")
	want := fmt.Sprintf("revoked at %s by %s: QA token seen in production logs", revAt.UTC().Format(time.RFC3339), f.signer.SAN)
	if r.Verified || r.Revoked == nil || !strings.Contains(strings.Join(r.Errors, "; "), want) {
		t.Errorf("record %+v, expected error %q", r, want)
	}
	if len(rep.Revocations) != 1 || !rep.Revocations[0].Counted || rep.RevocationsRead != 1 {
		t.Errorf("revocations %+v", rep.Revocations)
	}
	if rep.Artifacts[0].Verified {
		t.Error("the artifact is still covered by a revoked decision")
	}

	// Auditing a time before the revocation: the decision counted then.
	cfg := f.config()
	cfg.At = revAt.Add(-10 * time.Second)
	if rep := run(t, cfg, []string{dir}, art); !rep.Verified || rep.Revocations[0].Counted || !strings.Contains(rep.Revocations[0].Errors[0], "after the time checked") {
		t.Errorf("--at before the revocation: verified=%v %+v", rep.Verified, rep.Revocations)
	}
}

func TestRevocationByAnotherSignerIsIgnored(t *testing.T) {
	f := newFixture(t)
	dir, revs := t.TempDir(), t.TempDir()
	allow := f.attest(t, dir, "allow.json", f.signer, DecisionPredicateType, production("allow", time.Now().Add(-time.Hour)), f.art)
	other := verifytest.GitHubWorkflow("mallory/agent", ".github/workflows/revoke.yml", "refs/heads/main")
	f.revoke(t, revs, "by-mallory.json", allow, other, "no reason at all", time.Now().Add(-time.Minute))
	art := fileArtifact(t, f.artPath)

	cfg := f.config()
	cfg.Revocations = []string{revs}
	rep := run(t, cfg, []string{dir}, art)
	if !rep.Verified {
		t.Fatalf("a revocation by another identity counted: %s", errorsOf(rep))
	}
	if len(rep.Revocations) != 1 || rep.Revocations[0].Counted || !strings.Contains(strings.Join(rep.Revocations[0].Errors, ";"), "is not the decision's signer") {
		t.Errorf("the ignored revocation is not reported: %+v", rep.Revocations)
	}

	// Naming that identity as a revoker makes it count.
	cfg.Revoker = Identity{Repo: "mallory/agent"}
	if rep := run(t, cfg, []string{dir}, art); rep.Verified || !rep.Revocations[0].Counted {
		t.Errorf("--revoker-workflow: verified=%v %+v", rep.Verified, rep.Revocations)
	}
	// And then the decision's own signer is not a revoker any more.
	f.revoke(t, revs, "by-owner.json", allow, f.signer, "owner", time.Now().Add(-time.Minute))
	cfg.Revoker = Identity{SignerWorkflow: "mallory/agent/.github/workflows/other.yml"}
	rep = run(t, cfg, []string{dir}, art)
	if !rep.Verified || len(rep.Revocations) != 2 {
		t.Errorf("revokers named, none matching: verified=%v %+v", rep.Verified, rep.Revocations)
	}
}

func TestTamperedRevocationIsIgnored(t *testing.T) {
	f := newFixture(t)
	dir, revs := t.TempDir(), t.TempDir()
	allow := f.attest(t, dir, "allow.json", f.signer, DecisionPredicateType, production("allow", time.Now().Add(-time.Hour)), f.art)
	p := f.revoke(t, revs, "rev.json", allow, f.signer, "the original reason", time.Now().Add(-time.Minute))
	raw, _ := os.ReadFile(p)
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), "the original reason", "a forged reason!!!!", 1)))
	forged, _ := json.Marshal(b)
	if err := os.WriteFile(p, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"garbage.json": "{not json", "decision-shaped.json": `{"dsseEnvelope":{"payload":"e30="}}`} {
		if err := os.WriteFile(filepath.Join(revs, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := f.config()
	cfg.Revocations = []string{revs}
	rep := run(t, cfg, []string{dir}, fileArtifact(t, f.artPath))
	if !rep.Verified {
		t.Fatalf("a tampered revocation counted: %s", errorsOf(rep))
	}
	var saw []string
	for _, r := range rep.Revocations {
		if r.Counted || len(r.Errors) == 0 {
			t.Errorf("%s: counted=%v errors=%v", r.Bundle, r.Counted, r.Errors)
		}
		saw = append(saw, filepath.Base(r.Bundle)+": "+strings.Join(r.Errors, ";"))
	}
	all := strings.Join(saw, "\n")
	if len(rep.Revocations) != 3 || !strings.Contains(all, "rev.json: ignored for") || !strings.Contains(all, "does not verify") {
		t.Errorf("revocations reported:\n%s", all)
	}
}

func TestSupersession(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	now := time.Now()
	f.attest(t, dir, "a-old.json", f.signer, DecisionPredicateType, production("allow", now.Add(-3*time.Hour)), f.art)
	newer := f.attest(t, dir, "b-new.json", f.signer, DecisionPredicateType, production("allow", now.Add(-2*time.Hour)), f.art)
	staging := decision("allow", now.Add(-time.Hour), allowUntil)
	staging.Issuer.Environment = "staging"
	f.attest(t, dir, "c-staging.json", f.signer, DecisionPredicateType, staging, f.art)
	art := fileArtifact(t, f.artPath)

	rep := run(t, f.config(), []string{dir}, art)
	if !rep.Verified {
		t.Fatalf("supersession alone failed the run: %s", errorsOf(rep))
	}
	if got := recordOf(t, rep, "a-old.json").SupersededBy; !strings.HasSuffix(got, "b-new.json") {
		t.Errorf("old decision superseded by %q", got)
	}
	if got := recordOf(t, rep, "b-new.json").SupersededBy + recordOf(t, rep, "c-staging.json").SupersededBy; got != "" {
		t.Errorf("newest or other environment superseded by %q", got)
	}

	cfg := f.config()
	cfg.Latest = true
	rep = run(t, cfg, []string{dir}, art)
	if rep.Verified || recordOf(t, rep, "a-old.json").Verified || !recordOf(t, rep, "b-new.json").Verified {
		t.Errorf("--latest: %s", errorsOf(rep))
	}
	if !strings.Contains(errorsOf(rep), "superseded by") || !rep.Artifacts[0].Verified {
		t.Errorf("--latest: %s", errorsOf(rep))
	}

	// A revoked allow supersedes nothing: the older one is the latest again.
	f.revoke(t, dir, "rev.json", newer, f.signer, "bad build", now.Add(-time.Minute))
	rep = run(t, cfg, []string{dir}, art)
	if !recordOf(t, rep, "a-old.json").Verified || recordOf(t, rep, "b-new.json").Verified {
		t.Errorf("--latest after revoking the newest: %s", errorsOf(rep))
	}
}

func TestRevocationConfigErrors(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.Revoker = Identity{SignerWorkflow: "not-a-workflow"}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "revoker") {
		t.Errorf("bad revoker: %v", err)
	}
	k, err := verifytest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := k.PublicPEM()
	if _, err := New(Config{TrustedRoots: f.root, Key: pem, Revoker: Identity{Repo: "acme/agent"}}); err == nil {
		t.Error("revoker flags with --key accepted")
	}
	cfg = f.config()
	cfg.Revocations = []string{filepath.Join(t.TempDir(), "missing")}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), []string{f.artPath}, []Artifact{fileArtifact(t, f.artPath)}); err == nil || !strings.Contains(err.Error(), "revocations") {
		t.Errorf("missing --revocations: %v", err)
	}
}

// TestIndexRevocationScanAgreesWithJSON: the quick payload scan and the
// JSON decoder it falls back to index a bundle the same way, however its
// JSON is spaced or escaped.
func TestIndexRevocationScanAgreesWithJSON(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	allow := f.attest(t, dir, "allow.json", f.signer, DecisionPredicateType, production("allow", time.Now()), f.art)
	raw, _ := os.ReadFile(f.revoke(t, dir, "rev.json", allow, f.signer, "r", time.Now()))
	want := indexRevocation("rev.json", raw)
	if want.err != nil || want.payload == "" {
		t.Fatalf("index: %+v", want)
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	spaced, _ := json.MarshalIndent(v, "", "   ")
	escaped := strings.Replace(string(raw), "/", `\/`, -1)
	for name, data := range map[string][]byte{"spaced": spaced, "escaped": []byte(escaped)} {
		if got := indexRevocation(name, data); got.err != nil || got.payload != want.payload {
			t.Errorf("%s: %+v, expected payload %s", name, got, want.payload)
		}
	}
	if _, ok := scanPayload([]byte(`{"dsseEnvelope":{"payload":"ab\/cd"}}`)); ok {
		t.Error("the scan read an escaped payload instead of leaving it to the JSON decoder")
	}
}

// TestDecisionFieldsMatchThePredicate: the check's narrow view of a
// decision reads every field it uses under the name attest writes it.
func TestDecisionFieldsMatchThePredicate(t *testing.T) {
	p := production("allow", time.Now())
	p.Policy = attest.PolicyRef{Digest: "sha256:" + strings.Repeat("a", 64), Sources: []string{"policies"}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var d decisionFields
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Decision != p.Decision || len(d.Reasons) != len(p.Reasons) || d.Issuer.Environment != p.Issuer.Environment ||
		d.Policy.Digest != p.Policy.Digest || !d.Validity.NotAfter.Equal(p.Validity.NotAfter) || !d.Validity.IssuedAt.Equal(p.Validity.IssuedAt) {
		t.Errorf("decoded %+v from %s", d, b)
	}
}

// TestKeySignedRevocation: with --key, only that key revokes; a revocation
// by another key, or by a certificate, is ignored.
func TestKeySignedRevocation(t *testing.T) {
	f := newFixture(t)
	dir, revs := t.TempDir(), t.TempDir()
	key, err := verifytest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := verifytest.NewKey()
	pem, _ := key.PublicPEM()
	st, _ := verifytest.Statement(DecisionPredicateType, production("allow", time.Now().Add(-time.Hour)), verifytest.Subject("agent.tar", f.art))
	b, err := f.ss.AttestWithKey(key, st)
	if err != nil {
		t.Fatal(err)
	}
	decisionPath := filepath.Join(dir, "keyed.json")
	if err := os.WriteFile(decisionPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ref, err := attest.InspectDecision(b)
	if err != nil {
		t.Fatal(err)
	}
	revokeWith := func(name string, k *verifytest.Key) {
		rst, err := attest.NewRevocationStatement(ref, attest.RevocationPredicate{
			Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest}, Reason: "by " + name,
			RevokedAt: time.Now().Add(-time.Minute), Revoker: attest.Revoker{Identity: "key:" + name},
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		if k != nil {
			out, err = f.ss.AttestWithKey(k, rst)
		} else {
			out, err = f.ss.Attest(f.signer, rst)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(revs, name+".json"), out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	revokeWith("other-key", other)
	revokeWith("certificate", nil)
	cfg := Config{TrustedRoots: f.root, Key: pem, Revocations: []string{revs}}
	art := fileArtifact(t, f.artPath)
	if rep := run(t, cfg, []string{decisionPath}, art); !rep.Verified || len(rep.Revocations) != 2 {
		t.Fatalf("revocations by another key or a certificate counted: %s %+v", errorsOf(rep), rep.Revocations)
	}
	revokeWith("the-key", key)
	rep := run(t, cfg, []string{decisionPath}, art)
	if rep.Verified || !strings.Contains(errorsOf(rep), "by key sha256:") || !strings.Contains(errorsOf(rep), ": by the-key") {
		t.Errorf("revocation by the decision's key: %s", errorsOf(rep))
	}
}
