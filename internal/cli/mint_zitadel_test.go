package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

// zitadelRig is a gate run that mints by RFC 8693 token exchange at a real
// OpenID provider: zitadel/oidc's op (tools/zitadelop), trusting the
// simulator's OIDC tokens for the job's subject.
type zitadelRig struct {
	op             *testsvc.ZitadelOP
	client, secret string
}

// zitadel/oidc's opaque tokens encode "tokenID:subject", so a principal
// may not hold a colon.
const zitadelPrincipal = "support-agent-prod"

func newZitadelRig(t *testing.T, r *gateRun, edit func(*testsvc.ZitadelOPConfig)) *zitadelRig {
	t.Helper()
	cfg := testsvc.ZitadelOPConfig{
		TrustIssuer: r.sim.IssuerURL(), TrustJWKS: r.sim.IssuerURL() + "/.well-known/jwks", TrustAudience: "https://prod-issuer.example",
		Subject: r.claims["sub"].(string), Principal: zitadelPrincipal,
		ClientID: "airlock-promoter", ClientSecret: "zitadel-client-secret-" + randomSuffix(t),
		Scopes: fixtureScopes,
	}
	if edit != nil {
		edit(&cfg)
	}
	z := &zitadelRig{op: testsvc.StartZitadelOP(t, cfg), client: cfg.ClientID, secret: cfg.ClientSecret}
	r.env["MINT_CLIENT_SECRET"] = z.secret
	for k, v := range map[string]string{
		"INPUT_MINT-TOKEN-URL":         z.op.TokenURL,
		"INPUT_MINT-GRANT":             "token-exchange",
		"INPUT_MINT-AUDIENCE":          cfg.TrustAudience,
		"INPUT_MINT-CLIENT-ID":         z.client,
		"INPUT_MINT-CLIENT-SECRET-ENV": "MINT_CLIENT_SECRET",
		"INPUT_MINT-INTROSPECT-URL":    z.op.IntrospectionURL,
		"INPUT_MINT-REVOKE-URL":        z.op.RevocationURL,
		"INPUT_MINT-ISSUER":            z.op.Issuer,
	} {
		r.env[k] = v
	}
	return z
}

func randomSuffix(t *testing.T) string {
	return strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")[:8] + time.Now().Format("150405.000000000")
}

// introspect asks the provider itself (RFC 7662, the client's basic auth).
func (z *zitadelRig) introspect(t *testing.T, token string) (active bool, sub, scope string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, z.op.IntrospectionURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(z.client, z.secret)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
		Scope  string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in.Active, in.Sub, in.Scope
}

func TestGateMintsByTokenExchangeAtZitadel(t *testing.T) {
	t.Run("an allow mints exactly the granted scopes for the production principal", func(t *testing.T) {
		r := newSignedRun(t)
		mintingRun(t, r.gateRun)
		z := newZitadelRig(t, r.gateRun, nil)
		o := r.gate()
		if o.code != ExitAllow || o.outputs["attested"] != "true" {
			t.Fatalf("exit %d attested %q reasons %s\n%s", o.code, o.outputs["attested"], o.outputs["reasons"], o.stderr)
		}
		tok := o.rawOutputs["production-token"]
		if tok == "" || !strings.Contains(o.stdout, "::add-mask::"+tok) {
			t.Fatal("no masked production-token output")
		}
		active, sub, scope := z.introspect(t, tok)
		if got := strings.Fields(scope); !active || sub != zitadelPrincipal || !slices.Equal(sortedCopy(got), fixtureScopes) {
			t.Errorf("the provider says active=%v sub=%q scope=%q, want active, %s, exactly %v", active, sub, scope, zitadelPrincipal, fixtureScopes)
		}
		var rec struct {
			Grant, Status, Subject string
			ClientID               string `json:"client_id"`
			Scopes                 []string
			ExpiresAt              time.Time `json:"expires_at"`
			NotAfter               time.Time `json:"not_after"`
		}
		if err := json.Unmarshal([]byte(o.rawOutputs["production-credential"]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Grant != "token-exchange" || rec.Status != "issued" || rec.Subject != zitadelPrincipal || rec.ClientID != z.client || rec.ExpiresAt.After(rec.NotAfter) {
			t.Errorf("credential record %+v", rec)
		}
		bundle, err := os.ReadFile(o.outputs["bundle-path"])
		if err != nil {
			t.Fatal(err)
		}
		if c := readPredicate(t, bundle).Credential; c == nil || c.Subject != zitadelPrincipal || string(c.Grant) != "token-exchange" {
			t.Errorf("signed credential %+v", c)
		}
		assertNoToken(t, r.gateRun, o, tok, z.secret)
	})
	for _, tc := range []struct {
		name, reason string
		edit         func(*testsvc.ZitadelOPConfig)
		env          map[string]string
	}{
		{"a scope beyond the grants is a deny, and revoked", "beyond the granted ones: admin:all",
			func(c *testsvc.ZitadelOPConfig) { c.ExtraScope = "admin:all" }, nil},
		{"the issued principal used in QA is a C3 deny, and revoked", `"control":"C3"`,
			func(c *testsvc.ZitadelOPConfig) { c.Principal = "qa-deploy-bot" }, nil},
		// The provider's tokens live 5 minutes.
		{"a credential that outlives the decision is a deny, and revoked", "after the decision's notAfter",
			nil, map[string]string{"INPUT_DECISION-TTL": "2m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t)
			mintingRun(t, r)
			z := newZitadelRig(t, r, tc.edit)
			for k, v := range tc.env {
				r.env[k] = v
			}
			o := r.gate()
			if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], tc.reason) || o.rawOutputs["production-token"] != "" {
				t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
			}
			// The refused token is the masked value whose sha256 the
			// record names.
			var rec struct {
				TokenSHA256 string `json:"token_sha256"`
			}
			if err := json.Unmarshal([]byte(o.rawOutputs["production-credential"]), &rec); err != nil || rec.TokenSHA256 == "" {
				t.Fatalf("production-credential %q: %v", o.rawOutputs["production-credential"], err)
			}
			toks := maskedValues(o.stdout)
			i := slices.IndexFunc(toks, func(v string) bool {
				sum := sha256.Sum256([]byte(v))
				return hex.EncodeToString(sum[:]) == rec.TokenSHA256
			})
			if i < 0 {
				t.Fatalf("none of the %d masked values is the issued token", len(toks))
			}
			if active, _, _ := z.introspect(t, toks[i]); active {
				t.Error("the refused credential is still active at the provider")
			}
			assertNoToken(t, r, o, append(toks, z.secret)...)
		})
	}
}
