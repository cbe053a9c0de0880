package mint

// RFC 7523 JWT bearer against a real Ory Hydra v2.3.0 (internal/testsvc
// starts it; build it once with `scripts/tool.sh hydra`), the job's OIDC
// token minted by the GitHub simulator.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/revocation"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

const jobSub = "repo:acme/agent:environment:production"

type hydraSetup struct {
	h      *testsvc.Hydra
	gh     *githubsim.Server
	client testsvc.HydraClient
	cfg    Config
}

// setupHydra trusts the simulator's issuer for jobSub and scopes, and
// registers a JWT-bearer client whose tokens live lifespan.
func setupHydra(t *testing.T, scopes []string, lifespan time.Duration) *hydraSetup {
	t.Helper()
	h := testsvc.StartHydra(t)
	gh := githubsim.NewForTest(t)
	gh.SetRunClaims(map[string]any{"sub": jobSub, "repository": "acme/agent", "repository_owner": "acme", "run_id": "42"})
	kid, err := gh.CurrentKeyID()
	if err != nil {
		t.Fatal(err)
	}
	jwk := testsvc.FetchJWK(t, gh.IssuerURL()+"/.well-known/jwks", kid)
	h.TrustJWTBearerIssuer(t, gh.IssuerURL(), jobSub, scopes, jwk, time.Now().Add(time.Hour))
	c := h.CreateJWTBearerClient(t, scopes, lifespan)
	return &hydraSetup{h: h, gh: gh, client: c, cfg: Config{
		TokenURL: h.TokenURL(), IntrospectURL: h.IntrospectionURL(), RevokeURL: h.RevocationURL(),
		Issuer: h.PublicURL, Grant: GrantJWTBearer, ClientID: c.ID, ClientSecret: c.Secret, Audience: h.TokenURL(),
	}}
}

func (s *hydraSetup) jobToken(t *testing.T) string {
	t.Helper()
	tok, err := s.gh.RunToken(s.cfg.Audience)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newMinter(masked *[]string) *Minter {
	return &Minter{
		HTTP:  httpx.NewClient(httpx.Options{Timeout: 10 * time.Second}),
		Mask:  func(s string) { *masked = append(*masked, s) },
		Retry: httpx.Retry{Backoff: time.Millisecond},
	}
}

// introspectActive asks Hydra directly (not through mint) whether token is active.
func introspectActive(t *testing.T, m *Minter, cfg Config, token string) *introspection {
	t.Helper()
	in, err := m.introspect(context.Background(), cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// assertNoSecret fails when any secret appears in any of the values
// (errors, records, outcomes) as text or JSON.
func assertNoSecret(t *testing.T, secrets []string, vals ...any) {
	t.Helper()
	for i, v := range vals {
		var texts []string
		switch x := v.(type) {
		case error:
			if x != nil {
				texts = append(texts, x.Error())
			}
		case string:
			texts = append(texts, x)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, string(b))
		}
		for _, s := range secrets {
			for _, tx := range texts {
				if s != "" && strings.Contains(tx, s) {
					t.Errorf("value %d leaks a secret (%d bytes)", i, len(s))
				}
			}
		}
	}
}

func TestHydraJWTBearerAllowThenRevoke(t *testing.T) {
	s := setupHydra(t, []string{"deploy:read", "deploy:write", "admin"}, 2*time.Minute)
	var masked []string
	m := newMinter(&masked)
	job := s.jobToken(t)
	notAfter := time.Now().Add(10 * time.Minute)
	qa := []revocation.Result{{Name: "qa-hydra", Subject: "qa-agent", ClientID: "qa-client"}}
	out, err := m.Mint(context.Background(), s.cfg, job, []string{"deploy:read", "deploy:write"}, notAfter, qa)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("record: %+v", out.Record)
	if out.Denied() || out.Record.Status != StatusIssued {
		t.Fatalf("expected an issued credential, got %s: %s", out.Record.Status, out.Record.Reason)
	}
	c := out.Credential
	if len(masked) != 1 || masked[0] != c.Token {
		t.Errorf("expected Mask called once with the token, got %d calls", len(masked))
	}
	id := c.Identity
	if id.Subject != jobSub || id.ClientID != s.client.ID || strings.Join(id.Scopes, " ") != "deploy:read deploy:write" {
		t.Errorf("expected sub %q client %q scopes 'deploy:read deploy:write', got %+v", jobSub, s.client.ID, id)
	}
	if id.ExpiresAt.After(notAfter) || time.Until(id.ExpiresAt) > 2*time.Minute+5*time.Second {
		t.Errorf("expected expiry within the client's 2m lifespan and notAfter, got %s", id.ExpiresAt)
	}
	if in := introspectActive(t, m, s.cfg, c.Token); !in.Active {
		t.Fatal("expected Hydra to say the minted token is active")
	}
	rr, err := m.Revoke(context.Background(), s.cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	if !rr.Revoked || !rr.ConfirmedInactive {
		t.Errorf("expected revoked and confirmed inactive, got %+v", rr)
	}
	if in := introspectActive(t, m, s.cfg, c.Token); in.Active {
		t.Error("expected Hydra to say the revoked token is inactive")
	}
	assertNoSecret(t, []string{c.Token, s.client.Secret, job}, out.Record, rr, c.String())
}

func TestHydraJWTBearerDenies(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lifespan time.Duration
		notAfter time.Duration
		qa       func(s *hydraSetup) []revocation.Result
		reason   string
	}{
		// Hydra's default lifespan (1h) exceeds the decision's 10 minutes.
		{"expiry beyond notAfter", 0, 10 * time.Minute, nil, "after the decision's notAfter"},
		{"C3 subject reuse", 2 * time.Minute, 10 * time.Minute, func(*hydraSetup) []revocation.Result {
			return []revocation.Result{{Name: "qa-oidc", Subject: jobSub}}
		}, "qa-oidc.subject=issued.subject"},
		{"C3 client reuse", 2 * time.Minute, 10 * time.Minute, func(s *hydraSetup) []revocation.Result {
			return []revocation.Result{{Name: "qa-hydra", ClientID: s.client.ID}}
		}, "qa-hydra.client_id=issued.client_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := setupHydra(t, []string{"deploy:read"}, tc.lifespan)
			var masked []string
			m := newMinter(&masked)
			var qa []revocation.Result
			if tc.qa != nil {
				qa = tc.qa(s)
			}
			out, err := m.Mint(context.Background(), s.cfg, s.jobToken(t), []string{"deploy:read"}, time.Now().Add(tc.notAfter), qa)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("record: %+v revocation: %+v", out.Record, out.Record.Revocation)
			if !out.Denied() || out.Record.Status != StatusDenied || !strings.Contains(out.Record.Reason, tc.reason) {
				t.Fatalf("expected a deny naming %q, got %s: %s", tc.reason, out.Record.Status, out.Record.Reason)
			}
			if rr := out.Record.Revocation; rr == nil || !rr.Revoked || !rr.ConfirmedInactive {
				t.Fatalf("expected the issued token revoked and confirmed, got %+v", rr)
			}
			if len(masked) != 1 {
				t.Fatalf("expected the token masked once, got %d", len(masked))
			}
			if in := introspectActive(t, m, s.cfg, masked[0]); in.Active {
				t.Error("expected Hydra to say the denied token is inactive")
			}
			assertNoSecret(t, []string{masked[0], s.client.Secret}, out.Record)
		})
	}
}

func TestHydraJWTBearerRefusesUntrustedScope(t *testing.T) {
	s := setupHydra(t, []string{"deploy:read"}, 2*time.Minute)
	var masked []string
	m := newMinter(&masked)
	out, err := m.Mint(context.Background(), s.cfg, s.jobToken(t), []string{"deploy:read", "admin"}, time.Now().Add(10*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("record: %+v", out.Record)
	if !out.Denied() || !strings.Contains(out.Record.Reason, "the issuer refused the grant") || len(masked) != 0 {
		t.Fatalf("expected Hydra's refusal as a deny with nothing issued, got %s: %s (masked %d)", out.Record.Status, out.Record.Reason, len(masked))
	}
}
