package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
)

// runPolicyDigest prints the digest a gate run records for a policy
// directory, spelled any way: files are named from the repository root
// (policy.DirSource). Auditors pin it with `airlock verify --policy-digest`.
func runPolicyDigest(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("policy digest", stdio)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fault.Usage(err)
	}
	if fs.NArg() > 1 {
		return fault.Usagef("policy digest: at most one directory")
	}
	// Compiled, not only hashed: a digest is worth pinning only for a
	// policy the gate can load.
	engine, err := loadPolicy(ctx, fs.Arg(0), "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "%s\t%s\n", engine.Digest(), strings.Join(engine.Sources(), ","))
	return nil
}

// runPolicyTest runs Rego tests the way the gate loads policies: the given
// directory on top of the embedded defaults (or alone when it carries its
// own main.rego), with the same params.
func runPolicyTest(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("policy test", stdio)
	verbose := fs.Bool("v", false, "list every test, not only failures")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fault.Usage(err)
	}
	dir := ""
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return fault.Usagef("policy test: at most one directory")
	}
	srcs, err := policySources(dir, "")
	if err != nil {
		return err
	}
	results, err := policy.RunTests(ctx, srcs...)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
			fmt.Fprintf(stdio.Out, "FAIL %s (%s): %s\n", r.Name, r.File, r.Message)
		} else if *verbose {
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
