package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

// demoRevoke ends the demo with a revocation: the release verifies, a
// workflow of the repository revokes its decision (signed as the gate
// signs, attached next to the decision), and the same verify then fails
// naming the revocation.
func demoRevoke(ctx context.Context, sim *githubsim.Server, d *demoSigstore, root string, stdio Stdio) error {
	dir := filepath.Join(root, "revoke")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	env := map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   sim.TokenRequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": sim.TokenRequestToken(),
		"GITHUB_API_URL":                 sim.APIURL(),
		"GITHUB_TOKEN":                   sim.JobToken(),
	}
	getenv := func(k string) string { return env[k] }
	rel := "acme/support-agent@" + demoReleaseTag
	verifyArgs := []string{"verify", "--release", rel, "--assets", "*.tar.gz", "--trusted-root", d.rootPath,
		"--certificate-identity", "https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main",
		"--certificate-oidc-issuer", sim.IssuerURL()}
	step := func(want int, args ...string) (string, error) {
		var out strings.Builder
		err := run(ctx, args, getenv, Stdio{In: strings.NewReader(""), Out: &out, Err: &out})
		if err != nil {
			fmt.Fprintf(&out, "airlock: %v\n", err)
		}
		got := exitCode(err)
		io.WriteString(stdio.Out, indent(out.String()))
		fmt.Fprintf(stdio.Out, "exit code %d\n", got)
		if got != want {
			return out.String(), fault.Operationalf("demo: airlock %s: exit code %d, expected %d: %v", args[0], got, want, err)
		}
		return out.String(), nil
	}

	fmt.Fprintf(stdio.Out, "\n── an auditor verifies release %s against the in-process GitHub:\n  airlock %s\n", rel, shellJoin(verifyArgs))
	if _, err := step(ExitAllow, verifyArgs...); err != nil {
		return err
	}
	revokeArgs := []string{"revoke", "--release", rel, "--reason", "QA deploy token found in the production agent's logs",
		"--signer", "sigstore", "--fulcio-url", d.ss.FulcioURL(), "--tsa-url", d.ss.TSAURL(), "--transparency-log", "tsa",
		"--trusted-root", d.rootPath, "--oidc-issuer", sim.IssuerURL(), "--out", dir}
	fmt.Fprintf(stdio.Out, "\n── the promotion workflow revokes the decision (no key is rotated):\n  airlock %s\n", shellJoin(revokeArgs))
	if _, err := step(ExitAllow, revokeArgs...); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "\n── the same verify now fails, naming the revocation:\n")
	out, err := step(ExitDeny, verifyArgs...)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "revoked at ") {
		return fault.Operationalf("demo: verify after the revocation does not name it")
	}
	fmt.Fprintf(stdio.Out, "offline, an auditor hands airlock the revocation with --revocations %s\n", dir)
	return nil
}

// shellJoin quotes the arguments a shell would split or expand.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " '*?\"$") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
