package githubsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

// testKey is shared so that each test does not pay for RSA key generation.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newSim(t *testing.T, opts ...githubsim.Option) *githubsim.Server {
	t.Helper()
	return githubsim.NewForTest(t, append([]githubsim.Option{githubsim.WithSigningKey(testKey())}, opts...)...)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, url, auth string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// ghError checks GitHub's error shape and returns its message.
func ghError(t *testing.T, r response) string {
	t.Helper()
	e := decode[map[string]string](t, r.body)
	if e["status"] != strconv.Itoa(r.status) || e["documentation_url"] == "" || e["message"] == "" {
		t.Fatalf("error body %s: expected message, documentation_url and status %q", r.body, strconv.Itoa(r.status))
	}
	return e["message"]
}

func tokenURL(s *githubsim.Server, aud string) string {
	return s.TokenRequestURL() + "&audience=" + aud
}

func TestActionsTokenVerifiesWithGoOIDC(t *testing.T) {
	now := time.Now()
	s := newSim(t, githubsim.WithClock(func() time.Time { return now }))
	s.SetRunClaims(githubsim.DefaultRunClaims("octo-org", "octo-repo"))

	r := get(t, tokenURL(s, "airlock"), "Bearer "+s.TokenRequestToken())
	if r.status != http.StatusOK {
		t.Fatalf("token endpoint: expected 200, got %d: %s", r.status, r.body)
	}
	tr := decode[struct {
		Count int    `json:"count"`
		Value string `json:"value"`
	}](t, r.body)
	if tr.Value == "" || tr.Count != len(tr.Value) {
		t.Fatalf("token response: expected count == len(value) > 0, got count %d, len %d", tr.Count, len(tr.Value))
	}

	ctx := oidc.ClientContext(t.Context(), &http.Client{Timeout: 10 * time.Second})
	p, err := oidc.NewProvider(ctx, s.IssuerURL())
	if err != nil {
		t.Fatalf("discover %s: %v", s.IssuerURL(), err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: "airlock", Now: func() time.Time { return now }}).Verify(ctx, tr.Value)
	if err != nil {
		t.Fatalf("verify minted token: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	want := githubsim.DefaultRunClaims("octo-org", "octo-repo")
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s: expected %q, got %v", k, v, claims[k])
		}
	}
	if len(want) < 19 {
		t.Errorf("DefaultRunClaims: expected at least 19 claims, got %d", len(want))
	}
	for _, k := range []string{"repository_id", "repository_owner_id", "run_id", "run_attempt", "actor_id", "check_run_id"} {
		if _, ok := want[k].(string); !ok {
			t.Errorf("DefaultRunClaims[%s]: expected a string like GitHub's, got %T", k, want[k])
		}
	}
	iat := int64(claims["iat"].(float64))
	if claims["iss"] != s.IssuerURL() || claims["aud"] != "airlock" || claims["jti"] == "" ||
		int64(claims["nbf"].(float64)) != iat-300 || int64(claims["exp"].(float64)) != iat+300 || iat != now.Unix() {
		t.Errorf("registered claims: got iss %v aud %v jti %v iat %v nbf %v exp %v", claims["iss"], claims["aud"], claims["jti"], claims["iat"], claims["nbf"], claims["exp"])
	}
}

func TestActionsTokenDefaultAudienceAndOverrides(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := newSim(t, githubsim.WithClock(func() time.Time { return now }))
	c := githubsim.DefaultRunClaims("octo-org", "octo-repo")
	c["exp"] = now.Add(-time.Minute).Unix() // already expired
	s.SetRunClaims(c)

	r := get(t, s.TokenRequestURL(), "Bearer "+s.TokenRequestToken())
	tok := decode[map[string]any](t, r.body)["value"].(string)
	claims := payload(t, tok)
	if claims["aud"] != "https://github.com/octo-org" {
		t.Errorf("default audience: expected %q, got %v", "https://github.com/octo-org", claims["aud"])
	}
	if got := int64(claims["exp"].(float64)); got != now.Add(-time.Minute).Unix() {
		t.Errorf("exp override: expected %d, got %d", now.Add(-time.Minute).Unix(), got)
	}
}

func payload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token: expected 3 segments, got %d", len(parts))
	}
	b, err := jsonB64(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return decode[map[string]any](t, b)
}

func TestActionsTokenRequiresRequestToken(t *testing.T) {
	s := newSim(t)
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + s.JobToken(), "Basic " + s.TokenRequestToken()} {
		r := get(t, tokenURL(s, "x"), auth)
		if r.status != http.StatusUnauthorized {
			t.Errorf("auth %q: expected 401, got %d", auth, r.status)
			continue
		}
		ghError(t, r)
		if strings.Contains(string(r.body), "eyJ") {
			t.Errorf("auth %q: 401 body carries a token: %s", auth, r.body)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	s := newSim(t)
	s.SetRunClaims(githubsim.DefaultRunClaims("o", "r"))
	oldTok, err := s.RunToken("aud")
	if err != nil {
		t.Fatal(err)
	}
	oldKid, _ := s.CurrentKeyID()
	if err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	newKid, _ := s.CurrentKeyID()
	if newKid == oldKid {
		t.Fatalf("rotate: kid unchanged %q", newKid)
	}
	newTok, err := s.RunToken("aud")
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, newTok); h["kid"] != newKid || h["alg"] != "RS256" {
		t.Errorf("new token header: expected kid %q alg RS256, got %v", newKid, h)
	}

	verify := func(tok string) error {
		ctx := oidc.ClientContext(t.Context(), &http.Client{Timeout: 10 * time.Second})
		p, err := oidc.NewProvider(ctx, s.IssuerURL())
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Verifier(&oidc.Config{ClientID: "aud"}).Verify(ctx, tok)
		return err
	}
	kids := func() []string {
		jwks := decode[struct {
			Keys []map[string]string `json:"keys"`
		}](t, get(t, s.IssuerURL()+"/.well-known/jwks", "").body)
		var out []string
		for _, k := range jwks.Keys {
			if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["n"] == "" || k["e"] != "AQAB" {
				t.Errorf("jwk %v: expected RSA/RS256/sig with n and e=AQAB", k)
			}
			out = append(out, k["kid"])
		}
		return out
	}
	if got := kids(); fmt.Sprint(got) != fmt.Sprint([]string{oldKid, newKid}) {
		t.Errorf("jwks after rotate: expected %v, got %v", []string{oldKid, newKid}, got)
	}
	if err := verify(oldTok); err != nil {
		t.Errorf("old token before retirement: %v", err)
	}
	s.RetireOldKeys()
	if got := kids(); fmt.Sprint(got) != fmt.Sprint([]string{newKid}) {
		t.Errorf("jwks after retire: expected %v, got %v", []string{newKid}, got)
	}
	if err := verify(oldTok); err == nil {
		t.Error("old token after retirement: expected a verification failure, got success")
	}
	if err := verify(newTok); err != nil {
		t.Errorf("new token after retirement: %v", err)
	}
}

func header(t *testing.T, jwt string) map[string]any {
	t.Helper()
	b, err := jsonB64(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return decode[map[string]any](t, b)
}

func TestDiscoveryShape(t *testing.T) {
	s := newSim(t)
	d := decode[map[string]any](t, get(t, s.IssuerURL()+"/.well-known/openid-configuration", "").body)
	if d["issuer"] != s.IssuerURL() || d["jwks_uri"] != s.IssuerURL()+"/.well-known/jwks" {
		t.Errorf("discovery: got issuer %v jwks_uri %v", d["issuer"], d["jwks_uri"])
	}
	if fmt.Sprint(d["id_token_signing_alg_values_supported"]) != "[RS256]" {
		t.Errorf("algs: expected [RS256], got %v", d["id_token_signing_alg_values_supported"])
	}
	if !strings.Contains(fmt.Sprint(d["claims_supported"]), "check_run_id") {
		t.Errorf("claims_supported lacks check_run_id: %v", d["claims_supported"])
	}
}

func TestRESTAuth(t *testing.T) {
	s := newSim(t)
	s.Seed("o", "r")
	s.AddToken("meta-only")
	s.AddToken("actions-reader", "actions:read")
	envURL := s.APIURL() + "/repos/o/r/environments/production"
	for _, tc := range []struct {
		name, auth string
		status     int
		msg        string
	}{
		{"no header", "", 401, "Requires authentication"},
		{"unknown token", "Bearer nope", 401, "Bad credentials"},
		{"wrong scheme", "Basic " + s.JobToken(), 401, "Bad credentials"},
		{"missing permission", "Bearer meta-only", 403, "Resource not accessible by integration"},
		{"bearer", "Bearer actions-reader", 200, ""},
		{"token scheme", "token " + s.JobToken(), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, envURL, tc.auth)
			if r.status != tc.status {
				t.Fatalf("expected %d, got %d: %s", tc.status, r.status, r.body)
			}
			if tc.msg != "" {
				if got := ghError(t, r); got != tc.msg {
					t.Errorf("message: expected %q, got %q", tc.msg, got)
				}
			}
			if tc.status == 403 && r.header.Get("X-Accepted-GitHub-Permissions") != "actions=read" {
				t.Errorf("X-Accepted-GitHub-Permissions: expected %q, got %q", "actions=read", r.header.Get("X-Accepted-GitHub-Permissions"))
			}
			if tc.status == 200 && r.header.Get("X-RateLimit-Remaining") == "" {
				t.Error("X-RateLimit-Remaining missing")
			}
		})
	}
	s.RemoveToken("actions-reader")
	if r := get(t, envURL, "Bearer actions-reader"); r.status != 401 {
		t.Errorf("removed token: expected 401, got %d", r.status)
	}
}

func TestRateLimitBudget(t *testing.T) {
	s := newSim(t, githubsim.WithRateLimit(2))
	s.Seed("o", "r")
	url := s.APIURL() + "/repos/o/r"
	for i, want := range []string{"1", "0"} {
		r := get(t, url, "Bearer "+s.JobToken())
		if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != want {
			t.Fatalf("request %d: expected 200 remaining %s, got %d remaining %q", i, want, r.status, r.header.Get("X-RateLimit-Remaining"))
		}
	}
	r := get(t, url, "Bearer "+s.JobToken())
	if r.status != 403 || !strings.Contains(ghError(t, r), "rate limit") {
		t.Fatalf("over budget: expected 403 rate limit, got %d %s", r.status, r.body)
	}
}

const envRoute = "GET /repos/{owner}/{repo}/environments/{environment_name}"

func TestFaults(t *testing.T) {
	remaining := 0
	reset := time.Unix(1_900_000_000, 0)
	for _, tc := range []struct {
		name  string
		fault githubsim.Fault
		check func(t *testing.T, r response)
	}{
		{"status", githubsim.Fault{Status: 502}, func(t *testing.T, r response) {
			if r.status != 502 || ghError(t, r) != "Bad Gateway" {
				t.Errorf("expected 502 Bad Gateway, got %d %s", r.status, r.body)
			}
		}},
		{"retry-after and rate headers", githubsim.Fault{Status: 429, RetryAfter: "7", RateLimitRemaining: &remaining, RateLimitReset: reset}, func(t *testing.T, r response) {
			if r.status != 429 || r.header.Get("Retry-After") != "7" || r.header.Get("X-RateLimit-Remaining") != "0" ||
				r.header.Get("X-RateLimit-Reset") != "1900000000" {
				t.Errorf("expected 429 with Retry-After 7, remaining 0, reset 1900000000; got %d %v", r.status, r.header)
			}
		}},
		{"message and doc url", githubsim.Fault{Status: 403, Message: "You have exceeded a secondary rate limit", DocumentationURL: "https://docs.github.com/x#about-secondary-rate-limits"}, func(t *testing.T, r response) {
			if ghError(t, r) != "You have exceeded a secondary rate limit" || !strings.Contains(string(r.body), "secondary-rate-limits") {
				t.Errorf("got %s", r.body)
			}
		}},
		{"malformed body", githubsim.Fault{Body: []byte(`{"id": 1,`)}, func(t *testing.T, r response) {
			if r.status != 200 || string(r.body) != `{"id": 1,` {
				t.Errorf("expected 200 with raw body, got %d %q", r.status, r.body)
			}
		}},
		{"oversize", githubsim.Fault{OversizeBytes: 3 << 20}, func(t *testing.T, r response) {
			if r.status != 200 || len(r.body) != 3<<20 || !json.Valid(r.body) {
				t.Errorf("expected 200 with %d bytes of valid JSON, got %d with %d bytes", 3<<20, r.status, len(r.body))
			}
		}},
		{"delay only", githubsim.Fault{Delay: 10 * time.Millisecond}, func(t *testing.T, r response) {
			if r.status != 200 || decode[map[string]any](t, r.body)["name"] != "production" {
				t.Errorf("expected the normal answer after the delay, got %d %s", r.status, r.body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.Seed("o", "r")
			s.InjectFault(envRoute, tc.fault)
			r := get(t, s.APIURL()+"/repos/o/r/environments/production", "Bearer "+s.JobToken())
			tc.check(t, r)
			log := s.Requests()
			if len(log) != 1 || !log[0].Faulted || log[0].Status != r.status {
				t.Errorf("log: expected one faulted entry with status %d, got %+v", r.status, log)
			}
		})
	}
}

func TestFaultDelayHonoursClientTimeout(t *testing.T) {
	s := newSim(t)
	s.Seed("o", "r")
	s.InjectFault(envRoute, githubsim.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL()+"/repos/o/r/environments/production", nil)
	req.Header.Set("Authorization", "Bearer "+s.JobToken())
	if resp, err := (&http.Client{}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("expected the client to give up during a one-minute delay, got %d", resp.StatusCode)
	}
}

func TestFaultTimesAndQueue(t *testing.T) {
	s := newSim(t)
	s.Seed("o", "r")
	s.InjectFault(envRoute, githubsim.Fault{Status: 500, Times: 2})
	s.InjectFault(envRoute, githubsim.Fault{Status: 429, Times: 1})
	url := s.APIURL() + "/repos/o/r/environments/production"
	var got []int
	for range 4 {
		got = append(got, get(t, url, "Bearer "+s.JobToken()).status)
	}
	if fmt.Sprint(got) != "[500 500 429 200]" {
		t.Errorf("statuses: expected [500 500 429 200], got %v", got)
	}

	s.InjectFault(envRoute, githubsim.Fault{Status: 503}) // Times 0: forever
	for i := range 3 {
		if st := get(t, url, "Bearer "+s.JobToken()).status; st != 503 {
			t.Errorf("forever fault, request %d: expected 503, got %d", i, st)
		}
	}
	s.ClearFaults()
	if st := get(t, url, "Bearer "+s.JobToken()).status; st != 200 {
		t.Errorf("after ClearFaults: expected 200, got %d", st)
	}
}

func TestSpecialRouteFaults(t *testing.T) {
	s := newSim(t)
	for _, rt := range []string{githubsim.RouteOIDCDiscovery, githubsim.RouteOIDCJWKS, githubsim.RouteActionsToken} {
		s.InjectFault(rt, githubsim.Fault{Status: 503, Times: 1})
	}
	for _, u := range []string{s.IssuerURL() + "/.well-known/openid-configuration", s.IssuerURL() + "/.well-known/jwks", tokenURL(s, "a")} {
		if st := get(t, u, "Bearer "+s.TokenRequestToken()).status; st != 503 {
			t.Errorf("%s: expected 503, got %d", u, st)
		}
		if st := get(t, u, "Bearer "+s.TokenRequestToken()).status; st != 200 {
			t.Errorf("%s after the fault: expected 200, got %d", u, st)
		}
	}
}

func TestInjectFaultUnknownRoutePanics(t *testing.T) {
	s := newSim(t)
	defer func() {
		if recover() == nil {
			t.Error("expected a panic for an unknown route")
		}
	}()
	s.InjectFault("GET /repos/{owner}/{repo}/nope", githubsim.Fault{Status: 500})
}

func TestUnimplemented(t *testing.T) {
	s := newSim(t)
	for _, u := range []string{s.APIURL() + "/repos/o/r/check-runs/1", s.URL() + "/nothing"} {
		r := get(t, u, "Bearer "+s.JobToken())
		if r.status != http.StatusNotImplemented {
			t.Errorf("%s: expected 501, got %d", u, r.status)
			continue
		}
		ghError(t, r)
	}
	un := s.Unimplemented()
	if len(un) != 2 || un[0].Path != "/api/v3/repos/o/r/check-runs/1" || un[0].Status != 501 || !un[0].HasAuth {
		t.Errorf("Unimplemented: got %+v", un)
	}
	if len(s.Requests()) != 0 {
		t.Errorf("Requests: expected unrouted requests to stay out of the routed log, got %+v", s.Requests())
	}
}

func TestRequestLog(t *testing.T) {
	s := newSim(t)
	s.Seed("o", "r")
	get(t, s.APIURL()+"/repos/o/r?x=1", "Bearer "+s.JobToken())
	get(t, s.APIURL()+"/repos/o/missing", "Bearer "+s.JobToken())
	get(t, tokenURL(s, "aud"), "Bearer "+s.TokenRequestToken())
	get(t, s.IssuerURL()+"/.well-known/jwks", "")

	log := s.Requests()
	want := []githubsim.Request{
		{Method: "GET", Path: "/api/v3/repos/o/r", Query: "x=1", Route: "GET /repos/{owner}/{repo}", OperationID: "repos/get", Status: 200, HasAuth: true},
		{Method: "GET", Path: "/api/v3/repos/o/missing", Route: "GET /repos/{owner}/{repo}", OperationID: "repos/get", Status: 404, HasAuth: true},
		{Method: "GET", Path: "/_apis/actions/idtoken", Query: "api-version=2.0&audience=aud", Route: githubsim.RouteActionsToken, Status: 200, HasAuth: true},
		{Method: "GET", Path: "/_services/token/.well-known/jwks", Route: githubsim.RouteOIDCJWKS, Status: 200},
	}
	if len(log) != len(want) {
		t.Fatalf("log: expected %d entries, got %+v", len(want), log)
	}
	for i := range want {
		got := log[i]
		if got.Time.IsZero() {
			t.Errorf("entry %d: time not set", i)
		}
		got.Time = time.Time{}
		if got != want[i] {
			t.Errorf("entry %d:\nexpected %+v\ngot      %+v", i, want[i], got)
		}
	}
	dump := fmt.Sprintf("%+v %+v", log, s.Unimplemented())
	for _, secret := range []string{s.JobToken(), s.TokenRequestToken()} {
		if strings.Contains(dump, secret) {
			t.Error("request log contains a token")
		}
	}
}

func TestPagination(t *testing.T) {
	s := newSim(t)
	s.Seed("o", "r")
	runID := githubsim.DefaultRunID("o", "r")
	for i := range 4 { // 5 approvals in all with Seed's
		s.AddRunApproval("o", "r", runID, githubsim.Approval{State: "approved", Comment: strconv.Itoa(i), User: githubsim.User{Login: "u" + strconv.Itoa(i), ID: int64(i + 1)}, Environments: []string{"production"}})
	}
	base := fmt.Sprintf("%s/repos/o/r/actions/runs/%d/approvals", s.APIURL(), runID)
	for _, tc := range []struct {
		query string
		n     int
		rels  []string
	}{
		{"?per_page=2", 2, []string{"next", "last"}},
		{"?per_page=2&page=2", 2, []string{"prev", "next", "last", "first"}},
		{"?per_page=2&page=3", 1, []string{"prev", "first"}},
		{"", 5, nil},
		{"?per_page=2&page=9", 0, []string{"prev", "first"}},
	} {
		r := get(t, base+tc.query, "Bearer "+s.JobToken())
		items := decode[[]map[string]any](t, r.body)
		if len(items) != tc.n {
			t.Errorf("%q: expected %d items, got %d", tc.query, tc.n, len(items))
		}
		link := r.header.Get("Link")
		for _, rel := range tc.rels {
			if !strings.Contains(link, `rel="`+rel+`"`) {
				t.Errorf("%q: Link %q lacks rel=%q", tc.query, link, rel)
			}
		}
		if tc.rels == nil && link != "" {
			t.Errorf("%q: expected no Link header, got %q", tc.query, link)
		}
	}
	if r := get(t, fmt.Sprintf("%s/repos/o/r/actions/runs/%d/approvals", s.APIURL(), runID+1), "Bearer "+s.JobToken()); r.status != 404 {
		t.Errorf("unknown run: expected 404, got %d", r.status)
	}
}

func TestEnvironmentState(t *testing.T) {
	s := newSim(t)
	s.SetRepository(githubsim.Repository{Owner: "Octo", Name: "Repo", Visibility: "internal", DefaultBranch: "trunk"})
	s.SetEnvironment("Octo", "Repo", githubsim.Environment{
		Name:              "prod/eu",
		RequiredReviewers: []githubsim.Reviewer{githubsim.TeamReviewer("", "sre", 9)},
		WaitTimer:         15,
		CustomRules:       []githubsim.CustomRule{{ID: 3, AppID: 1, AppSlug: "gate-app", Enabled: true}},
	})
	auth := "Bearer " + s.JobToken()
	repo := decode[map[string]any](t, get(t, s.APIURL()+"/repos/octo/repo", auth).body)
	if repo["visibility"] != "internal" || repo["default_branch"] != "trunk" || repo["full_name"] != "Octo/Repo" {
		t.Errorf("repository: got %v", repo)
	}
	env := decode[map[string]any](t, get(t, s.APIURL()+"/repos/octo/repo/environments/PROD%2Feu", auth).body)
	if env["name"] != "prod/eu" || env["deployment_branch_policy"] != nil {
		t.Errorf("environment: got %v", env)
	}
	if _, ok := env["can_admins_bypass"]; ok {
		t.Error("can_admins_bypass: expected absent when unset")
	}
	rules := fmt.Sprint(env["protection_rules"])
	if !strings.Contains(rules, "wait_timer:15") || !strings.Contains(rules, "slug:sre") || !strings.Contains(rules, "/orgs/Octo/teams/sre") {
		t.Errorf("protection_rules: got %s", rules)
	}
	custom := decode[map[string]any](t, get(t, s.APIURL()+"/repos/octo/repo/environments/prod%2Feu/deployment_protection_rules", auth).body)
	if custom["total_count"] != float64(1) {
		t.Errorf("custom rules: got %v", custom)
	}
	s.DeleteEnvironment("octo", "repo", "prod/eu")
	if st := get(t, s.APIURL()+"/repos/octo/repo/environments/prod%2Feu", auth).status; st != 404 {
		t.Errorf("deleted environment: expected 404, got %d", st)
	}
}

func TestWithAddrRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80", "10.0.0.1:0"} {
		if s, err := githubsim.New(githubsim.WithAddr(addr)); err == nil {
			s.Close()
			t.Errorf("WithAddr(%q): expected an error", addr)
		}
	}
}

func jsonB64(seg string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(seg) }

// The faults a connection-level test needs: a reset instead of an answer, a
// redirect, and a body that never ends.
func TestConnectionFaults(t *testing.T) {
	url := func(s *githubsim.Server) string { return s.APIURL() + "/repos/o/r/environments/production" }
	do := func(t *testing.T, s *githubsim.Server, hc *http.Client) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url(s), nil)
		req.Header.Set("Authorization", "Bearer "+s.JobToken())
		return hc.Do(req)
	}
	t.Run("drop", func(t *testing.T) {
		s := newSim(t)
		s.Seed("o", "r")
		s.InjectFault(envRoute, githubsim.Fault{Drop: true})
		if resp, err := do(t, s, &http.Client{}); err == nil {
			resp.Body.Close()
			t.Fatalf("expected no answer, got %d", resp.StatusCode)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		s := newSim(t)
		s.Seed("o", "r")
		s.InjectFault(envRoute, githubsim.Fault{Status: http.StatusFound, Location: "http://elsewhere.example/x"})
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := do(t, s, hc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://elsewhere.example/x" {
			t.Errorf("expected 302 to elsewhere, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("slow body", func(t *testing.T) {
		s := newSim(t)
		s.Seed("o", "r")
		s.InjectFault(envRoute, githubsim.Fault{SlowBody: 10 * time.Millisecond})
		resp, err := do(t, s, &http.Client{})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		got := 0
		for got < 12 {
			n, err := resp.Body.Read(buf[got:])
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			got += n
		}
		if resp.StatusCode != 200 || string(buf[:7]) != `{"a":"a` {
			t.Errorf("expected a 200 body that keeps coming, got %d %q", resp.StatusCode, buf[:got])
		}
	})
}
