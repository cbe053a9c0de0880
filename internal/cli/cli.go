// Package cli is airlock's command line: it reads flags, inputs and the
// environment (the only package besides actionio that does), builds
// configuration, runs a use case and maps the outcome to an exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// Stdio are the process's standard streams.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Version is set at build time with -ldflags "-X .../internal/cli.Version=…".
var Version = "dev"

const usage = `airlock — a fresh, signed trust decision at the QA → production boundary

Usage:
  airlock gate                 run the promotion gate (as a GitHub Actions step; reads INPUT_* variables)
  airlock check                the required status check on a promotion pull request: publishes the check run "airlock / promotion"
  airlock token verify [flags] verify a GitHub Actions OIDC token and print its claims
  airlock policy test [DIR]    run the Rego tests of the default policies, or of DIR on top of them
  airlock policy digest [DIR]  print the policy digest a gate run under DIR records (for verify --policy-digest)
  airlock verify [flags] [ARTIFACT ...]
                               verify Sigstore bundles (airlock decisions) offline; verify -h for flags
  airlock revoke --reason TEXT --signer sigstore|key (--bundle FILE | --release OWNER/REPO@TAG | --repo R --digest D)
                               sign a revocation of one decision and publish it where the decision lives
  airlock audit (--org ORG | --repo OWNER/REPO ...) --signer-workflow WF [flags]
                               is every release and deployment covered by a verified allow valid at the time?
  airlock grants export --out FILE [verify's flags] [ARTIFACT]
                               verify an allow decision, then write its grants as an OPA bundle for per-call enforcement
  airlock serve --config FILE --app-id N
                               the GitHub App answering custom deployment protection rules; serve -h for flags
  airlock demo                 run the gate against an in-process GitHub: five denies, then an allow
  airlock version              print the version, commit and Go version

Exit codes: 0 allow/verified · 1 deny/verification failed · 2 usage, config or policy error · 3 operational failure
`

// Main runs airlock with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdio Stdio) int {
	err := run(ctx, args, getenv, stdio)
	code := exitCode(err)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		var d *deniedError
		if !errors.As(err, &d) || d.msg != "" {
			fmt.Fprintf(stdio.Err, "airlock: %v\n", err)
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitAllow
	}
	return code
}

func run(ctx context.Context, args []string, getenv func(string) string, stdio Stdio) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Err, usage)
		return fault.Usagef("no command given")
	}
	switch args[0] {
	case "gate":
		return runGate(ctx, args[1:], getenv, stdio)
	case "check":
		return runCheck(ctx, args[1:], getenv, stdio)
	case "token":
		if len(args) < 2 || args[1] != "verify" {
			return fault.Usagef("usage: airlock token verify --token FILE|- --issuer URL --audience AUD [--jwks FILE] [--at RFC3339]")
		}
		return runTokenVerify(ctx, args[2:], stdio)
	case "policy":
		switch {
		case len(args) >= 2 && args[1] == "test":
			return runPolicyTest(ctx, args[2:], stdio)
		case len(args) >= 2 && args[1] == "digest":
			return runPolicyDigest(ctx, args[2:], stdio)
		}
		return fault.Usagef("usage: airlock policy test [-v] [DIR] | airlock policy digest [DIR]")
	case "verify":
		return runVerify(ctx, args[1:], getenv, stdio)
	case "revoke":
		return runRevoke(ctx, args[1:], getenv, stdio)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdio)
	case "grants":
		return runGrants(ctx, args[1:], getenv, stdio)
	case "serve":
		return runServe(ctx, args[1:], getenv, stdio)
	case "demo":
		return runDemo(ctx, args[1:], stdio)
	case "version", "--version":
		info, ok := debug.ReadBuildInfo()
		fmt.Fprint(stdio.Out, versionLine(info, ok))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdio.Out, usage)
		return nil
	default:
		fmt.Fprint(stdio.Err, usage)
		return fault.Usagef("unknown command %q", args[0])
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stdio Stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdio.Err)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fault.Usage(err)
	}
	if fs.NArg() > 0 {
		return fault.Usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// httpClient is the client every outbound call uses: the core's (httpx),
// bounded in time, no cookie jar, https except loopback on redirects, and it
// never follows a redirect to another origin with our headers.
func httpClient() *http.Client {
	return httpx.NewClient(httpx.Options{Timeout: 30 * time.Second})
}

// readFileOrStdin reads a file, or standard input for "-", capped at limit bytes.
func readFileOrStdin(name string, stdio Stdio, limit int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = stdio.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fault.Config(err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fault.Configf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fault.Configf("read %s: larger than %d bytes", name, limit)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
