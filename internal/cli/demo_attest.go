package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/sigstoresim"
)

// demoSigstore is the demo's signing world: an in-process Fulcio and
// timestamp authority trusting the in-process GitHub's issuer, and a draft
// release holding the agent the decision is about. The bundle is real; only
// the services are local.
type demoSigstore struct {
	ss        *sigstoresim.Server
	rootPath  string
	releaseID int64
	subject   githubsim.Asset
}

const demoReleaseTag = "v1.2.0"

func startDemoSigstore(sim *githubsim.Server, dir string) (*demoSigstore, error) {
	ss, err := sigstoresim.New(sigstoresim.Config{Issuer: sim.IssuerURL(), HTTPClient: httpx.NewClient(httpx.Options{Timeout: 10 * time.Second})})
	if err != nil {
		return nil, fault.Operationalf("demo: start the in-process Sigstore: %w", err)
	}
	root, err := ss.TrustedRootJSON()
	if err != nil {
		ss.Close()
		return nil, fault.Operationalf("demo: trusted root: %w", err)
	}
	d := &demoSigstore{ss: ss, rootPath: filepath.Join(dir, "sigstore-trusted_root.json")}
	if err := os.WriteFile(d.rootPath, root, 0o644); err != nil {
		ss.Close()
		return nil, fault.Operationalf("demo: %w", err)
	}
	d.releaseID = sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: demoReleaseTag, Draft: true})
	d.subject = sim.AddReleaseAsset("acme", "support-agent", d.releaseID, githubsim.Asset{
		Name: "support-agent-1.2.0.tar.gz", Data: []byte("support-agent 1.2.0: the agent bundle the decision is about\n"),
	})
	return d, nil
}

func (d *demoSigstore) Close() { d.ss.Close() }

// inputs are the action inputs that make a gate run sign and publish.
func (d *demoSigstore) inputs() map[string]string {
	return map[string]string{
		"signer": "sigstore", "fulcio-url": d.ss.FulcioURL(), "tsa-url": d.ss.TSAURL(), "transparency-log": "tsa",
		"trusted-root": d.rootPath, "release-tag": demoReleaseTag, "subjects": "*.tar.gz",
	}
}

// export copies what the allow published to the release into out, for an
// auditor, and prints how to verify it.
func (d *demoSigstore) export(sim *githubsim.Server, out, policyDigest string, stdio Stdio) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	var bundle string
	for _, a := range sim.ReleaseAssets("acme", "support-agent", d.releaseID) {
		if !strings.HasSuffix(a.Name, ".sigstore.json") && a.Name != "trusted_root.json" && a.Name != d.subject.Name {
			continue
		}
		if err := os.WriteFile(filepath.Join(out, a.Name), a.Data, 0o644); err != nil {
			return fault.Operationalf("demo: %w", err)
		}
		if strings.HasSuffix(a.Name, ".sigstore.json") {
			bundle = a.Name
		}
	}
	if bundle == "" {
		return fault.Operationalf("demo: the allow published no bundle to release %s", demoReleaseTag)
	}
	san := "https://github.com/acme/support-agent/.github/workflows/promote.yml@refs/heads/main"
	fmt.Fprintf(stdio.Out, "\nthe allowed decision, signed (Fulcio certificate + RFC 3161 timestamp from in-process services) and attached to draft release %s, is in %s:\n", demoReleaseTag, out)
	fmt.Fprintf(stdio.Out, "  %s  (Sigstore bundle, predicate %s)\n  trusted_root.json\n  %s  (the subject)\n", bundle, attest.PredicateType, d.subject.Name)
	fmt.Fprintf(stdio.Out, "an auditor verifies it offline with cosign v3:\n  cd %s && cosign verify-blob-attestation --bundle %s --trusted-root trusted_root.json \\\n"+
		"    --certificate-identity %s --certificate-oidc-issuer %s \\\n"+
		"    --type %s --use-signed-timestamps --insecure-ignore-tlog=true --insecure-ignore-sct=true %s\n",
		out, bundle, san, sim.IssuerURL(), attest.PredicateType, d.subject.Name)
	fmt.Fprintf(stdio.Out, "or with airlock, which also refuses it once notAfter has passed or if another policy decided\n"+
		"(the digest is what `airlock policy digest` computes from the demo's policy directory):\n"+
		"  cd %s && airlock verify --offline --bundle %s --trusted-root trusted_root.json \\\n"+
		"    --certificate-identity %s --certificate-oidc-issuer %s \\\n"+
		"    --policy-digest %s %s\n",
		out, bundle, san, sim.IssuerURL(), policyDigest, d.subject.Name)
	return nil
}
