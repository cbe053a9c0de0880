package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/grants"
)

// demoGrants ends the demo where the runtime begins: it exports the allow's
// grants with `airlock grants export` (verifying the decision offline, as a
// deployment would) and asks the exported Rego, evaluated in process, about
// two tool calls: one within the grants, one above them.
func demoGrants(ctx context.Context, sim *githubsim.Server, out, subject string, stdio Stdio) error {
	bundles, _ := filepath.Glob(filepath.Join(out, "*.sigstore.json"))
	if len(bundles) != 1 {
		return fault.Operationalf("demo: expected one decision bundle in %s, found %d", out, len(bundles))
	}
	dest := filepath.Join(out, "grants.tar.gz")
	args := []string{"--offline", "--bundle", bundles[0], "--trusted-root", filepath.Join(out, "trusted_root.json"),
		"--certificate-identity", "https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main",
		"--certificate-oidc-issuer", sim.IssuerURL(), "--out", dest, filepath.Join(out, subject)}
	shown := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, out+string(filepath.Separator)) {
			a = filepath.Base(a)
		}
		shown[i] = a
	}
	fmt.Fprintf(stdio.Out, "\nat runtime, the allow's grants become an OPA bundle (verified again first):\n  cd %s && airlock grants export %s\n", out, strings.Join(shown, " "))
	var report strings.Builder
	if err := run(ctx, append([]string{"grants", "export"}, args...), func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: &report, Err: &report}); err != nil {
		io.WriteString(stdio.Out, indent(report.String()))
		return fmt.Errorf("demo: grants export: %w", err)
	}
	tarball, err := os.ReadFile(dest)
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	ev, err := engine().GrantsEvaluator(ctx, tarball)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "  wrote %s; an agent gateway asks OPA (here: the same Rego, in process) about each tool call:\n", dest)
	for _, c := range []struct {
		call  grants.Call
		allow bool
	}{
		{grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}, true},
		{grants.Call{Tool: "kb-search", Access: "write", Scope: "kb:read"}, false},
	} {
		a, err := ev.Ask(ctx, c.call, time.Now())
		if err != nil {
			return err
		}
		verdict := "allow"
		if !a.Allow {
			verdict = "deny: " + strings.Join(a.Reasons, "; ")
		}
		fmt.Fprintf(stdio.Out, "  tools/call %s (%s, scope %s) → %s\n", c.call.Tool, c.call.Access, c.call.Scope, verdict)
		if a.Allow != c.allow {
			return fault.Operationalf("demo: call %+v: allow %v, expected %v", c.call, a.Allow, c.allow)
		}
	}
	return nil
}
