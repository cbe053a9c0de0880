package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

func airlock(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, func(string) string { return "" }, Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// realdata finds ../shared/realdata/<sub> (see testsvc.RealData).
func realdata(t *testing.T, sub string) string {
	t.Helper()
	return testsvc.RealData(t, sub)
}

func TestTokenVerifyRealBeaconToken(t *testing.T) {
	d := realdata(t, "03-github-oidc")
	token := filepath.Join(d, "tokens", "beacon-sigstore-conformance-2026-06-13.jwt")
	jwks := filepath.Join(d, "jwks", "github-actions-jwks.json")

	code, out, errs := airlock(t, "", "token", "verify", "--token", token, "--audience", "sigstore", "--jwks", jwks, "--at", "2026-06-13T19:03:00Z")
	if code != ExitAllow {
		t.Fatalf("inside the window: exit %d\n%s", code, errs)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(out), &claims); err != nil {
		t.Fatalf("claims JSON: %v\n%s", err, out)
	}
	if claims["repository_id"] != "632596897" || claims["check_run_id"] != "81215574497" {
		t.Errorf("claims %v", claims)
	}

	code, out, errs = airlock(t, "", "token", "verify", "--token", token, "--audience", "sigstore", "--jwks", jwks)
	if code != ExitDeny || !strings.Contains(errs, "expired") || out != "" {
		t.Fatalf("now: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	// Standard input works too, and a wrong audience is named.
	raw, _ := os.ReadFile(token)
	code, _, errs = airlock(t, string(raw), "token", "verify", "--token", "-", "--audience", "https://github.com/sigstore-conformance", "--jwks", jwks, "--at", "2026-06-13T19:03:00Z")
	if code != ExitDeny || !strings.Contains(errs, "audience") {
		t.Fatalf("wrong audience: exit %d, stderr %q", code, errs)
	}
	if strings.Contains(errs, strings.TrimSpace(string(raw))) {
		t.Error("the token appears in the error output")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"token"},
		{"token", "verify"},
		{"token", "verify", "--token", "x", "--audience", "a", "--at", "yesterday"},
		{"token", "verify", "--nope"},
		{"policy"},
		{"gate", "extra"},
	} {
		if code, _, _ := airlock(t, "", args...); code != ExitUsage {
			t.Errorf("%q: exit %d, expected %d", args, code, ExitUsage)
		}
	}
}

func TestPolicyTestCommand(t *testing.T) {
	code, out, errs := airlock(t, "", "policy", "test")
	if code != ExitAllow || !strings.Contains(out, "0 failed") {
		t.Fatalf("defaults: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = airlock(t, "", "policy", "test", "../../policies")
	if code != ExitAllow || !strings.Contains(out, "0 failed") {
		t.Fatalf("policies/: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine.rego"), []byte("package airlock\n\ndeny contains reason(\"C6\", \"too long\") if input.ttl > 3600\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mine_test.rego"), []byte("package airlock_test\n\nimport data.airlock\n\ntest_long if { some r in airlock.deny with input as {\"ttl\": 7200}; r.message == \"too long\" }\ntest_wrong if { count(airlock.deny) == 0 with input as {\"ttl\": 7200} }\n"), 0o600)
	code, out, _ = airlock(t, "", "policy", "test", dir)
	if code != ExitDeny || !strings.Contains(out, "FAIL airlock_test.test_wrong") || !strings.Contains(out, "1 failed") {
		t.Fatalf("user dir: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package airlock\n\nx := {\n"), 0o600)
	code, _, errs = airlock(t, "", "policy", "test", dir)
	if code != ExitUsage || !strings.Contains(errs, "broken.rego:") {
		t.Fatalf("broken: exit %d\n%s", code, errs)
	}
}

func TestDemo(t *testing.T) {
	code, out, errs := airlock(t, "", "demo", "--keep=false")
	if code != ExitAllow {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	deny, allow := strings.LastIndex(out, "decision: DENY"), strings.Index(out, "decision: ALLOW")
	// The second ALLOW is the gate job of the run airlock serve then approves.
	if n := strings.Count(out, "decision: DENY"); n != 5 || allow < 0 || deny > allow || strings.Count(out, "decision: ALLOW") != 2 {
		t.Fatalf("expected five DENYs, then an ALLOW, then the serve run's ALLOW:\n%s", out)
	}
	held, approved := strings.Index(out, "rejected — airlock: rejected: no decision found"), strings.Index(out, "approved — airlock: approved by decision sha256:")
	if held < 0 || approved < held || strings.LastIndex(out, "decision: ALLOW") > approved || strings.LastIndex(out, "decision: ALLOW") < held {
		t.Errorf("expected airlock serve to reject the undecided run, then approve after the gate's allow:\n%s", out)
	}
	for _, want := range []string{
		"[C1]", `"staging"`, "refs/heads/feature/fast-track",
		"[C7] the agent changed between QA and production (model.version)",
		"[C8] escalation across the boundary: integration \"zendesk\" goes live", "2 approvers",
		`[C2] QA credential "qa-deploy-token" (github-token) is still active`,
		// a self-approval is denied ...
		`[C4] octo-dev approved a promotion to "production" that they started themselves`,
		// ... a named reviewer's approval allows, with login and comment in the report.
		`release-manager approved production (counts): "Ship it!"`,
		// ... and the allow mints the production credential.
		"airlock minted the production credential",
		"to subject `agent:support-agent:prod`, client `airlock-promoter`: scopes `kb:read tickets:read tickets:write`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %s", want)
		}
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := airlock(t, "", "version"); code != 0 || !strings.HasPrefix(out, "airlock ") {
		t.Fatalf("exit %d %q", code, out)
	}
}
