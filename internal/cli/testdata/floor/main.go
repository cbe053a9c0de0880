// Command floor is the smallest verifier of one decision bundle that can be
// built on sigstore-go: the floor BenchmarkVerifyProcess compares `airlock
// verify` with (docs/BENCHMARKS.md). Not shipped; built only by the benchmark.
//
//	floor BUNDLE TRUSTED_ROOT ISSUER SAN ARTIFACT
package main

import (
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/internal/startup"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

func main() {
	startup.Done(os.Getenv)
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("usage: floor BUNDLE TRUSTED_ROOT ISSUER SAN ARTIFACT")
	}
	b, err := bundle.LoadJSONFromPath(args[0])
	if err != nil {
		return err
	}
	tr, err := root.NewTrustedRootFromPath(args[1])
	if err != nil {
		return err
	}
	v, err := verify.NewVerifier(tr, verify.WithSignedTimestamps(1))
	if err != nil {
		return err
	}
	id, err := verify.NewShortCertificateIdentity(args[2], "", args[3], "")
	if err != nil {
		return err
	}
	f, err := os.Open(args[4])
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifact(f), verify.WithCertificateIdentity(id)))
	if err != nil {
		return err
	}
	fmt.Println("verified", res.Statement.GetPredicateType())
	return nil
}
