package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
)

func newPolicyCmd(e *env) *cobra.Command {
	return groupCmd("policy", "test a policy directory, or print the digest a gate run under it records",
		"usage: airlock policy test [--verbose] [DIR] | airlock policy digest [DIR]",
		newPolicyTestCmd(e), newPolicyDigestCmd(e))
}

func newPolicyDigestCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "digest [DIR]",
		Short: "print the policy digest a gate run under DIR records (for verify --policy-digest)",
		Long: `Loads the policies as the gate does (the embedded defaults, DIR's modules and params on top of
them, or DIR alone when it has its own main.rego), checks them as strictly as the gate (unknown
params keys, rules outside package airlock, rule names nothing reads are errors naming file:line),
and prints the digest the gate records in its decision, then the files it covers. Files are named
from the repository root, so the digest does not depend on how DIR is spelled. Auditors pin it
with ` + "`airlock verify --policy-digest`" + `. Without DIR: the defaults' digest.`,
		Example: `  airlock policy digest                 # the embedded defaults
  airlock policy digest policy/         # as a gate run with "policy: policy/" records it`,
		Args: maxOneDir,
		RunE: func(c *cobra.Command, args []string) error {
			return runPolicyDigest(c.Context(), firstArg(args), e.stdio)
		},
	}
	setExitCodes(c,
		"0  printed",
		"2  the policy does not compile or does not pass the strict checks (file:line named)")
	return c
}

func newPolicyTestCmd(e *env) *cobra.Command {
	var verbose bool
	c := &cobra.Command{
		Use:   "test [DIR]",
		Short: "run the Rego tests of the default policies, or of DIR on top of them",
		Long: `Runs the Rego tests (test_* rules) the way the gate loads policies: DIR on top of the embedded
defaults (or alone when it carries its own main.rego), with the same params and the same strict
checks. Prints each failure and a count; --verbose lists every test.`,
		Example: `  airlock policy test                   # the defaults' own tests
  airlock policy test policy/ --verbose`,
		Args: maxOneDir,
		RunE: func(c *cobra.Command, args []string) error {
			return runPolicyTest(c.Context(), firstArg(args), verbose, e.stdio)
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test, not only failures")
	setExitCodes(c,
		"0  every test passed",
		"1  a test failed, or there are no tests",
		"2  the policy does not compile or does not pass the strict checks (file:line named)")
	return c
}

// maxOneDir takes at most one positional argument, a policy directory.
func maxOneDir(c *cobra.Command, args []string) error {
	if len(args) > 1 {
		return fault.Usagef("%s: at most one directory, got %q", commandName(c), args)
	}
	return nil
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// runPolicyDigest prints the digest a gate run records for a policy
// directory, spelled any way: files are named from the repository root
// (policy.DirSource). Auditors pin it with `airlock verify --policy-digest`.
func runPolicyDigest(ctx context.Context, dir string, stdio Stdio) error {
	// Compiled, not only hashed: a digest is worth pinning only for a
	// policy the gate can load.
	engine, err := loadPolicy(ctx, dir, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "%s\t%s\n", engine.Digest(), strings.Join(engine.Sources(), ","))
	return nil
}

// runPolicyTest runs Rego tests the way the gate loads policies: the given
// directory on top of the embedded defaults (or alone when it carries its
// own main.rego), with the same params.
func runPolicyTest(ctx context.Context, dir string, verbose bool, stdio Stdio) error {
	srcs, err := policySources(dir, "")
	if err != nil {
		return err
	}
	results, err := engine().TestPolicy(ctx, srcs...)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
			fmt.Fprintf(stdio.Out, "FAIL %s (%s): %s\n", r.Name, r.File, r.Message)
		} else if verbose {
			fmt.Fprintf(stdio.Out, "PASS %s (%s)\n", r.Name, r.File)
		}
	}
	fmt.Fprintf(stdio.Out, "policy: %d passed, %d failed\n", len(results)-failed, failed)
	if len(results) == 0 {
		return denied("no Rego tests found")
	}
	if failed > 0 {
		return denied(fmt.Sprintf("%d Rego test(s) failed", failed))
	}
	return nil
}
