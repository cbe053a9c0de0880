package approvals_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/identity"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const owner, repo = "acme", "agent"

// orgToken can read org teams; the job token cannot.
const orgToken = "ghs_ORGreaderSECRET0123456789"

type fixture struct {
	sim    *githubsim.Server
	now    time.Time
	claims *identity.Claims
	req    approvals.Request
	token  string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	sim := githubsim.NewForTest(t, githubsim.WithSigningKey(testKey()), githubsim.WithClock(func() time.Time { return now }))
	sim.Seed(owner, repo)
	sim.AddToken(orgToken, append([]string{"members:read"}, githubsim.DefaultJobPermissions...)...)
	c := githubsim.DefaultRunClaims(owner, repo)
	claims := &identity.Claims{
		Repository: c["repository"].(string), RunID: c["run_id"].(string), Actor: c["actor"].(string),
		ActorID: c["actor_id"].(string), Ref: c["ref"].(string), SHA: c["sha"].(string),
	}
	return &fixture{
		sim: sim, now: now, claims: claims, token: sim.JobToken(),
		req: approvals.Request{
			Environment: "production", Source: approvals.SourceRun, MinApprovals: 1, MaxAge: 24 * time.Hour,
			Groups: []approvals.Group{{Min: 1, Members: []string{githubsim.DefaultApprover}}},
		},
	}
}

func (f *fixture) runID() int64 { id, _ := strconv.ParseInt(f.claims.RunID, 10, 64); return id }

func (f *fixture) collect(t *testing.T) (*approvals.Report, error) {
	t.Helper()
	gh, err := ghapi.New(f.sim.APIURL(), f.token, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := &approvals.Collector{GH: gh, Now: func() time.Time { return f.now.Add(90 * time.Minute) }}
	return c.Collect(t.Context(), f.claims, f.req)
}

func (f *fixture) mustCollect(t *testing.T) *approvals.Report {
	t.Helper()
	r, err := f.collect(t)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mustJSON(t, r), f.token) || strings.Contains(mustJSON(t, r), orgToken) {
		t.Error("a token leaked into the report")
	}
	return r
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) approve(login string, id int64, state, comment string, envs ...string) {
	f.sim.AddRunApproval(owner, repo, f.runID(), githubsim.Approval{
		State: state, Comment: comment, User: githubsim.User{Login: login, ID: id}, Environments: envs,
	})
}

func TestCollectHappyPath(t *testing.T) {
	f := setup(t)
	r := f.mustCollect(t)
	if r.Status != approvals.StatusOK || r.Source != approvals.SourceRun {
		t.Fatalf("status %q source %q", r.Status, r.Source)
	}
	e := r.Environment
	wantReviewers := []approvals.Reviewer{
		{Type: "User", ID: githubsim.DefaultApproverID, Login: githubsim.DefaultApprover},
		{Type: "Team", ID: e.RequiredReviewers[1].ID, Slug: owner + "/" + githubsim.DefaultTeam},
	}
	if e.Name != "production" || !reflect.DeepEqual(e.RequiredReviewers, wantReviewers) || e.PreventSelfReview == nil || !*e.PreventSelfReview ||
		e.CanAdminsBypass == nil || *e.CanAdminsBypass || e.BranchPolicy == nil || !e.BranchPolicy.ProtectedBranches ||
		len(e.CustomRules) != 0 || e.WaitTimer != 0 || !reflect.DeepEqual(e.RuleTypes, []string{"required_reviewers", "branch_policy"}) {
		t.Errorf("environment: %+v", e)
	}
	if r.Run == nil || r.Run.ID != f.runID() || r.Run.Actor.Login != githubsim.DefaultActor || r.Run.TriggeringActor.Login != githubsim.DefaultActor ||
		!r.Run.CreatedAt.Equal(f.now) {
		t.Errorf("run: %+v", r.Run)
	}
	if len(r.Approvals) != 1 || r.Approvals[0].Login != githubsim.DefaultApprover || r.Approvals[0].Comment != "Ship it!" ||
		r.Approvals[0].State != "approved" || r.Approvals[0].Time != nil || !reflect.DeepEqual(r.Approvals[0].Environments, []string{"production"}) {
		t.Errorf("approvals: %+v", r.Approvals)
	}
	if !reflect.DeepEqual(r.Approvers, []string{githubsim.DefaultApprover}) {
		t.Errorf("approvers: %q", r.Approvers)
	}
	if len(r.Quorum) != 1 || !reflect.DeepEqual(r.Quorum[0].Assigned, []string{githubsim.DefaultApprover}) {
		t.Errorf("quorum: %+v", r.Quorum)
	}
	// The run was created 90 minutes before collection: no approval of it
	// can be older.
	if r.AgeSeconds == nil || *r.AgeSeconds != 5400 || r.AgeSource != approvals.AgeFromRunCreation {
		t.Errorf("age: %v from %q", r.AgeSeconds, r.AgeSource)
	}
	if len(r.TeamMembership) != 0 {
		t.Errorf("a directly named approver needs no team lookups: %v", r.TeamMembership)
	}
	if r.Requested.MaxAgeSeconds != 86400 || r.Requested.MinApprovals != 1 || len(r.Requested.Approvers) != 1 {
		t.Errorf("requested: %+v", r.Requested)
	}
}

func TestCollectWhoCounts(t *testing.T) {
	actorID := githubsim.DefaultActorID
	tests := []struct {
		name    string
		setup   func(f *fixture)
		want    []string
		members map[string]map[string]string
	}{
		{"seeded approver", func(*fixture) {}, []string{githubsim.DefaultApprover}, nil},
		{"self-approval by the actor does not count", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{githubsim.DefaultActor}}}
			f.approve(githubsim.DefaultActor, actorID, "approved", "lgtm", "production")
		}, []string{}, nil},
		{"self-approval under another login case", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"OCTO-DEV"}}}
			f.approve("OCTO-DEV", 5, "approved", "", "production")
		}, []string{}, nil},
		{"self-approval by user id after a rename", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"renamed"}}}
			f.approve("renamed", actorID, "approved", "", "production")
		}, []string{}, nil},
		{"the triggering actor of a re-run does not count", func(f *fixture) {
			f.sim.SetRun(owner, repo, githubsim.Run{ID: f.runID(), TriggeringActor: githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID}})
		}, []string{}, nil},
		{"another environment does not count", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"qa-lead"}}}
			f.approve("qa-lead", 77, "approved", "", "qa")
		}, []string{}, nil},
		{"environment names are case-insensitive", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"lead"}}}
			f.approve("lead", 78, "approved", "", "Production")
		}, []string{"lead"}, nil},
		{"a rejection does not count", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"sec"}}}
			f.approve("sec", 79, "rejected", "not yet", "production")
		}, []string{}, nil},
		{"not named", func(f *fixture) { f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"someone-else"}}} }, []string{}, nil},
		{"no groups: nobody is named", func(f *fixture) { f.req.Groups = nil }, []string{}, nil},
		{"active team member counts", func(f *fixture) {
			f.token = orgToken
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"acme/release-approvers"}}}
			f.sim.SetTeamMember(owner, githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
		}, []string{githubsim.DefaultApprover}, map[string]map[string]string{"acme/release-approvers": {githubsim.DefaultApprover: "active"}}},
		{"pending team member does not count", func(f *fixture) {
			f.token = orgToken
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"Acme/Release-Approvers"}}}
			f.sim.SetTeamMember(owner, githubsim.DefaultTeam, githubsim.DefaultApprover, "pending")
		}, []string{}, map[string]map[string]string{"acme/release-approvers": {githubsim.DefaultApprover: "pending"}}},
		{"not a member", func(f *fixture) {
			f.token = orgToken
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"acme/security"}}}
		}, []string{}, map[string]map[string]string{"acme/security": {githubsim.DefaultApprover: "not-member"}}},
		{"the job token cannot read teams: unknown", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"acme/release-approvers"}}}
			f.sim.SetTeamMember(owner, githubsim.DefaultTeam, githubsim.DefaultApprover, "active")
		}, []string{}, map[string]map[string]string{"acme/release-approvers": {githubsim.DefaultApprover: "unknown"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			tt.setup(f)
			r := f.mustCollect(t)
			if !reflect.DeepEqual(r.Approvers, tt.want) {
				t.Errorf("approvers: expected %q, got %q (approvals %+v)", tt.want, r.Approvers, r.Approvals)
			}
			members := tt.members
			if members == nil {
				members = map[string]map[string]string{}
			}
			if !reflect.DeepEqual(r.TeamMembership, members) {
				t.Errorf("team membership: expected %v, got %v", members, r.TeamMembership)
			}
		})
	}
}

func TestCollectQuorumAcrossTeams(t *testing.T) {
	f := setup(t)
	f.token = orgToken
	f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"acme/security"}}, {Min: 1, Members: []string{"acme/release"}}}
	f.req.MinApprovals = 2
	// alice is in both teams, bob only in release: alice must fill security.
	f.sim.SetTeamMember(owner, "security", "alice", "active")
	f.sim.SetTeamMember(owner, "release", "alice", "active")
	f.sim.SetTeamMember(owner, "release", "bob", "active")
	f.approve("alice", 201, "approved", "security ok", "production")
	f.approve("bob", 202, "approved", "release ok", "production")
	r := f.mustCollect(t)
	want := []approvals.GroupResult{
		{Eligible: []string{"alice"}, Assigned: []string{"alice"}},
		{Eligible: []string{"alice", "bob"}, Assigned: []string{"bob"}},
	}
	if !reflect.DeepEqual(r.Quorum, want) {
		t.Errorf("quorum: expected %+v, got %+v", want, r.Quorum)
	}
	if !reflect.DeepEqual(r.Approvers, []string{"alice", "bob"}) {
		t.Errorf("approvers: %q", r.Approvers)
	}
	// The seeded approver is in no named team: asked about both.
	if r.TeamMembership["acme/security"][githubsim.DefaultApprover] != "not-member" || len(r.TeamMembership["acme/release"]) != 3 {
		t.Errorf("team membership: %v", r.TeamMembership)
	}
}

func TestCollectEnvironmentFacts(t *testing.T) {
	f := setup(t)
	f.sim.SetEnvironment(owner, repo, githubsim.Environment{
		Name: "production", WaitTimer: 15, RequiredReviewers: []githubsim.Reviewer{githubsim.UserReviewer("x", 9)},
		CustomRules: []githubsim.CustomRule{{ID: 4, AppID: 5, AppSlug: "change-freeze", Enabled: true}},
	})
	r := f.mustCollect(t)
	e := r.Environment
	if e.CanAdminsBypass != nil {
		t.Errorf("can_admins_bypass absent from the response must stay unknown (nil), got %v", *e.CanAdminsBypass)
	}
	if e.PreventSelfReview == nil || *e.PreventSelfReview || e.BranchPolicy != nil || e.WaitTimer != 15 ||
		!reflect.DeepEqual(e.CustomRules, []approvals.CustomRule{{ID: 4, AppSlug: "change-freeze", AppID: 5, Enabled: true}}) {
		t.Errorf("environment: %+v", e)
	}
	// JSON: unknown is null, not false.
	if js := mustJSON(t, e); !strings.Contains(js, `"can_admins_bypass":null`) || !strings.Contains(js, `"branch_policy":null`) {
		t.Errorf("environment JSON: %s", js)
	}

	f.sim.DeleteEnvironment(owner, repo, "production")
	r = f.mustCollect(t)
	if r.Status != approvals.StatusEnvironmentMissing || r.Environment != nil || len(r.Approvals) != 1 {
		t.Errorf("missing environment: status %q, environment %+v", r.Status, r.Environment)
	}
}

func TestCollectPullRequestMode(t *testing.T) {
	f := setup(t)
	f.req.Source = approvals.SourcePullRequest
	f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"alice", "bob", "carol", "dave", "erin", githubsim.DefaultActor}}}
	f.claims.Ref = "refs/pull/12/merge"
	f.sim.SetPullRequest(owner, repo, githubsim.PullRequest{Number: 12, HeadSHA: "head2", MergeCommitSHA: f.claims.SHA})
	at := func(mins int) time.Time { return f.now.Add(time.Duration(mins) * time.Minute) }
	rv := func(login string, id int64, state, commit string, when time.Time) {
		f.sim.AddReview(owner, repo, 12, githubsim.Review{User: githubsim.User{Login: login, ID: id}, State: state, CommitID: commit, SubmittedAt: when, Body: state + " by " + login})
	}
	rv("alice", 1, "APPROVED", "head2", at(10))                                      // counts
	rv("alice", 1, "COMMENTED", "head2", at(20))                                     // a comment does not undo it
	rv("bob", 2, "APPROVED", "head1", at(5))                                         // approved an older commit
	rv("carol", 3, "APPROVED", "head2", at(1))                                       // superseded below
	rv("carol", 3, "CHANGES_REQUESTED", "head2", at(30))                             // latest: changes requested
	rv("dave", 4, "APPROVED", "head2", at(-25*60))                                   // older than 24h
	rv("erin", 5, "APPROVED", "head2", at(2))                                        // then dismissed
	rv("erin", 5, "DISMISSED", "head2", at(3))                                       //
	rv(githubsim.DefaultActor, githubsim.DefaultActorID, "APPROVED", "head2", at(4)) // the author
	rv("frank", 6, "PENDING", "head2", time.Time{})                                  // not submitted
	r := f.mustCollect(t)
	if r.Status != approvals.StatusOK || r.PullRequest == nil || r.PullRequest.Number != 12 || r.PullRequest.HeadSHA != "head2" ||
		r.PullRequest.MergeCommitSHA != f.claims.SHA || r.PullRequest.Author.Login != githubsim.DefaultActor {
		t.Fatalf("status %q pull request %+v", r.Status, r.PullRequest)
	}
	states := map[string]string{}
	for _, a := range r.Approvals {
		states[a.Login] = a.State
	}
	want := map[string]string{"alice": "approved", "bob": "approved", "carol": "changes_requested", "dave": "approved", "erin": "dismissed", githubsim.DefaultActor: "approved"}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("latest review per user: expected %v, got %v", want, states)
	}
	if !reflect.DeepEqual(r.Approvers, []string{"alice"}) {
		t.Errorf("approvers: expected [alice], got %q", r.Approvers)
	}
	if r.AgeSeconds == nil || *r.AgeSeconds != 80*60 || r.AgeSource != approvals.AgeFromReviews {
		t.Errorf("age: %v from %q", r.AgeSeconds, r.AgeSource)
	}

	// A run that is not for a pull request has no reviews to read.
	f.claims.Ref = "refs/heads/main"
	r = f.mustCollect(t)
	if r.Status != approvals.StatusNoPullRequest || len(r.Approvers) != 0 || r.AgeSeconds != nil {
		t.Errorf("no PR ref: status %q approvers %q age %v", r.Status, r.Approvers, r.AgeSeconds)
	}
}

// TestCollectAPICalls pins how many GitHub API calls approval evidence costs
// with one page of approvals and directly named approvers: environment,
// custom rules, the run, its approvals. Team approvers add one call per
// (approver, team) pair.
func TestCollectAPICalls(t *testing.T) {
	f := setup(t)
	f.mustCollect(t)
	routes := map[string]int{}
	for _, r := range f.sim.Requests() {
		routes[r.Route]++
	}
	want := map[string]int{
		"GET /repos/{owner}/{repo}/environments/{environment_name}":                             1,
		"GET /repos/{owner}/{repo}/environments/{environment_name}/deployment_protection_rules": 1,
		"GET /repos/{owner}/{repo}/actions/runs/{run_id}":                                       1,
		"GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals":                             1,
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("API calls: expected %v, got %v", want, routes)
	}
	t.Logf("approval evidence: %d GitHub API calls", len(f.sim.Requests()))
}

func TestCollectFaults(t *testing.T) {
	const (
		envRoute       = "GET /repos/{owner}/{repo}/environments/{environment_name}"
		approvalsRoute = "GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals"
		runRoute       = "GET /repos/{owner}/{repo}/actions/runs/{run_id}"
		teamRoute      = "GET /orgs/{org}/teams/{team_slug}/memberships/{username}"
	)
	tests := []struct {
		name  string
		setup func(f *fixture)
		kind  fault.Kind
		words []string
	}{
		{"no actions: read", func(f *fixture) {
			f.sim.AddToken("ghs_meta_only")
			f.token = "ghs_meta_only"
		}, fault.KindOperational, []string{"403", "actions: read"}},
		{"bad token", func(f *fixture) { f.sim.RemoveToken(f.token) }, fault.KindOperational, []string{"401"}},
		{"approvals 500", func(f *fixture) { f.sim.InjectFault(approvalsRoute, githubsim.Fault{Status: 500}) }, fault.KindOperational, []string{"500"}},
		{"approvals malformed", func(f *fixture) { f.sim.InjectFault(approvalsRoute, githubsim.Fault{Body: []byte(`[{"state":`)}) }, fault.KindOperational, []string{"decode approvals"}},
		{"environment malformed", func(f *fixture) { f.sim.InjectFault(envRoute, githubsim.Fault{Body: []byte(`{}`)}) }, fault.KindOperational, []string{"decode environment"}},
		{"run not visible", func(f *fixture) { f.sim.InjectFault(runRoute, githubsim.Fault{Status: 404}) }, fault.KindOperational, []string{"cannot read it", "actions: read"}},
		{"rate limited past what airlock waits", func(f *fixture) {
			f.sim.InjectFault(approvalsRoute, githubsim.Fault{Status: 429, RetryAfter: "3600"})
		}, fault.KindOperational, []string{"rate limited", "more than"}},
		{"team lookup 500", func(f *fixture) {
			f.req.Groups = []approvals.Group{{Min: 1, Members: []string{"acme/release-approvers"}}}
			f.sim.InjectFault(teamRoute, githubsim.Fault{Status: 502})
		}, fault.KindOperational, []string{"502", "membership of release-manager"}},
		{"bad request", func(f *fixture) { f.req.MinApprovals = 0 }, fault.KindConfig, []string{"min-approvals"}},
		{"no run id", func(f *fixture) { f.claims.RunID = "" }, fault.KindOperational, []string{"run_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			tt.setup(f)
			tok := f.token
			r, err := f.collect(t)
			if err == nil {
				t.Fatalf("expected an error, got report %+v", r)
			}
			if got := fault.KindOf(err); got != tt.kind {
				t.Errorf("kind: expected %s, got %s (%v)", tt.kind, got, err)
			}
			for _, w := range tt.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tok) {
				t.Error("the token leaked into the error")
			}
		})
	}
}
