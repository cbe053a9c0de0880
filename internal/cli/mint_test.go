package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

// grantedScopes of the "same" manifests fixture: what an allow grants.
var fixtureScopes = []string{"kb:read", "tickets:read", "tickets:write"}

// mintRig is a gate run that mints at a real Hydra: the simulator's OIDC
// issuer is a trusted JWT-bearer issuer there (RFC 7523), for the job's
// subject and the fixture's scopes. The token endpoint sits behind a
// recorder, so the test learns each issued token (to ask Hydra about it)
// and counts requests.
type mintRig struct {
	hydra  *testsvc.Hydra
	client testsvc.HydraClient
	mu     sync.Mutex
	issued []string
	calls  int
}

func newMintRig(t *testing.T, r *gateRun, trusted []string, lifespan time.Duration) *mintRig {
	t.Helper()
	h := testsvc.StartHydra(t)
	m := &mintRig{hydra: h, client: trustJobAtHydra(t, h, r, trusted, lifespan)}
	u, _ := url.Parse(h.PublicURL)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(b, &tok) == nil && tok.AccessToken != "" {
			m.mu.Lock()
			m.issued = append(m.issued, tok.AccessToken)
			m.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m.mu.Lock()
		m.calls++
		m.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	// Hydra checks the assertion's aud against its own token URL.
	r.env["MINT_CLIENT_SECRET"] = m.client.Secret
	for k, v := range map[string]string{
		"INPUT_MINT-TOKEN-URL":         srv.URL + "/oauth2/token",
		"INPUT_MINT-GRANT":             "jwt-bearer",
		"INPUT_MINT-AUDIENCE":          h.TokenURL(),
		"INPUT_MINT-CLIENT-ID":         m.client.ID,
		"INPUT_MINT-CLIENT-SECRET-ENV": "MINT_CLIENT_SECRET",
		"INPUT_MINT-INTROSPECT-URL":    h.IntrospectionURL(),
		"INPUT_MINT-REVOKE-URL":        h.RevocationURL(),
		"INPUT_MINT-ISSUER":            h.PublicURL,
	} {
		r.env[k] = v
	}
	return m
}

// trustJobAtHydra makes Hydra trust the run's OIDC issuer for the job's
// subject (RFC 7523) and returns a client that may use the grant.
func trustJobAtHydra(t *testing.T, h *testsvc.Hydra, r *gateRun, trusted []string, lifespan time.Duration) testsvc.HydraClient {
	t.Helper()
	kid, err := r.sim.CurrentKeyID()
	if err != nil {
		t.Fatal(err)
	}
	jwk := testsvc.FetchJWK(t, r.sim.IssuerURL()+"/.well-known/jwks", kid)
	h.TrustJWTBearerIssuer(t, r.sim.IssuerURL(), r.claims["sub"].(string), trusted, jwk, time.Now().Add(time.Hour))
	return h.CreateJWTBearerClient(t, trusted, lifespan)
}

func (m *mintRig) tokens() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.issued)
}

// introspect asks Hydra itself what a token is.
func (m *mintRig) introspect(t *testing.T, token string) (active bool, scope string) {
	t.Helper()
	resp, err := http.PostForm(m.hydra.IntrospectionURL(), url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return in.Active, in.Scope
}

// mintingRun is an allow with the agent manifests (whose scopes the
// decision grants) and a revoked QA token.
func mintingRun(t *testing.T, r *gateRun) {
	delete(r.env, "INPUT_PRODUCTION-IDENTITY")
	r.withManifests("same")
	r.allowScopes()
	r.withQAGitHubToken()()
}

// assertNoToken scans every channel but the token's own output for the
// token and the client secret.
func assertNoToken(t *testing.T, r *gateRun, o outcome, secrets ...string) {
	t.Helper()
	outs := []string{}
	for k, v := range o.rawOutputs {
		if k != "production-token" {
			outs = append(outs, v)
		}
	}
	var stdout []string
	for _, l := range strings.Split(o.stdout, "\n") {
		if !strings.HasPrefix(l, "::add-mask::") {
			stdout = append(stdout, l)
		}
	}
	docs := ""
	for _, k := range []string{"decision-path", "bundle-path"} {
		if p := o.outputs[k]; p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			docs += string(b)
		}
	}
	all := strings.Join(stdout, "\n") + o.stderr + o.summary + o.evidenceRaw + docs + strings.Join(outs, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("a secret (%d bytes) leaked outside the production-token output", len(s))
		}
	}
}

func TestGateMintsTheProductionCredential(t *testing.T) {
	r := newSignedRun(t)
	mintingRun(t, r.gateRun)
	m := newMintRig(t, r.gateRun, fixtureScopes, 10*time.Minute)
	o := r.gate()
	if o.code != ExitAllow || o.outputs["attested"] != "true" {
		t.Fatalf("exit %d attested %q reasons %s\n%s", o.code, o.outputs["attested"], o.outputs["reasons"], o.stderr)
	}
	issued := m.tokens()
	if len(issued) != 1 || o.rawOutputs["production-token"] != issued[0] {
		t.Fatalf("issued %d token(s); the production-token output is not the one Hydra issued", len(issued))
	}
	if !strings.Contains(o.stdout, "::add-mask::"+issued[0]) {
		t.Error("the minted token was not masked")
	}
	active, scope := m.introspect(t, issued[0])
	if got := strings.Fields(scope); !active || !slices.Equal(sortedCopy(got), fixtureScopes) {
		t.Errorf("Hydra says active=%v scope=%q, want active with exactly %v", active, scope, fixtureScopes)
	}
	var rec struct {
		Status      string    `json:"status"`
		Scopes      []string  `json:"scopes"`
		Subject     string    `json:"subject"`
		ClientID    string    `json:"client_id"`
		ExpiresAt   time.Time `json:"expires_at"`
		NotAfter    time.Time `json:"not_after"`
		TokenSHA256 string    `json:"token_sha256"`
	}
	if err := json.Unmarshal([]byte(o.rawOutputs["production-credential"]), &rec); err != nil {
		t.Fatalf("production-credential: %v", err)
	}
	if rec.Status != "issued" || rec.ClientID != m.client.ID || rec.TokenSHA256 == "" || rec.ExpiresAt.After(rec.NotAfter) || rec.ExpiresAt.IsZero() {
		t.Errorf("credential record %+v", rec)
	}
	// The signed decision records the credential; its notAfter bounds it.
	bundle, err := os.ReadFile(o.outputs["bundle-path"])
	if err != nil {
		t.Fatal(err)
	}
	pred := readPredicate(t, bundle)
	if c := pred.Credential; c == nil || c.Status != "issued" || c.TokenSHA256 != rec.TokenSHA256 || c.ExpiresAt == nil || c.ExpiresAt.After(pred.Validity.NotAfter) {
		t.Errorf("signed credential %+v, validity notAfter %s", c, pred.Validity.NotAfter)
	}
	if !strings.Contains(o.summary, "Production credential") {
		t.Error("the summary does not show the credential")
	}
	assertNoToken(t, r.gateRun, o, issued[0], m.client.Secret)
}

func TestGateMintFailuresRevoke(t *testing.T) {
	t.Run("a deny mints nothing", func(t *testing.T) {
		r := newRun(t)
		mintingRun(t, r)
		r.env["INPUT_APPROVERS"] = "someone-else"
		m := newMintRig(t, r, fixtureScopes, 10*time.Minute)
		o := r.gate()
		if o.code != ExitDeny || m.calls != 0 || o.rawOutputs["production-token"] != "" {
			t.Fatalf("exit %d, %d token request(s), production-token set=%v\n%s", o.code, m.calls, o.rawOutputs["production-token"] != "", o.stderr)
		}
	})
	t.Run("a credential that outlives the decision is a deny, and revoked", func(t *testing.T) {
		r := newRun(t)
		mintingRun(t, r)
		r.env["INPUT_DECISION-TTL"] = "5m"
		m := newMintRig(t, r, fixtureScopes, time.Hour)
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], "after the decision's notAfter") || o.rawOutputs["production-token"] != "" {
			t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
		}
		for _, tok := range m.tokens() {
			if active, _ := m.introspect(t, tok); active {
				t.Error("the refused credential is still active at Hydra")
			}
		}
		if len(m.tokens()) != 1 {
			t.Errorf("%d tokens issued, want 1", len(m.tokens()))
		}
		assertNoToken(t, r, o, append(m.tokens(), m.client.Secret)...)
	})
	t.Run("an issued identity used in QA is a C3 deny, and revoked", func(t *testing.T) {
		r := newRun(t)
		mintingRun(t, r)
		// Hydra's JWT-bearer token is the job's subject; QA declares it.
		r.env["INPUT_QA-CREDENTIALS"] = strings.Replace(r.env["INPUT_QA-CREDENTIALS"], "declared-subject: qa-deploy-bot", "declared-subject: "+r.claims["sub"].(string), 1)
		m := newMintRig(t, r, fixtureScopes, 10*time.Minute)
		o := r.gate()
		if o.code != ExitDeny || !strings.Contains(o.outputs["reasons"], `"control":"C3"`) || !strings.Contains(o.outputs["reasons"], "QA identity") {
			t.Fatalf("exit %d reasons %s\n%s", o.code, o.outputs["reasons"], o.stderr)
		}
		for _, tok := range m.tokens() {
			if active, _ := m.introspect(t, tok); active {
				t.Error("the credential with a QA identity is still active at Hydra")
			}
		}
		assertNoToken(t, r, o, append(m.tokens(), m.client.Secret)...)
	})
	t.Run("a signing failure after minting revokes the credential", func(t *testing.T) {
		r := newSignedRun(t)
		mintingRun(t, r.gateRun)
		m := newMintRig(t, r.gateRun, fixtureScopes, 10*time.Minute)
		r.sim.InjectFault("POST /repos/{owner}/{repo}/attestations", githubsim.Fault{Status: 500, Times: 10})
		o := r.gate()
		if o.code != ExitOperational || o.outputs["decision"] != "allow" || o.rawOutputs["production-token"] != "" {
			t.Fatalf("exit %d decision %q token output set=%v\n%s", o.code, o.outputs["decision"], o.rawOutputs["production-token"] != "", o.stderr)
		}
		if len(m.tokens()) != 1 {
			t.Fatalf("%d tokens issued, want 1", len(m.tokens()))
		}
		if active, _ := m.introspect(t, m.tokens()[0]); active {
			t.Error("Hydra says the credential is still active after the failed publish")
		}
		if !strings.Contains(o.summary, "revoked") {
			t.Errorf("the summary does not say the credential was revoked:\n%s", o.summary)
		}
		assertNoToken(t, r.gateRun, o, append(m.tokens(), m.client.Secret)...)
	})
	t.Run("mint inputs without mint-token-url are refused before any request", func(t *testing.T) {
		r := newRun(t)
		mintingRun(t, r)
		r.env["INPUT_MINT-GRANT"] = "jwt-bearer"
		o := r.gate()
		if o.code != ExitUsage || !strings.Contains(o.stderr, "input mint-grant is set, but mint-token-url is not") || len(r.sim.Requests()) != 0 {
			t.Fatalf("exit %d, %d request(s)\n%s", o.code, len(r.sim.Requests()), o.stderr)
		}
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
