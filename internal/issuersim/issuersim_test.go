package issuersim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

func TestTokenExchange(t *testing.T) {
	sim, err := githubsim.New()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.Seed("acme", "app")
	claims := githubsim.DefaultRunClaims("acme", "app")
	sim.SetRunClaims(claims)
	s, err := Start(Policy{
		TrustedIssuer: sim.IssuerURL(), JWKSURL: sim.IssuerURL() + "/.well-known/jwks", Audience: "prod",
		Subject: claims["sub"].(string), Principal: "agent:prod", ClientID: "c", ClientSecret: "s",
		Scopes: []string{"a", "b"}, Lifetime: time.Minute,
	}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	job, err := sim.RunToken("prod")
	if err != nil {
		t.Fatal(err)
	}
	other, err := sim.RunToken("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, secret string, form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("c", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	exchange := func(subject, scope string) url.Values {
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "scope": {scope}}
	}
	for name, c := range map[string]struct {
		secret string
		form   url.Values
		status int
		code   string
	}{
		"wrong client secret":   {"x", exchange(job, "a"), 401, "invalid_client"},
		"wrong audience":        {"s", exchange(other, "a"), 400, "invalid_grant"},
		"not a token":           {"s", exchange("e30.e30.e30", "a"), 400, "invalid_grant"},
		"scope not allowed":     {"s", exchange(job, "a c"), 400, "invalid_scope"},
		"another grant refused": {"s", url.Values{"grant_type": {"client_credentials"}}, 400, "unsupported_grant_type"},
	} {
		if st, out := post("/oauth2/token", c.secret, c.form); st != c.status || out["error"] != c.code {
			t.Errorf("%s: HTTP %d %v, want %d %s", name, st, out, c.status, c.code)
		}
	}
	st, tok := post("/oauth2/token", "s", exchange(job, "a b"))
	if st != 200 || tok["scope"] != "a b" || tok["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("exchange: HTTP %d %v", st, tok)
	}
	access := tok["access_token"].(string)
	if _, in := post("/oauth2/introspect", "s", url.Values{"token": {access}}); in["active"] != true || in["sub"] != "agent:prod" || in["scope"] != "a b" || in["iss"] != s.URL() {
		t.Errorf("introspection %v", in)
	}
	if st, _ := post("/oauth2/revoke", "s", url.Values{"token": {access}}); st != 200 {
		t.Errorf("revoke: HTTP %d", st)
	}
	if _, in := post("/oauth2/introspect", "s", url.Values{"token": {access}}); in["active"] != false {
		t.Errorf("after revocation: %v", in)
	}
}
