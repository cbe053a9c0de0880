package ghapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

const (
	runRoute     = "GET /repos/{owner}/{repo}/actions/runs/{run_id}"
	teamRoute    = "GET /orgs/{org}/teams/{team_slug}/memberships/{username}"
	pullRoute    = "GET /repos/{owner}/{repo}/pulls/{pull_number}"
	reviewsRoute = "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"
)

func TestWorkflowRun(t *testing.T) {
	f := setup(t)
	runID := githubsim.DefaultRunID("octo", "repo")
	r, err := f.client.WorkflowRun(t.Context(), "octo", "repo", runID)
	if err != nil {
		t.Fatal(err)
	}
	claims := githubsim.DefaultRunClaims("octo", "repo")
	want := ghapi.User{Login: githubsim.DefaultActor, ID: githubsim.DefaultActorID}
	if r.ID != runID || r.Actor != want || r.TriggeringActor != want || r.HeadSHA != claims["sha"] || r.RunAttempt != 1 ||
		r.CreatedAt.IsZero() || r.RepositoryID != githubsim.DefaultRepository("octo", "repo").ID || r.Event != "workflow_dispatch" {
		t.Errorf("run: got %+v", r)
	}

	// A re-run by someone else: actor and triggering actor differ.
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.sim.SetRun("octo", "repo", githubsim.Run{ID: runID, TriggeringActor: githubsim.User{Login: "rerunner", ID: 99}, RunAttempt: 2, CreatedAt: created})
	r, err = f.client.WorkflowRun(t.Context(), "octo", "repo", runID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Actor != want || r.TriggeringActor != (ghapi.User{Login: "rerunner", ID: 99}) || r.RunAttempt != 2 || !r.CreatedAt.Equal(created) {
		t.Errorf("re-run: got %+v", r)
	}

	_, err = f.client.WorkflowRun(t.Context(), "octo", "repo", 12345)
	var nf *ghapi.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "run 12345 of octo/repo" {
		t.Errorf("unknown run: expected *NotFoundError, got %v", err)
	}
}

func TestTeamMembership(t *testing.T) {
	f := setup(t)
	f.sim.AddToken("ghs_org_reader", "members:read")
	reader, err := ghapi.New(f.sim.APIURL(), "ghs_org_reader", &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.sim.SetTeamMember("octo", "security", "alice", "active")
	f.sim.SetTeamMember("octo", "security", "bob", "pending")

	m, err := reader.TeamMembership(t.Context(), "octo", "security", "alice")
	if err != nil || *m != (ghapi.TeamMembership{State: "active", Role: "member"}) {
		t.Errorf("alice: got %+v, %v", m, err)
	}
	m, err = reader.TeamMembership(t.Context(), "OCTO", "Security", "BOB")
	if err != nil || m.State != "pending" {
		t.Errorf("bob (case-insensitive): got %+v, %v", m, err)
	}
	_, err = reader.TeamMembership(t.Context(), "octo", "security", "carol")
	var nf *ghapi.NotFoundError
	if !errors.As(err, &nf) || nf.Resource != "membership of carol in team octo/security" {
		t.Errorf("carol: expected *NotFoundError, got %v", err)
	}

	// The job token cannot read org teams: a typed 403 that names the permission.
	_, err = f.client.TeamMembership(t.Context(), "octo", "security", "alice")
	checkErr(t, err, fault.KindOperational, "403", "members: read", "read:org")
	var fe *ghapi.ForbiddenError
	if !errors.As(err, &fe) || fe.Permission != ghapi.TeamMembershipPermission {
		t.Errorf("expected *ForbiddenError naming %q, got %T %v", ghapi.TeamMembershipPermission, err, err)
	}
	if n := f.count(teamRoute); n != 4 {
		t.Errorf("expected 4 membership requests (no retries of 403/404), got %d", n)
	}
}

func TestPullRequestAndReviews(t *testing.T) {
	f := setup(t)
	f.sim.SetPullRequest("octo", "repo", githubsim.PullRequest{Number: 7, HeadSHA: "aaaa", MergeCommitSHA: "mmmm"})
	for i := range 120 {
		f.sim.AddReview("octo", "repo", 7, githubsim.Review{
			User: githubsim.User{Login: fmt.Sprintf("u%d", i), ID: int64(100 + i)}, State: "COMMENTED", Body: fmt.Sprint(i),
		})
	}
	f.sim.AddReview("octo", "repo", 7, githubsim.Review{User: githubsim.User{}, State: "APPROVED"}) // a deleted account
	pr, err := f.client.PullRequest(t.Context(), "octo", "repo", 7)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != 7 || pr.HeadSHA != "aaaa" || pr.MergeCommitSHA != "mmmm" || pr.BaseRef != "main" || pr.State != "open" ||
		pr.Author != (ghapi.User{Login: githubsim.DefaultActor, ID: githubsim.DefaultActorID}) {
		t.Errorf("pull request: got %+v", pr)
	}
	rs, err := f.client.PullRequestReviews(t.Context(), "octo", "repo", 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 121 || rs[0].User.Login != "u0" || rs[0].Body != "0" || rs[0].CommitID != "aaaa" || rs[0].SubmittedAt.IsZero() ||
		rs[120].User != (ghapi.User{}) || rs[120].State != "APPROVED" {
		t.Errorf("reviews: got %d, first %+v, last %+v", len(rs), rs[0], rs[len(rs)-1])
	}
	if n := f.count(reviewsRoute); n != 2 {
		t.Errorf("expected 2 pages of reviews, got %d requests", n)
	}
	_, err = f.client.PullRequest(t.Context(), "octo", "repo", 8)
	var nf *ghapi.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("unknown pull request: expected *NotFoundError, got %v", err)
	}

	f.sim.AddToken("ghs_no_pulls", "actions:read")
	c, _ := ghapi.New(f.sim.APIURL(), "ghs_no_pulls", &http.Client{Timeout: 10 * time.Second})
	_, err = c.PullRequestReviews(t.Context(), "octo", "repo", 7)
	checkErr(t, err, fault.KindOperational, "403", "pull-requests: read")
}

func TestMalformedReviewSources(t *testing.T) {
	runCall := func(c *ghapi.Client) error {
		_, err := c.WorkflowRun(context.Background(), "octo", "repo", githubsim.DefaultRunID("octo", "repo"))
		return err
	}
	pullCall := func(c *ghapi.Client) error {
		_, err := c.PullRequest(context.Background(), "octo", "repo", 7)
		return err
	}
	reviewsCall := func(c *ghapi.Client) error {
		_, err := c.PullRequestReviews(context.Background(), "octo", "repo", 7)
		return err
	}
	id := githubsim.DefaultRunID("octo", "repo")
	for _, tc := range []struct {
		name  string
		route string
		call  func(*ghapi.Client) error
		body  string
		words []string
	}{
		{"run without created_at", runRoute, runCall, fmt.Sprintf(`{"id":%d}`, id), []string{"created_at"}},
		{"run of another id", runRoute, runCall, `{"id":1,"created_at":"2026-01-01T00:00:00Z"}`, []string{"expected run id"}},
		{"run with half an actor", runRoute, runCall, fmt.Sprintf(`{"id":%d,"created_at":"2026-01-01T00:00:00Z","actor":{"login":"x"}}`, id), []string{"actor"}},
		{"run truncated", runRoute, runCall, `{"id":`, []string{"decode workflow run"}},
		{"pull without head", pullRoute, pullCall, `{"number":7,"base":{"ref":"main"},"user":{"login":"a","id":1}}`, []string{"head.sha"}},
		{"reviews not an array", reviewsRoute, reviewsCall, `{}`, []string{"expected a JSON array"}},
		{"review without state", reviewsRoute, reviewsCall, `[{"id":1}]`, []string{"expected id and state"}},
		{"review with half a user", reviewsRoute, reviewsCall, `[{"id":1,"state":"APPROVED","user":{"id":3}}]`, []string{"user without login"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.sim.SetPullRequest("octo", "repo", githubsim.PullRequest{Number: 7})
			f.sim.InjectFault(tc.route, githubsim.Fault{Body: []byte(tc.body)})
			checkErr(t, tc.call(f.client), fault.KindOperational, tc.words...)
			if n := f.count(tc.route); n != 1 {
				t.Errorf("malformed answers must not be retried: expected 1 request, got %d", n)
			}
		})
	}
}

func TestMembershipMalformed(t *testing.T) {
	f := setup(t)
	f.sim.AddToken("ghs_org_reader", "members:read")
	c, _ := ghapi.New(f.sim.APIURL(), "ghs_org_reader", &http.Client{Timeout: 10 * time.Second})
	f.sim.InjectFault(teamRoute, githubsim.Fault{Body: []byte(`{"role":"member"}`)})
	_, err := c.TeamMembership(t.Context(), "octo", "t", "u")
	checkErr(t, err, fault.KindOperational, "expected state")
	for _, bad := range [][3]string{{"", "t", "u"}, {"o", "..", "u"}, {"o", "t", "."}} {
		_, err := c.TeamMembership(t.Context(), bad[0], bad[1], bad[2])
		if fault.KindOf(err) != fault.KindUsage || !strings.Contains(err.Error(), "expected a name") {
			t.Errorf("%q: expected a usage error, got %v", bad, err)
		}
	}
}
