package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/fsx"
	"github.com/airlock-dev/airlock/internal/grants"
	"github.com/airlock-dev/airlock/internal/verify"
)

const grantsExportLong = `Verifies one decision bundle exactly as ` + "`airlock verify`" + ` does (the same --bundle, --release,
trust, identity, policy, artifact and --timeout flags), and requires it to be an allow, unexpired
now, for the given artifact. Then writes an OPA bundle (.tar.gz) that a runtime policy point asks
about every tool call:

  .manifest                 revision = the decision bundle's sha256, roots ["airlock/grants"]
  data.json                 (under data.airlock.grants.decision) grants, notAfter, subject,
                            environment, policy_digest, decision_digest
  airlock/grants/grants.rego
                            package airlock.grants: allow, reasons, response for
                            input {"tool", "access": read|write|execute, "scope", "resource"?}

With --signing-key the bundle is signed in OPA's format (.signatures.json): RSA ≥ 2048 → RS256,
EC P-256/384/521 → ES256/384/512, Ed25519 → EdDSA; OPA then refuses it if changed.

Not taken: --format, --any, --predicate-type, --include-deny (only an allow decision exports),
--at (the decision must hold now).`

func newGrantsCmd(e *env) *cobra.Command {
	return groupCmd("grants", "verify an allow decision, then write its grants as an OPA bundle",
		"usage: airlock grants export --out FILE [verify's flags] [ARTIFACT | --digest ALG:HEX]",
		newGrantsExportCmd(e))
}

// grantsExportFlags are the flags of `airlock grants export` besides verify's.
type grantsExportFlags struct {
	verify              *verifyFlags
	out, keyPath, keyID string
}

func newGrantsExportCmd(e *env) *cobra.Command {
	f := &grantsExportFlags{}
	c := &cobra.Command{
		Use:   "export --out FILE [verify's flags] [ARTIFACT | --digest ALG:HEX]",
		Short: "verify one allow decision and write its grants as an OPA bundle",
		Long:  grantsExportLong,
		Example: `  airlock grants export --out grants.tar.gz --bundle app.tgz.sigstore.json \
    --repo acme/agent --signer-workflow acme/agent/.github/workflows/promote.yml app.tgz
  opa run --server --bundle grants.tar.gz --verification-key pub.pem \
    --verification-key-id default --signing-alg ES256`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runGrantsExport(c.Context(), f, args, e.getenv, e.stdio, time.Now)
		},
	}
	c.DisableFlagsInUseLine = true
	fs := c.Flags()
	fs.StringVar(&f.out, "out", "", "the OPA bundle `FILE` to write (required)")
	fs.StringVar(&f.keyPath, "signing-key", "", "sign the bundle in OPA's format with this PEM private key `FILE`")
	fs.StringVar(&f.keyID, "signing-key-id", "", "the key `ID` (default \"default\", as opa run's)")
	f.verify = bindVerifyFlags(fs, false)
	setExitCodes(c,
		"0  written",
		"1  verification failed, a deny, expired, or no grants",
		"2  usage, unreadable trust material or signing key",
		"3  operational")
	return c
}

func runGrantsExport(ctx context.Context, g *grantsExportFlags, artifactPaths []string, getenv func(string) string, stdio Stdio, now func() time.Time) error {
	f, out, keyPath, keyID := g.verify, &g.out, &g.keyPath, &g.keyID
	switch {
	case *out == "":
		return fault.Usagef("grants export: --out FILE is required")
	case f.at != "":
		return fault.Usagef("grants export: --at: an exported decision must hold now, not at another time")
	case *keyID != "" && *keyPath == "":
		return fault.Usagef("grants export: --signing-key-id needs --signing-key")
	case f.jobs < 0:
		return fault.Usagef("grants export: --jobs: expected a positive number, got %d", f.jobs)
	}
	var signer grants.Signer
	if *keyPath != "" {
		pemKey, err := readFileOrStdin(*keyPath, stdio, 64<<10)
		if err != nil {
			return fmt.Errorf("grants export: --signing-key: %w", err)
		}
		if signer, err = engine().GrantsSigner(pemKey, *keyID); err != nil {
			return fmt.Errorf("grants export: --signing-key %s: %w", *keyPath, err)
		}
	}

	res, err := f.run(ctx, artifactPaths, getenv, stdio)
	if err != nil {
		return err
	}
	writeTable(stdio.Out, res.rep)
	if err := res.outcome(); err != nil {
		return err
	}
	var allows []verify.Record
	for _, b := range res.rep.Bundles {
		if b.Verified && b.Decision == "allow" && b.Predicate != nil {
			allows = append(allows, b)
		}
	}
	switch {
	case len(allows) == 0:
		return denied("grants export: no verified allow decision")
	case len(allows) > 1:
		return fault.Usagef("grants export: %d verified allow decisions: give the one to export (--bundle FILE)", len(allows))
	}
	rec := allows[0]
	var subjects []grants.Subject
	for _, s := range rec.Subjects {
		subjects = append(subjects, grants.Subject{Name: s.Name, Digest: s.Digest})
	}
	dec, err := grants.FromPredicate(rec.Predicate, subjects, rec.BundleDigest)
	if err != nil {
		var r *grants.RefusedError
		if errors.As(err, &r) {
			return denied(fmt.Sprintf("grants export: %s: %s", rec.Bundle, r.Msg))
		}
		return fault.Configf("grants export: %s: %w", rec.Bundle, err)
	}
	// verify checked notAfter when it ran; the bundle is about to be served,
	// so the decision must still hold as it is written.
	if t := now(); !t.Before(dec.NotAfter) {
		return denied(fmt.Sprintf("grants export: decision expired: notAfter %s is not after %s", dec.NotAfter.Format(time.RFC3339), t.UTC().Format(time.RFC3339)))
	}
	tarball, err := engine().BuildGrants(ctx, dec, signer)
	if err != nil {
		return fmt.Errorf("grants export: %w", err)
	}
	if err := fsx.WriteAtomic(*out, tarball, 0o644); err != nil {
		return fault.Configf("grants export: --out: %w", err)
	}
	fmt.Fprintf(stdio.Out, "\nexported %d tool(s) and %d scope(s) of %s (environment %q, notAfter %s) to %s\n",
		len(dec.Grants.Tools), len(dec.Grants.Scopes), safe(rec.Bundle), safe(dec.Environment), dec.NotAfter.Format(time.RFC3339), *out)
	fmt.Fprintf(stdio.Out, "bundle revision %s; a runtime asks POST /v1/data/airlock/grants/allow (or …/response for the reasons)\n", dec.DecisionDigest)
	if signer != nil {
		fmt.Fprintf(stdio.Out, "signed (%s, key id %q): opa run --server --bundle %s --verification-key PUBLIC.pem --verification-key-id %s --signing-alg %s\n",
			signer.Alg(), signer.KeyID(), *out, signer.KeyID(), signer.Alg())
	} else {
		fmt.Fprintf(stdio.Out, "unsigned: opa run --server --bundle %s\n", *out)
	}
	return nil
}
