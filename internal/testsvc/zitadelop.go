package testsvc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ZitadelOIDCVersion is the zitadel/oidc release tools/zitadelop wraps.
const ZitadelOIDCVersion = "v3.52.0"

// ZitadelOPVersion keys the built binary: the library's version and a hash
// of our wrapper (main.go, go.sum), so a change to the trust policy builds
// anew. scripts/tool.sh computes the same.
func ZitadelOPVersion() (string, error) {
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "tools", "zitadelop")
	h := sha256.New()
	for _, name := range []string{"main.go", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return ZitadelOIDCVersion + "-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ZitadelOPConfig is the production issuer's trust policy (tools/zitadelop).
type ZitadelOPConfig struct {
	// TrustIssuer, TrustJWKS and TrustAudience verify subject tokens.
	TrustIssuer, TrustJWKS, TrustAudience string
	// Subject may exchange and becomes Principal.
	Subject, Principal     string
	ClientID, ClientSecret string
	Scopes                 []string
	// ExtraScope is issued on top of the requested ones (to be refused).
	ExtraScope string
}

// ZitadelOP is a running zitadel/oidc OpenID provider (RFC 8693, 7662, 7009).
type ZitadelOP struct {
	Issuer                                    string
	TokenURL, IntrospectionURL, RevocationURL string
	TokenExchangeSupported                    bool
}

// StartZitadelOP starts tools/zitadelop on a free loopback port and stops
// it when the test ends. Skips (fails under CI=true) when it is not built.
func StartZitadelOP(t testing.TB, cfg ZitadelOPConfig) *ZitadelOP {
	t.Helper()
	version, err := ZitadelOPVersion()
	if err != nil {
		t.Fatalf("zitadelop: %v", err)
	}
	bin := requireTool(t, "zitadelop", version)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "issuer-url")
	args := []string{"-addr", "127.0.0.1:0", "-url-file", urlFile,
		"-trust-issuer", cfg.TrustIssuer, "-trust-jwks", cfg.TrustJWKS, "-trust-audience", cfg.TrustAudience,
		"-subject", cfg.Subject, "-principal", cfg.Principal,
		"-client-id", cfg.ClientID, "-client-secret", cfg.ClientSecret, "-scopes", strings.Join(cfg.Scopes, ",")}
	if cfg.ExtraScope != "" {
		args = append(args, "-extra-scope", cfg.ExtraScope)
	}
	p, err := start(t, bin, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("zitadelop log: %s", tail(p.log))
		}
	})
	var issuer string
	for deadline := time.Now().Add(20 * time.Second); issuer == ""; {
		if b, err := os.ReadFile(urlFile); err == nil {
			issuer = string(b)
			break
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("zitadelop exited (%v): %s", err, tail(p.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("zitadelop did not start: %s", tail(p.log))
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := p.waitGet(issuer+".well-known/openid-configuration", 20*time.Second)
	if err != nil {
		t.Fatalf("zitadelop: %v", err)
	}
	var d struct {
		Issuer        string   `json:"issuer"`
		Token         string   `json:"token_endpoint"`
		Introspection string   `json:"introspection_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Grants        []string `json:"grant_types_supported"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("zitadelop discovery: %v", err)
	}
	if d.Token == "" || d.Introspection == "" || d.Revocation == "" {
		t.Fatalf("zitadelop discovery lacks an endpoint: %s", b)
	}
	op := &ZitadelOP{Issuer: d.Issuer, TokenURL: d.Token, IntrospectionURL: d.Introspection, RevocationURL: d.Revocation}
	for _, g := range d.Grants {
		if g == "urn:ietf:params:oauth:grant-type:token-exchange" {
			op.TokenExchangeSupported = true
		}
	}
	if !op.TokenExchangeSupported {
		t.Fatalf("zitadelop does not advertise the token-exchange grant: %s", b)
	}
	return op
}
