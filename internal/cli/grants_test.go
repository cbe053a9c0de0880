package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/grants"
	grantsopa "github.com/airlock-dev/airlock/internal/grants/opa"
	"github.com/airlock-dev/airlock/internal/verify"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

func grantsPredicate(verdict string, notAfter time.Time, g map[string]any) map[string]any {
	return map[string]any{
		"decision": verdict,
		"reasons":  []map[string]string{},
		"grants":   g,
		"issuer":   map[string]any{"iss": "https://token.actions.githubusercontent.com", "audience": "airlock", "verified": true, "environment": "production"},
		"policy":   map[string]any{"digest": "sha256:" + strings.Repeat("01", 32), "sources": []string{"embedded"}},
		"validity": map[string]any{"issuedAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "notAfter": notAfter.UTC().Format(time.RFC3339)},
	}
}

var supportGrants = map[string]any{
	"tools":  []map[string]any{{"name": "kb-search", "access": "read"}, {"name": "ticket-update", "access": "write"}},
	"scopes": []string{"kb:read", "tickets:write"},
}

func TestGrantsExport(t *testing.T) {
	e := newVerifyEnv(t)
	until := time.Now().Add(time.Hour)
	allow := e.decisionOf(t, "allow.sigstore.json", grantsPredicate("allow", until, supportGrants))
	deny := e.decisionOf(t, "deny.sigstore.json", grantsPredicate("deny", until, map[string]any{}))
	expired := e.decisionOf(t, "expired.sigstore.json", grantsPredicate("allow", time.Now().Add(-time.Minute), supportGrants))
	noGrants := e.decisionOf(t, "nogrants.sigstore.json", grantsPredicate("allow", until, map[string]any{}))
	// Signed by a Sigstore the trusted root does not know.
	other, err := verifytest.New()
	if err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(e.artifact)
	st, _ := verifytest.Statement(verify.DecisionPredicateType, grantsPredicate("allow", until, supportGrants), verifytest.Subject("agent.tar", content))
	forgedBytes, err := other.Attest(e.signer, st)
	if err != nil {
		t.Fatal(err)
	}
	forged := e.write(t, "forged.sigstore.json", forgedBytes)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	key := e.write(t, "signing.pem", keyPEM)
	notKey := e.write(t, "not-a-key.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	tr := "--trusted-root=" + e.root
	out := filepath.Join(e.dir, "grants.tar.gz")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"allow", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out}, ExitAllow, "exported 2 tool(s) and 2 scope(s)"},
		{"allow by digest, signed", []string{"--digest", e.digest, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out, "--signing-key", key, "--signing-key-id", "k1"}, ExitAllow, "--verification-key-id k1 --signing-alg ES256"},
		{"deny", []string{e.artifact, "--bundle", deny, tr, "--repo", "acme/agent", "--out", out}, ExitDeny, "refused"},
		{"expired", []string{e.artifact, "--bundle", expired, tr, "--repo", "acme/agent", "--out", out}, ExitDeny, "decision expired"},
		{"wrongly signed", []string{e.artifact, "--bundle", forged, tr, "--repo", "acme/agent", "--out", out}, ExitDeny, "FAILED"},
		{"signer identity does not match", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/other", "--out", out}, ExitDeny, "FAILED"},
		{"signer workflow does not match", []string{e.artifact, "--bundle", allow, tr, "--signer-workflow", "acme/agent/.github/workflows/other.yml", "--out", out}, ExitDeny, "FAILED"},
		{"another subject", []string{"--digest", "sha256:" + strings.Repeat("0", 64), "--bundle", allow, tr, "--repo", "acme/agent", "--out", out}, ExitDeny, "no attestation found"},
		{"an allow without grants", []string{e.artifact, "--bundle", noGrants, tr, "--repo", "acme/agent", "--out", out}, ExitDeny, "grants nothing"},
		{"two allows", []string{e.artifact, "--bundle", allow, "--bundle", noGrants, tr, "--repo", "acme/agent", "--out", out}, ExitUsage, "give the one to export"},

		{"no --out", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent"}, ExitUsage, "--out FILE is required"},
		{"unknown flag", []string{e.artifact, "--bundel", allow, "--out", out}, ExitUsage, "unknown flag --bundel (did you mean --bundle?)"},
		{"--include-deny is not taken", []string{e.artifact, "--bundle", deny, tr, "--repo", "acme/agent", "--out", out, "--include-deny"}, ExitUsage, "unknown flag --include-deny"},
		{"--format is not taken", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out, "--format", "json"}, ExitUsage, "unknown flag --format"},
		{"--at", []string{e.artifact, "--bundle", expired, tr, "--repo", "acme/agent", "--out", out, "--at", time.Now().Add(-30 * time.Minute).Format(time.RFC3339)}, ExitUsage, "--at"},
		{"no identity", []string{e.artifact, "--bundle", allow, tr, "--out", out}, ExitUsage, "name the signer"},
		{"no artifact", []string{"--bundle", allow, tr, "--repo", "acme/agent", "--out", out}, ExitUsage, "no artifact"},
		{"signing key id without key", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out, "--signing-key-id", "x"}, ExitUsage, "needs --signing-key"},
		{"signing key missing", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out, "--signing-key", filepath.Join(e.dir, "nope.pem")}, ExitUsage, "nope.pem"},
		{"signing key does not parse", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", out, "--signing-key", notKey}, ExitUsage, "does not parse"},
		{"--out in a missing directory", []string{e.artifact, "--bundle", allow, tr, "--repo", "acme/agent", "--out", filepath.Join(e.dir, "nope", "g.tar.gz")}, ExitUsage, "--out"},
		{"no subcommand", nil, ExitUsage, "usage: airlock grants export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			args := []string{"grants"}
			if tc.args != nil {
				args = append(args, "export")
				args = append(args, tc.args...)
			}
			code, stdout, stderr := airlock(t, "", args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d (expected %d), output lacks %q:\n%s\n%s", code, tc.code, tc.want, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, string(keyPEM)) || strings.Contains(stdout+stderr, strings.Split(string(keyPEM), "\n")[1]) {
				t.Fatal("the signing key is in the output")
			}
			_, statErr := os.Stat(out)
			if code != ExitAllow {
				if statErr == nil {
					t.Fatal("a failed export wrote a bundle")
				}
				if !strings.Contains(stderr, "airlock: ") {
					t.Fatalf("exit %d without a message", code)
				}
				return
			}
			tarball, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			d, err := grantsopa.ReadDecision(tarball)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(allow)
			sum := sha256.Sum256(raw)
			if d.DecisionDigest != "sha256:"+hex.EncodeToString(sum[:]) || d.Environment != "production" ||
				len(d.Grants.Tools) != 2 || d.Grants.Tools[1] != (grants.Tool{Name: "ticket-update", Access: grants.AccessWrite}) ||
				len(d.Subject) != 1 || d.Subject[0].Digest["sha256"] != strings.TrimPrefix(e.digest, "sha256:") {
				t.Fatalf("exported %+v", d)
			}
			ev, err := engine().GrantsEvaluator(context.Background(), tarball)
			if err != nil {
				t.Fatal(err)
			}
			a, err := ev.Ask(context.Background(), grants.Call{Tool: "ticket-update", Access: "write", Scope: "tickets:write"}, time.Now())
			if err != nil || !a.Allow {
				t.Fatalf("granted write: %+v %v", a, err)
			}
			a, err = ev.Ask(context.Background(), grants.Call{Tool: "kb-search", Access: "write", Scope: "kb:read"}, time.Now())
			if err != nil || a.Allow {
				t.Fatalf("write on a read grant: %+v %v", a, err)
			}
		})
	}
}

// The demo ends by exporting the allow's grants and asking two calls.
func TestDemoEndsWithGrants(t *testing.T) {
	code, out, errs := airlock(t, "", "demo", "--keep=false")
	if code != ExitAllow {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	allowed := strings.Index(out, "tools/call kb-search (read, scope kb:read) → allow")
	denied := strings.Index(out, `tools/call kb-search (write, scope kb:read) → deny: tool "kb-search" is granted read access, not write`)
	if !strings.Contains(out, "airlock grants export --offline") || allowed < 0 || denied < allowed {
		t.Fatalf("demo does not end with the grants' two calls:\n%s", out)
	}
}
