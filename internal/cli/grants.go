package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/grants"
	"github.com/airlock-dev/airlock/internal/verify"
)

const grantsUsage = `usage: airlock grants export --out FILE [--signing-key FILE [--signing-key-id ID]]
                             [verify's flags] [ARTIFACT | --digest ALG:HEX]

Verifies one decision bundle exactly as ` + "`airlock verify`" + ` does (the same --bundle,
--release, trust, identity, policy, artifact and --timeout flags; see airlock verify -h), and
requires it to be an allow, unexpired now, for the given artifact. Then writes
an OPA bundle (.tar.gz) that a runtime policy point asks about every tool call:

  .manifest                 revision = the decision bundle's sha256, roots ["airlock/grants"]
  data.json                 (under data.airlock.grants.decision) grants, notAfter, subject,
                            environment, policy_digest, decision_digest
  airlock/grants/grants.rego
                            package airlock.grants: allow, reasons, response for
                            input {"tool", "access": read|write|execute, "scope", "resource"?}

  --out FILE                the bundle to write
  --signing-key FILE        sign the bundle in OPA's format (.signatures.json) with this PEM
                            private key (RSA ≥ 2048 → RS256, EC P-256/384/521 → ES256/384/512,
                            Ed25519 → EdDSA); OPA then refuses it if changed:
                            opa run --server --bundle FILE --verification-key PUB.pem \
                              --verification-key-id ID --signing-alg ALG
  --signing-key-id ID       the key id (default "default", as opa run's)

Not taken: --format, --any, --predicate-type, --include-deny (only an allow
decision exports), --at (the decision must hold now).

Exit: 0 written · 1 verification failed, a deny, expired, or no grants ·
2 usage, unreadable trust material or signing key · 3 operational`

// runGrants dispatches `airlock grants …`.
func runGrants(ctx context.Context, args []string, getenv func(string) string, stdio Stdio) error {
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprintln(stdio.Err, grantsUsage)
		return fault.Usagef("usage: airlock grants export --out FILE [verify's flags] [ARTIFACT | --digest ALG:HEX]")
	}
	return runGrantsExport(ctx, args[1:], getenv, stdio, time.Now)
}

func runGrantsExport(ctx context.Context, args []string, getenv func(string) string, stdio Stdio, now func() time.Time) error {
	fs := newFlagSet("grants export", stdio)
	fs.Usage = func() { fmt.Fprintln(stdio.Err, grantsUsage) }
	f := bindVerifyFlags(fs, false)
	out := fs.String("out", "", "")
	keyPath := fs.String("signing-key", "", "")
	keyID := fs.String("signing-key-id", "", "")
	artifactPaths, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
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
	var signer *grants.Signer
	if *keyPath != "" {
		pemKey, err := readFileOrStdin(*keyPath, stdio, 64<<10)
		if err != nil {
			return fmt.Errorf("grants export: --signing-key: %w", err)
		}
		if signer, err = grants.NewSigner(pemKey, *keyID); err != nil {
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
	tarball, err := grants.Build(ctx, dec, signer)
	if err != nil {
		return fmt.Errorf("grants export: %w", err)
	}
	if err := writeAtomic(*out, tarball); err != nil {
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

// writeAtomic writes a file next to its destination and renames it, so a
// runtime polling the path never reads half a bundle.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
