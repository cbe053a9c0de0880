package cli

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/issuersim"
)

// The demo's client at its production issuer. Not a secret of anyone's:
// the issuer lives for the demo's run only.
const (
	demoMintSecretEnv = "DEMO_MINT_CLIENT_SECRET"
	demoMintSecret    = "demo-only-client-secret"
	demoMintClient    = "airlock-promoter"
	demoMintAudience  = "https://prod-issuer.demo.invalid"
	demoPrincipal     = "agent:support-agent:prod"
)

// startDemoIssuer starts the in-process production issuer (RFC 8693) that
// the allow's run mints at, trusting the simulated GitHub's OIDC tokens of
// the promotion job, and returns the gate inputs that point at it.
func startDemoIssuer(sim *githubsim.Server, owner, repo string) (*issuersim.Server, map[string]string, error) {
	sub := fmt.Sprint(githubsim.DefaultRunClaims(owner, repo)["sub"])
	s, err := issuersim.Start(issuersim.Policy{
		TrustedIssuer: sim.IssuerURL(), JWKSURL: sim.IssuerURL() + "/.well-known/jwks", Audience: demoMintAudience,
		Subject: sub, Principal: demoPrincipal,
		ClientID: demoMintClient, ClientSecret: demoMintSecret,
		Scopes:   []string{"kb:read", "tickets:read", "tickets:write"},
		Lifetime: 15 * time.Minute,
	}, httpx.NewClient(httpx.Options{Timeout: 10 * time.Second}))
	if err != nil {
		return nil, nil, fault.Operationalf("demo: start the production issuer: %w", err)
	}
	return s, map[string]string{
		"mint-token-url":         s.URL() + "/oauth2/token",
		"mint-grant":             "token-exchange",
		"mint-audience":          demoMintAudience,
		"mint-client-id":         demoMintClient,
		"mint-client-secret-env": demoMintSecretEnv,
		"mint-introspect-url":    s.URL() + "/oauth2/introspect",
		"mint-revoke-url":        s.URL() + "/oauth2/revoke",
		"mint-issuer":            s.URL(),
	}, nil
}

func withWorkflow(in map[string]string, workflow string) map[string]string {
	out := maps.Clone(in)
	out["workflow"] = workflow
	return out
}

// showMinted prints the step summary's production credential section: what
// was minted after the allow (never the token, which only the masked
// output carries).
func showMinted(summaryPath string, stdio Stdio) error {
	b, err := os.ReadFile(summaryPath)
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	const head = "### Production credential"
	_, sec, ok := strings.Cut(string(b), head)
	if !ok {
		return fault.Operationalf("demo: the allow minted no production credential (no %q in %s)", head, summaryPath)
	}
	sec, _, _ = strings.Cut(sec, "\n###")
	fmt.Fprintf(stdio.Out, "after the allow, airlock minted the production credential (RFC 8693 at the demo's in-process issuer):\n%s", indent(strings.TrimSpace(sec)))
	if !strings.Contains(sec, "Issued by") {
		return fault.Operationalf("demo: the production credential was not issued: %s", strings.TrimSpace(sec))
	}
	return nil
}
