package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/tufroot"
)

// defaultSigningKeyEnv is the variable the key signer reads its PEM from.
const defaultSigningKeyEnv = "AIRLOCK_SIGNING_KEY"

// attestConfig reads the attestation inputs. The gate needs `signer` (the
// runner always passes action.yml's default); the check, which signs
// nothing, takes an unset one as none and still refuses a malformed one.
// Where the bundle is written is the signing step's business.
func attestConfig(r *actionio.Runner, getenv func(string) string, engine policy.Engine, requireSigner bool) (gate.AttestConfig, error) {
	ac := gate.AttestConfig{
		Signer:     r.Input("signer"),
		Subjects:   listInput(r.Input("subjects")),
		ReleaseTag: strings.TrimPrefix(r.Input("release-tag"), "refs/tags/"),
		Services: attest.Services{
			FulcioURL: r.Input("fulcio-url"), RekorURL: r.Input("rekor-url"), TSAURL: r.Input("tsa-url"),
		},
		Log:       orDefault(r.Input("transparency-log"), gate.LogAuto),
		ServerURL: orDefault(getenv("GITHUB_SERVER_URL"), "https://github.com"),
		Version:   Version,
	}
	if ac.Signer == "" {
		if requireSigner {
			// The runner always passes action.yml's default (sigstore); the
			// code has none of its own, so a run without it is not guessed at.
			return ac, fault.Configf("input signer: not set: expected sigstore, key or none")
		}
		ac.Signer = gate.SignerNone
	}
	// The decision's validity is parsed whatever signs it: a minted
	// credential may not outlive it, signed or not.
	ac.TTL = gate.DefaultDecisionTTL
	var err error
	if t := r.Input("decision-ttl"); t != "" {
		if ac.TTL, err = time.ParseDuration(t); err != nil || ac.TTL <= 0 {
			return ac, fault.Configf("input decision-ttl: %q is not a positive duration", t)
		}
	}
	// A policy without the cap is refused when something is signed; an
	// unsigned run is bounded by decision-ttl alone, and a cap the policy
	// does set must still be well formed.
	if _, set := engine.Param("attest", "max_decision_ttl_seconds"); set || ac.Signer != gate.SignerNone {
		if ac.MaxTTL, err = maxDecisionTTL(engine); err != nil {
			return ac, err
		}
	}
	if ac.Signer == gate.SignerNone {
		return ac, nil
	}
	if ac.AttestDeny, err = boolInput(r, "attest-deny", false); err != nil {
		return ac, err
	}
	if ac.PublishAttestation, err = boolInput(r, "publish-attestation", true); err != nil {
		return ac, err
	}
	if p := r.Input("trusted-root"); p != "" {
		b, err := os.ReadFile(inWorkspace(getenv, p))
		if err != nil {
			return ac, fault.Configf("input trusted-root: %w", err)
		}
		if err := attest.CheckTrustedRoot(b); err != nil {
			return ac, fmt.Errorf("input trusted-root: %s: %w", p, err)
		}
		ac.TrustedRootJSON = b
	}
	ac.TUF.URL = r.Input("tuf-url")
	if p := r.Input("tuf-root"); p != "" {
		b, err := os.ReadFile(inWorkspace(getenv, p))
		if err != nil {
			return ac, fault.Configf("input tuf-root: %w", err)
		}
		ac.TUF.Root = b
	}
	if len(ac.TrustedRootJSON) == 0 && ac.Signer == gate.SignerSigstore {
		if ac.TUF.CacheDir, err = tufCacheDir(getenv); err != nil {
			return ac, err
		}
	}
	if ac.Signer == gate.SignerKey {
		name := orDefault(r.Input("signing-key-env"), defaultSigningKeyEnv)
		key := getenv(name)
		if key == "" {
			return ac, fault.Configf("signer key: environment variable %s is empty", name)
		}
		r.Mask(key)
		ac.KeyPEM = []byte(key)
		if err := attest.CheckPrivateKey(ac.KeyPEM); err != nil {
			return ac, fmt.Errorf("signer key: environment variable %s: %w", name, err)
		}
	}
	return ac, ac.Validate()
}

// tufCacheEnv overrides where verified TUF metadata is cached.
const tufCacheEnv = "AIRLOCK_TUF_CACHE"

// tufCacheDir is AIRLOCK_TUF_CACHE, or airlock/tuf under the user cache
// directory.
func tufCacheDir(getenv func(string) string) (string, error) {
	if d := getenv(tufCacheEnv); d != "" {
		return d, nil
	}
	return tufroot.DefaultCacheDir()
}

// maxDecisionTTL reads data.airlock.params.attest.max_decision_ttl_seconds.
func maxDecisionTTL(engine policy.Engine) (time.Duration, error) {
	v, ok := engine.Param("attest", "max_decision_ttl_seconds")
	n, isNum := v.(float64)
	if !ok || !isNum || n <= 0 || n != float64(int64(n)) {
		return 0, fault.Configf("policy param attest.max_decision_ttl_seconds: expected a positive whole number, got %v", v)
	}
	return time.Duration(n) * time.Second, nil
}

// attestOutputs are the outputs and the step summary's attestation
// section for what signing and publishing made (att), or for their failure
// (failed); nothing when nothing was to be signed.
func attestOutputs(runner *actionio.Runner, ws string, ac gate.AttestConfig, att *gate.Attestation, failed error) ([]actionio.Output, string) {
	if ac.Signer == gate.SignerNone {
		return nil, ""
	}
	if failed != nil || att == nil {
		return []actionio.Output{{Name: "attested", Value: "false"}}, "\n### Attestation (C12)\n\nNot signed: airlock could not sign or publish the decision (see the error annotation).\n"
	}
	out := []actionio.Output{
		{Name: "attested", Value: strconv.FormatBool(att.Skipped == "")},
		{Name: "bundle-path", Value: workspaceRel(ws, att.BundlePath)},
		{Name: "attestation-id", Value: idString(att.AttestationID)},
		{Name: "attestation-url", Value: att.AttestationURL},
	}
	summary := "\n### Attestation (C12)\n\n"
	switch {
	case att.Skipped != "":
		summary += "Not signed: " + att.Skipped + ".\n"
		runner.Warning("airlock C12", "decision not signed: "+att.Skipped)
	case att.Published:
		summary += fmt.Sprintf("Signed and published as `%s`", att.AssetName)
		if att.AttestationURL != "" {
			summary += " · " + att.AttestationURL
		}
		summary += ".\n"
	default:
		summary += fmt.Sprintf("Signed and written to `%s`; not published (a deny is uploaded only with `attest-deny: true`).\n", att.AssetName)
	}
	return out, summary
}

func idString(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}
