package ghapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// secretToken is the token every client here uses; tests scan errors for it.
const secretToken = "ghs_SECRETtokenNEVERinERRORS0123456789"

// sleeps records the waits the client asks for instead of sleeping, so retry
// tests are fast and can check which wait was chosen.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

type fixture struct {
	sim    *githubsim.Server
	client *ghapi.Client
	sleeps *sleeps
}

func setup(t *testing.T, opts ...ghapi.Option) *fixture {
	t.Helper()
	sim := githubsim.NewForTest(t, githubsim.WithSigningKey(testKey()))
	sim.Seed("octo", "repo")
	sim.AddToken(secretToken, githubsim.DefaultJobPermissions...)
	sl := &sleeps{}
	c, err := ghapi.New(sim.APIURL(), secretToken, &http.Client{Timeout: 10 * time.Second},
		append([]ghapi.Option{ghapi.WithSleep(sl.sleep)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, client: c, sleeps: sl}
}

// checkErr asserts err's classification and that it neither leaks the token
// nor lacks the expected words.
func checkErr(t *testing.T, err error, kind fault.Kind, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if got := fault.KindOf(err); got != kind {
		t.Errorf("kind: expected %s, got %s (%v)", kind, got, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q: expected it to mention %q", err, w)
		}
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), secretToken) {
		t.Errorf("error leaks the token: %v", err)
	}
}

const (
	envRoute       = "GET /repos/{owner}/{repo}/environments/{environment_name}"
	approvalsRoute = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals"
)

func (f *fixture) count(route string) int {
	n := 0
	for _, r := range f.sim.Requests() {
		if r.Route == route {
			n++
		}
	}
	return n
}

func TestRepository(t *testing.T) {
	f := setup(t)
	r, err := f.client.Repository(t.Context(), "octo", "repo")
	if err != nil {
		t.Fatal(err)
	}
	want := githubsim.DefaultRepository("octo", "repo")
	if r.ID != want.ID || r.OwnerID != want.OwnerID || r.OwnerLogin != "octo" || r.FullName != "octo/repo" ||
		r.DefaultBranch != "main" || r.Visibility != "private" {
		t.Errorf("repository: got %+v, expected ids %d/%d", r, want.ID, want.OwnerID)
	}
}

func TestEnvironment(t *testing.T) {
	f := setup(t)
	e, err := f.client.Environment(t.Context(), "octo", "repo", "production")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "production" || e.ID <= 0 || e.CanAdminsBypass == nil || *e.CanAdminsBypass {
		t.Errorf("environment: got %+v", e)
	}
	rr := e.Rule(ghapi.RuleRequiredReviewers)
	if rr == nil || rr.PreventSelfReview == nil || !*rr.PreventSelfReview || len(rr.Reviewers) != 2 {
		t.Fatalf("required reviewers rule: got %+v", rr)
	}
	if u := rr.Reviewers[0]; u.Type != "User" || u.Login != githubsim.DefaultApprover || u.ID != githubsim.DefaultApproverID {
		t.Errorf("user reviewer: got %+v", u)
	}
	if tm := rr.Reviewers[1]; tm.Type != "Team" || tm.Slug != githubsim.DefaultTeam || tm.ID <= 0 {
		t.Errorf("team reviewer: got %+v", tm)
	}
	if e.BranchPolicy == nil || !e.BranchPolicy.ProtectedBranches || e.BranchPolicy.CustomBranchPolicies || e.Rule(ghapi.RuleBranchPolicy) == nil {
		t.Errorf("branch policy: got %+v", e.BranchPolicy)
	}

	// A name with a slash must arrive as one path segment.
	f.sim.SetEnvironment("octo", "repo", githubsim.Environment{Name: "prod/eu", WaitTimer: 5})
	e, err = f.client.Environment(t.Context(), "octo", "repo", "prod/eu")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "prod/eu" || e.Rule(ghapi.RuleWaitTimer) == nil || e.Rule(ghapi.RuleWaitTimer).WaitTimer != 5 || e.CanAdminsBypass != nil || e.BranchPolicy != nil {
		t.Errorf("prod/eu: got %+v", e)
	}
}

func TestCustomProtectionRules(t *testing.T) {
	f := setup(t)
	env := githubsim.DefaultProductionEnvironment("octo")
	env.CustomRules = []githubsim.CustomRule{{ID: 7, AppID: 9, AppSlug: "change-freeze", Enabled: true}}
	f.sim.SetEnvironment("octo", "repo", env)
	rules, err := f.client.CustomProtectionRules(t.Context(), "octo", "repo", "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0] != (ghapi.CustomProtectionRule{ID: 7, Enabled: true, AppID: 9, AppSlug: "change-freeze"}) {
		t.Errorf("custom rules: got %+v", rules)
	}
}

func TestNotFoundIsTyped(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"environment", func() error {
			_, err := f.client.Environment(t.Context(), "octo", "repo", "staging")
			return err
		}, `environment "staging" of octo/repo`},
		{"repository", func() error { _, err := f.client.Repository(t.Context(), "octo", "gone"); return err }, "repository octo/gone"},
		{"run", func() error { _, err := f.client.RunApprovals(t.Context(), "octo", "repo", 1); return err }, "approvals of run 1 of octo/repo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var nf *ghapi.NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("expected *NotFoundError, got %T %v", err, err)
			}
			if nf.Resource != tc.want {
				t.Errorf("resource: expected %q, got %q", tc.want, nf.Resource)
			}
			checkErr(t, err, fault.KindUnclassified, "404")
		})
	}
	if n := len(f.sim.Requests()); n != 3 {
		t.Errorf("404 must not be retried: expected 3 requests, got %d", n)
	}
}

func TestRunApprovalsPaginates(t *testing.T) {
	f := setup(t)
	runID := githubsim.DefaultRunID("octo", "repo")
	for i := range 149 { // 150 with Seed's, two pages of 100
		f.sim.AddRunApproval("octo", "repo", runID, githubsim.Approval{
			State: "rejected", Comment: fmt.Sprint(i), User: githubsim.User{Login: fmt.Sprintf("u%d", i), ID: int64(1000 + i)},
			Environments: []string{"production"},
		})
	}
	got, err := f.client.RunApprovals(t.Context(), "octo", "repo", runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 150 {
		t.Fatalf("expected 150 approvals, got %d", len(got))
	}
	first, last := got[0], got[149]
	if first.State != "approved" || first.User.Login != githubsim.DefaultApprover || len(first.Environments) != 1 || first.Environments[0].Name != "production" {
		t.Errorf("first approval: got %+v", first)
	}
	if last.State != "rejected" || last.Comment != "148" || last.User.ID != 1148 {
		t.Errorf("last approval: got %+v", last)
	}
	var pages []string
	for _, r := range f.sim.Requests() {
		if r.Route == approvalsRoute {
			pages = append(pages, r.Query)
		}
	}
	if len(pages) != 2 || !strings.Contains(pages[1], "page=2") {
		t.Errorf("expected two page requests, the second for page=2; got %q", pages)
	}
}

func TestPermissionErrors(t *testing.T) {
	f := setup(t)
	f.sim.AddToken("meta-only")
	c, err := ghapi.New(f.sim.APIURL(), "meta-only", &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Environment(t.Context(), "octo", "repo", "production")
	checkErr(t, err, fault.KindOperational, "403", "actions: read", "actions=read")
	_, err = c.RunApprovals(t.Context(), "octo", "repo", githubsim.DefaultRunID("octo", "repo"))
	checkErr(t, err, fault.KindOperational, "403", "actions: read")

	f.sim.RemoveToken(secretToken)
	_, err = f.client.Repository(t.Context(), "octo", "repo")
	checkErr(t, err, fault.KindOperational, "401", "rejected")
	if n := len(f.sim.Requests()); n != 3 {
		t.Errorf("401/403 must not be retried: expected 3 requests, got %d", n)
	}
}

func TestRetries(t *testing.T) {
	remaining0 := 0
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name     string
		faults   []githubsim.Fault
		opts     []ghapi.Option
		ctxLimit time.Duration
		ok       bool
		requests int
		sleeps   []time.Duration
		// jittered: sleeps are the core's backoff, each between half
		// and all of the value given; otherwise exactly what GitHub asked.
		jittered bool
		words    []string
	}{
		{name: "500 then success", faults: []githubsim.Fault{{Status: 500, Times: 1}},
			ok: true, requests: 2, sleeps: []time.Duration{250 * time.Millisecond}, jittered: true},
		{name: "502 503 then success", faults: []githubsim.Fault{{Status: 502, Times: 1}, {Status: 503, Times: 1}},
			ok: true, requests: 3, sleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, jittered: true},
		{name: "500 forever gives up after 3", faults: []githubsim.Fault{{Status: 500}},
			requests: 3, sleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, jittered: true, words: []string{"500", "3 attempts"}},
		{name: "429 honours Retry-After", faults: []githubsim.Fault{{Status: 429, RetryAfter: "7", Times: 1}},
			ok: true, requests: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "503 honours Retry-After", faults: []githubsim.Fault{{Status: 503, RetryAfter: "2", Times: 1}},
			ok: true, requests: 2, sleeps: []time.Duration{2 * time.Second}},
		{name: "429 Retry-After as HTTP date", faults: []githubsim.Fault{{Status: 429, RetryAfter: now.Add(9 * time.Second).UTC().Format(http.TimeFormat), Times: 1}},
			opts: []ghapi.Option{ghapi.WithClock(func() time.Time { return now })}, ok: true, requests: 2, sleeps: []time.Duration{9 * time.Second}},
		{name: "secondary rate limit 403", faults: []githubsim.Fault{{Status: 403, RetryAfter: "3", Times: 1,
			Message: "You have exceeded a secondary rate limit", DocumentationURL: "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"}},
			ok: true, requests: 2, sleeps: []time.Duration{3 * time.Second}},
		{name: "primary rate limit waits for reset", faults: []githubsim.Fault{{Status: 403, RateLimitRemaining: &remaining0, RateLimitReset: now.Add(4 * time.Second), Message: "API rate limit exceeded", Times: 1}},
			opts: []ghapi.Option{ghapi.WithClock(func() time.Time { return now })}, ok: true, requests: 2, sleeps: []time.Duration{5 * time.Second}},
		{name: "Retry-After above the bound fails at once", faults: []githubsim.Fault{{Status: 429, RetryAfter: "120"}},
			requests: 1, words: []string{"429", "2m0s", "more than"}},
		{name: "Retry-After past the deadline fails at once", faults: []githubsim.Fault{{Status: 429, RetryAfter: "30"}},
			ctxLimit: 5 * time.Second, requests: 1, words: []string{"429", "deadline"}},
		{name: "400 is not retried", faults: []githubsim.Fault{{Status: 400}}, requests: 1, words: []string{"400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.opts...)
			for _, fl := range tc.faults {
				f.sim.InjectFault(envRoute, fl)
			}
			ctx := t.Context()
			if tc.ctxLimit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxLimit)
				defer cancel()
			}
			e, err := f.client.Environment(ctx, "octo", "repo", "production")
			if tc.ok {
				if err != nil || e.Name != "production" {
					t.Fatalf("expected success, got %v", err)
				}
			} else {
				checkErr(t, err, fault.KindOperational, tc.words...)
			}
			if n := f.count(envRoute); n != tc.requests {
				t.Errorf("requests: expected %d, got %d", tc.requests, n)
			}
			if got := f.sleeps.get(); !sameWaits(got, tc.sleeps, tc.jittered) {
				t.Errorf("waits: expected %v (jittered: %v), got %v", tc.sleeps, tc.jittered, got)
			}
		})
	}
}

// sameWaits compares recorded waits with expected ones; a jittered wait
// may be anything from half the expected value to all of it.
func sameWaits(got, want []time.Duration, jittered bool) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if jittered && (got[i] < want[i]/2 || got[i] > want[i]) || !jittered && got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestRetryWaitEndsWithContext(t *testing.T) {
	sim := githubsim.NewForTest(t)
	sim.Seed("octo", "repo")
	sim.InjectFault(envRoute, githubsim.Fault{Status: 503, RetryAfter: "20"})
	c, err := ghapi.New(sim.APIURL(), sim.JobToken(), &http.Client{Timeout: 10 * time.Second}) // real sleep
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Environment(ctx, "octo", "repo", "production")
	checkErr(t, err, fault.KindOperational, "context canceled")
}

func TestMalformedResponses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route string
		call  func(*ghapi.Client) error
		body  string
		words []string
	}{
		{"truncated JSON", envRoute, envCall, `{"id": 1, "name": "production"`, []string{"decode environment"}},
		{"empty body", envRoute, envCall, ``, []string{"empty response body"}},
		{"null", envRoute, envCall, `null`, []string{"expected id and name"}},
		{"trailing data", envRoute, envCall, `{"id":1,"name":"production"} {}`, []string{"trailing data"}},
		{"wrong type", envRoute, envCall, `{"id":"1","name":"production"}`, []string{"decode environment"}},
		{"rule without type", envRoute, envCall, `{"id":1,"name":"p","protection_rules":[{"id":2}]}`, []string{"expected a type"}},
		{"reviewer without type", envRoute, envCall,
			`{"id":1,"name":"p","protection_rules":[{"id":2,"type":"required_reviewers","reviewers":[{"reviewer":{"id":3,"login":"x"}}]}]}`,
			[]string{"reviewer 0"}},
		{"required reviewers without list", envRoute, envCall, `{"id":1,"name":"p","protection_rules":[{"id":2,"type":"required_reviewers"}]}`, []string{"reviewers array"}},
		{"half a branch policy", envRoute, envCall, `{"id":1,"name":"p","deployment_branch_policy":{"protected_branches":true}}`, []string{"deployment_branch_policy"}},
		{"approvals not an array", approvalsRoute, approvalsCall, `{"state":"approved"}`, []string{"expected a JSON array"}},
		{"approvals null", approvalsRoute, approvalsCall, `null`, []string{"expected a JSON array"}},
		{"approval without user", approvalsRoute, approvalsCall, `[{"state":"approved","comment":"","environments":[]}]`, []string{"user.login"}},
		{"repository without owner id", "GET /repos/{owner}/{repo}", func(c *ghapi.Client) error {
			_, err := c.Repository(context.Background(), "octo", "repo")
			return err
		}, `{"id":5,"owner":{"login":"octo"}}`, []string{"owner.id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.sim.InjectFault(tc.route, githubsim.Fault{Body: []byte(tc.body)})
			err := tc.call(f.client)
			checkErr(t, err, fault.KindOperational, tc.words...)
			if n := f.count(tc.route); n != 1 {
				t.Errorf("malformed answers must not be retried: expected 1 request, got %d", n)
			}
		})
	}
}

func envCall(c *ghapi.Client) error {
	_, err := c.Environment(context.Background(), "octo", "repo", "production")
	return err
}

func approvalsCall(c *ghapi.Client) error {
	_, err := c.RunApprovals(context.Background(), "octo", "repo", githubsim.DefaultRunID("octo", "repo"))
	return err
}

func TestOversizedBodyIsCapped(t *testing.T) {
	for _, status := range []int{200, 500} {
		f := setup(t)
		f.sim.InjectFault(envRoute, githubsim.Fault{Status: status, OversizeBytes: ghapi.DefaultMaxBodyBytes + 1})
		_, err := f.client.Environment(t.Context(), "octo", "repo", "production")
		checkErr(t, err, fault.KindOperational, "exceeds 1048576 bytes")
		if n := f.count(envRoute); n != 1 {
			t.Errorf("status %d: expected 1 request, got %d", status, n)
		}
	}
	// Exactly at the cap is fine as far as size goes (the content is then
	// not an environment).
	f := setup(t)
	f.sim.InjectFault(envRoute, githubsim.Fault{OversizeBytes: ghapi.DefaultMaxBodyBytes})
	_, err := f.client.Environment(t.Context(), "octo", "repo", "production")
	checkErr(t, err, fault.KindOperational, "decode environment")
}

func TestNetworkFailureIsOperational(t *testing.T) {
	f := setup(t)
	f.sim.Close()
	_, err := f.client.Environment(t.Context(), "octo", "repo", "production")
	checkErr(t, err, fault.KindOperational, "3 attempts")
	if got := f.sleeps.get(); len(got) != 2 {
		t.Errorf("network errors: expected 2 waits between 3 attempts, got %v", got)
	}
}

func TestTimeoutIsOperational(t *testing.T) {
	f := setup(t)
	f.sim.InjectFault(envRoute, githubsim.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := f.client.Environment(ctx, "octo", "repo", "production")
	checkErr(t, err, fault.KindOperational, "deadline exceeded")
}

func TestLinkToAnotherOriginIsRefused(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client followed a Link to another origin (auth header present: %t)", r.Header.Get("Authorization") != "")
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3/repos/o/r/actions/runs/1/approvals?page=2>; rel="next"`, other.URL))
		_, _ = w.Write([]byte(`[]`))
	}))
	defer api.Close()
	c, err := ghapi.New(api.URL+"/api/v3", secretToken, api.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RunApprovals(t.Context(), "o", "r", 1)
	checkErr(t, err, fault.KindOperational, "leaves the API")
}

func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the client followed a redirect to another origin (auth header present: %t)", r.Header.Get("Authorization") != "")
	}))
	defer other.Close()
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, "/repos/o/renamed"):
			http.Redirect(w, r, "/repositories/5", http.StatusMovedPermanently)
		case r.URL.Path == "/repositories/5":
			if r.Header.Get("Authorization") != "Bearer "+secretToken {
				t.Error("same-origin redirect lost the token")
			}
			_, _ = w.Write([]byte(`{"id":5,"full_name":"o/new","owner":{"login":"o","id":2}}`))
		default:
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
		}
	}))
	defer api.Close()
	hc := api.Client()
	c, err := ghapi.New(api.URL, secretToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Repository(t.Context(), "o", "renamed")
	if err != nil || r.ID != 5 || r.FullName != "o/new" {
		t.Fatalf("same-origin redirect: got %+v, %v", r, err)
	}
	_, err = c.Repository(t.Context(), "o", "elsewhere")
	checkErr(t, err, fault.KindOperational, "another origin")
	if n := calls.Load(); n != 3 {
		t.Errorf("a refused redirect must not be retried: expected 3 calls in all, got %d", n)
	}
	if hc.CheckRedirect != nil {
		t.Error("New changed the caller's http.Client")
	}
}

func TestBadIdentifiers(t *testing.T) {
	f := setup(t)
	for _, tc := range [][3]string{{"", "repo", "production"}, {"octo", "..", "production"}, {"octo", "repo", "."}, {"octo", "repo", ""}} {
		_, err := f.client.Environment(t.Context(), tc[0], tc[1], tc[2])
		checkErr(t, err, fault.KindUsage)
	}
	_, err := f.client.RunApprovals(t.Context(), "octo", "repo", 0)
	checkErr(t, err, fault.KindUsage)
	if n := len(f.sim.Requests()) + len(f.sim.Unimplemented()); n != 0 {
		t.Errorf("bad identifiers must not reach the API: got %d requests", n)
	}
}

func TestNewValidates(t *testing.T) {
	hc := &http.Client{}
	for _, tc := range []struct {
		url, token string
		hc         *http.Client
		ok         bool
	}{
		{"https://api.github.com", "t", hc, true},
		{"https://ghes.example.com/api/v3/", "t", hc, true},
		{"http://127.0.0.1:8080/api/v3", "t", hc, true},
		{"http://[::1]:8080", "t", hc, true},
		{"http://localhost:8080", "t", hc, true},
		{"http://api.github.com", "t", hc, false},
		{"http://10.0.0.1/api/v3", "t", hc, false},
		{"ftp://api.github.com", "t", hc, false},
		{"api.github.com", "t", hc, false},
		{"https://user:pass@api.github.com", "t", hc, false},
		{"https://api.github.com/?x=1", "t", hc, false},
		{"https://api.github.com", "", hc, false},
		{"https://api.github.com", "t\r\nX-Evil: 1", hc, false},
		{"https://api.github.com", "t", nil, false},
	} {
		c, err := ghapi.New(tc.url, tc.token, tc.hc)
		if tc.ok != (err == nil) || (c == nil) == tc.ok {
			t.Errorf("New(%q, %q, hc=%t): expected ok=%t, got %v", tc.url, tc.token, tc.hc != nil, tc.ok, err)
		}
		if err != nil {
			checkErr(t, err, fault.KindConfig)
			if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "X-Evil") {
				t.Errorf("error leaks credentials: %v", err)
			}
		}
	}
}
