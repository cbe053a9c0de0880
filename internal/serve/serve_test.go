package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
	"github.com/airlock-dev/airlock/internal/serve"
	"github.com/airlock-dev/airlock/internal/serve/servetest"
	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/internal/verify"
	"github.com/airlock-dev/airlock/policies"
)

// TestDecisions: one replica, the real payload shape, and a decision per
// case in the attestation store; only a verified allow for exactly this
// repository id, servetest.Environment, run and a reviewed policy is approved.
func TestDecisions(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	cases := []struct {
		name    string
		publish func(runID int64, sha string) // what the store holds
		env     string
		state   string
		comment string // a regular expression the comment must match
	}{
		{name: "valid allow", publish: func(run int64, sha string) { e.Publish(t, e.Allow(run, sha)) },
			state: "approved", comment: `^airlock: approved by decision sha256:[0-9a-f]{64} \(attestation gitCommit:[0-9a-f]{40} #\d+, issued `},
		{name: "deny", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.Verdict = "deny"
			e.Publish(t, d)
		}, state: "rejected", comment: `the newest decision is "deny".*no named approver approved the run`},
		{name: "expired", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.IssuedAt, d.TTL = time.Now().Add(-3*time.Hour).UTC().Truncate(time.Second), time.Hour
			e.Publish(t, d)
		}, state: "rejected", comment: `decision expired: notAfter`},
		{name: "another run", publish: func(run int64, sha string) { e.Publish(t, e.Allow(run+500, sha)) },
			state: "rejected", comment: `decision of run "\d+", not of run \d+`},
		{name: "another environment", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.Environment = "staging"
			e.Publish(t, d)
		}, state: "rejected", comment: `decision for environment "staging", not "production"`},
		{name: "another repository id", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.RepoID++
			e.Publish(t, d)
		}, state: "rejected", comment: `decision about repository id "\d+", not \d+`},
		{name: "unknown signer", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.SignerRepo = "mallory/support-agent"
			e.Publish(t, d)
		}, state: "rejected", comment: `no verified allow for run .*: .*(certificate|identity|SAN|subject alternative name)`},
		{name: "unreviewed policy digest", publish: func(run int64, sha string) {
			d := e.Allow(run, sha)
			d.Policy = servetest.UnreviewedDigest
			e.Publish(t, d)
		}, state: "rejected", comment: `decision made under policy ` + servetest.UnreviewedDigest + `, not one of the accepted`},
		{name: "a deny after the allow", publish: func(run int64, sha string) {
			e.Publish(t, e.Allow(run, sha))
			d := e.Allow(run, sha)
			d.Verdict, d.IssuedAt = "deny", d.IssuedAt.Add(30*time.Second)
			e.Publish(t, d)
		}, state: "rejected", comment: `the newest decision is "deny"`},
		{name: "no decision", publish: func(int64, string) {},
			state: "rejected", comment: `no decision found: the attestation store of acme/support-agent holds none for commit [0-9a-f]{40}`},
		{name: "environment without a rule", publish: func(run int64, sha string) { e.Publish(t, e.Allow(run, sha)) }, env: "qa",
			state: "rejected", comment: `no rule for repository id \d+ \(acme/support-agent\) and environment "qa"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run, sha := e.NewRun()
			c.publish(run, sha)
			envName := c.env
			if envName == "" {
				envName = servetest.Environment
			}
			got := r.deliverAndReview(t, e, e.Payload(t, run, sha, envName), run)
			if got.State != c.state || got.EnvironmentName != envName || got.Installation != servetest.InstallationID {
				t.Errorf("review: expected %s for %q by installation %d, got %+v", c.state, envName, servetest.InstallationID, got)
			}
			if !regexp.MustCompile(c.comment).MatchString(got.Comment) {
				t.Errorf("comment %q does not match %q", got.Comment, c.comment)
			}
		})
	}
	if n := e.Sim.InstallationTokensIssued(); n != 1 {
		t.Errorf("installation tokens: expected 1, cached across %d deliveries, got %d", len(cases), n)
	}
	if strings.Contains(r.logs.String(), "ghs_") || strings.Contains(r.logs.String(), string(servetest.WebhookSecret)) {
		t.Errorf("a token or the webhook secret reached the logs")
	}
	m := metrics(t, r.url)
	for _, want := range []string{`airlock_serve_decisions_total{outcome="approved"} 1`, `airlock_serve_decision_seconds_count{outcome="rejected"}`, `airlock_serve_github_requests_total{code="201"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^airlock_serve_github_rate_limit_remaining [1-9][0-9]*$`).MatchString(m) {
		t.Errorf("the rate limit left is not recorded from GitHub's headers")
	}
	if !strings.Contains(r.logs.String(), `"delivery":"d-`) {
		t.Errorf("logs do not name the delivery: %s", r.logs.String())
	}
}

// TestRefusedWebhooks: a bad signature is 401 and an oversized body 413,
// and neither makes any GitHub call; the unmodified real sample (its
// deployment_callback_url is a placeholder off the API host) is refused
// without sending the token anywhere.
func TestRefusedWebhooks(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha))
	body := e.Payload(t, run, sha, servetest.Environment)
	before := len(e.Sim.Requests())

	if code, _ := servetest.Deliver(t, r.url, body, githubsim.WebhookSignature([]byte("not-the-secret-at-all"), body)); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: expected 401, got %d", code)
	}
	tampered := bytes.Replace(body, []byte(`"production"`), []byte(`"productioN"`), 1)
	if code, _ := servetest.Deliver(t, r.url, tampered, githubsim.WebhookSignature(servetest.WebhookSecret, body)); code != http.StatusUnauthorized {
		t.Errorf("body changed after signing: expected 401, got %d", code)
	}
	big := append(bytes.Repeat([]byte(" "), 70000), body...)
	if code, _ := servetest.Deliver(t, r.url, big, ""); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: expected 413, got %d", code)
	}
	raw, err := os.ReadFile(filepath.Join(testsvc.RealData(t, "05-webhook-payloads"), "octokit-webhooks.net", "deployment_protection_rule", "requested.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := servetest.Deliver(t, r.url, raw, ""); code != http.StatusBadRequest {
		t.Errorf("real sample with a placeholder callback URL: expected 400, got %d", code)
	}
	time.Sleep(200 * time.Millisecond) // anything queued by mistake would have called GitHub by now
	if got := e.Sim.Requests()[before:]; len(got) != 0 {
		t.Errorf("refused webhooks made GitHub calls: %+v", got)
	}
	if !strings.Contains(r.logs.String(), "is not on the GitHub API") {
		t.Errorf("the placeholder callback URL is not logged as the reason: %s", r.logs.String())
	}
	m := metrics(t, r.url)
	for _, want := range []string{`airlock_serve_webhooks_total{result="bad_signature"} 2`, `airlock_serve_webhooks_total{result="too_large"} 1`, `airlock_serve_webhooks_total{result="malformed"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCallbackFailsLeftPending: GitHub answering the review with 5xx is
// retried a bounded number of times, then logged and left pending: never
// an approval.
func TestCallbackFailsLeftPending(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha))
	e.Sim.InjectFault(githubsim.RouteDeploymentReview, githubsim.Fault{Status: http.StatusBadGateway})
	if code, _ := servetest.Deliver(t, r.url, e.Payload(t, run, sha, servetest.Environment), ""); code != http.StatusAccepted {
		t.Fatalf("webhook: expected 202, got %d", code)
	}
	r.waitLog(t, "decision left pending")
	if n := e.Sim.FaultsServed(githubsim.RouteDeploymentReview); n != 3 {
		t.Errorf("review attempts: expected 3 (bounded retries), got %d", n)
	}
	if got := e.Sim.DeploymentReviews(); len(got) != 0 {
		t.Errorf("a review was recorded despite the faults: %+v", got)
	}
	if !strings.Contains(metrics(t, r.url), `airlock_serve_decisions_total{outcome="pending"} 1`) {
		t.Errorf("metrics do not count the pending decision")
	}
	if strings.Contains(metrics(t, r.url), `outcome="approved"`) {
		t.Errorf("an approval was counted")
	}
}

// TestTwoReplicasSameDelivery: replicas share nothing but GitHub; the same
// delivery to both gets the same review, twice.
func TestTwoReplicasSameDelivery(t *testing.T) {
	e := servetest.New(t)
	a, b := start(t, e, nil), start(t, e, nil)
	for _, allow := range []bool{true, false} {
		run, sha := e.NewRun()
		d := e.Allow(run, sha)
		if !allow {
			d.Environment = "staging"
		}
		e.Publish(t, d)
		body := e.Payload(t, run, sha, servetest.Environment)
		for _, rep := range []*replica{a, b} {
			if code, _ := servetest.Deliver(t, rep.url, body, ""); code != http.StatusAccepted {
				t.Fatalf("webhook: expected 202, got %d", code)
			}
		}
		got := e.Reviews(t, run, 2)
		if got[0].State != got[1].State || got[0].Comment != got[1].Comment {
			t.Errorf("replicas disagree: %+v vs %+v", got[0], got[1])
		}
		if want := map[bool]string{true: "approved", false: "rejected"}[allow]; got[0].State != want {
			t.Errorf("expected %s, got %s", want, got[0].State)
		}
	}
}

// TestGracefulShutdown: a delivery accepted before shutdown is still
// decided and answered; after it, readiness is gone.
func TestGracefulShutdown(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha))
	e.Sim.InjectFault(githubsim.RouteDeploymentReview, githubsim.Fault{Delay: 500 * time.Millisecond, Times: 1})
	if code, _ := servetest.Deliver(t, r.url, e.Payload(t, run, sha, servetest.Environment), ""); code != http.StatusAccepted {
		t.Fatalf("webhook: expected 202, got %d", code)
	}
	r.stop(t)
	got := e.Sim.DeploymentReviews()
	if len(got) != 1 || got[0].State != "approved" {
		t.Fatalf("the accepted delivery was not answered before the replica stopped: %+v", got)
	}
	if _, err := http.Get(r.url + "/healthz"); err == nil {
		t.Errorf("the replica still answers after stopping")
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(r.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: expected 200, got %d", p, resp.StatusCode)
		}
	}
	m := metrics(t, r.url)
	for _, name := range []string{"airlock_serve_queue_depth", "airlock_serve_github_rate_limit_remaining", "go_goroutines"} {
		if !strings.Contains(m, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

func metrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfigStrict: an unknown key, a bad value and a missing reviewed
// policy are configuration errors naming FILE:LINE.
func TestConfigStrict(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "trusted_root.json")
	servetest.WriteFile(t, root, "{}")
	base := `rules:
  - repository: acme/agent
    repository_id: 5
    environment: production
    signer_workflows: [acme/agent/.github/workflows/promote.yml]
    trusted_root: trusted_root.json
`
	cases := map[string]struct{ yaml, want string }{
		"unknown top-level key": {"workerz: 3\n" + base, `serve.yaml:1: unknown key "workerz"`},
		"unknown rule key":      {base + "    policy_digest: [x]\n", `serve.yaml:7: unknown key "policy_digest"`},
		"bad duration":          {"decision_timeout: soon\n" + base, `serve.yaml:1: expected a positive duration`},
		"no reviewed policy":    {base, `serve.yaml:2: rules[0]: policy_digests: expected the reviewed policy digests`},
		"bad match":             {base + "    policy_digests: [\"sha256:" + strings.Repeat("a", 64) + "\"]\n    match: branch\n", `serve.yaml:2: rules[0]: match: expected "run" or "commit", got "branch"`},
		"no rules":              {"workers: 2\n", `serve.yaml: rules: expected at least one rule`},
		"two documents":         {base + "---\nrules: []\n", `serve.yaml:7: a second YAML document`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "serve.yaml")
			servetest.WriteFile(t, p, c.yaml)
			_, err := serve.LoadConfig(context.Background(), p, serve.Loaders{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("expected an error containing %q, got %v", c.want, err)
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.KindConfig {
				t.Errorf("expected a configuration error (exit 2), got %v", err)
			}
		})
	}
}

// edit changes a webhook payload (JSON) in place.
func edit(t *testing.T, body []byte, f func(p map[string]any)) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	f(p)
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOtherSources: a decision published as a release asset of the
// deployment's tag is found there; a revoked allow is rejected; a payload
// that names no installation is answered through the repository's
// installation; an app GitHub will not give a token to leaves the rule
// pending.
func TestOtherSources(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)

	t.Run("release asset", func(t *testing.T) {
		run, sha := e.NewRun()
		asset := githubsim.Asset{Name: "agent.tar", Data: []byte("the agent " + sha)}
		relID := e.Sim.AddRelease(servetest.Owner, servetest.Repo, githubsim.Release{Tag: "v1.0." + sha[:6], PublishedAt: time.Now()})
		e.Sim.AddReleaseAsset(servetest.Owner, servetest.Repo, relID, asset)
		d := e.Allow(run, sha)
		hx, _ := strings.CutPrefix(asset.Digest(), "sha256:")
		d.Subject = map[string]any{"name": asset.Name, "digest": map[string]string{"sha256": hx}}
		e.Sim.AddReleaseAsset(servetest.Owner, servetest.Repo, relID, githubsim.Asset{Name: "airlock-decision.sigstore.json", Data: e.Sign(t, d)})
		body := edit(t, e.Payload(t, run, sha, servetest.Environment), func(p map[string]any) {
			p["deployment"].(map[string]any)["ref"] = "v1.0." + sha[:6]
		})
		if got := r.deliverAndReview(t, e, body, run); got.State != "approved" || !strings.Contains(got.Comment, "release v1.0.") {
			t.Errorf("expected an approval by the release's bundle, got %+v", got)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		run, sha := e.NewRun()
		b := e.Sign(t, e.Allow(run, sha))
		e.Sim.AddAttestation(servetest.Owner, servetest.Repo, githubsim.Attestation{Bundle: b})
		e.Revoke(t, b, "QA token found in production logs")
		got := r.deliverAndReview(t, e, e.Payload(t, run, sha, servetest.Environment), run)
		if got.State != "rejected" || !strings.Contains(got.Comment, "revoked: QA token found in production logs") {
			t.Errorf("expected a rejection naming the revocation, got %+v", got)
		}
	})
	t.Run("no installation in the payload", func(t *testing.T) {
		run, sha := e.NewRun()
		e.Publish(t, e.Allow(run, sha))
		body := edit(t, e.Payload(t, run, sha, servetest.Environment), func(p map[string]any) { delete(p, "installation") })
		if got := r.deliverAndReview(t, e, body, run); got.State != "approved" || got.Installation != servetest.InstallationID {
			t.Errorf("expected an approval through the repository's installation, got %+v", got)
		}
	})
	t.Run("no token for the installation", func(t *testing.T) {
		run, sha := e.NewRun()
		e.Publish(t, e.Allow(run, sha))
		body := edit(t, e.Payload(t, run, sha, servetest.Environment), func(p map[string]any) {
			p["installation"] = map[string]any{"id": 999}
		})
		if code, _ := servetest.Deliver(t, r.url, body, ""); code != http.StatusAccepted {
			t.Fatalf("webhook: expected 202, got %d", code)
		}
		r.waitLog(t, "installation token of installation 999")
		for _, rv := range e.Sim.DeploymentReviews() {
			if rv.RunID == run {
				t.Errorf("a review was posted without a token: %+v", rv)
			}
		}
	})
}

// TestQueueFullRefuses: with every worker busy and the queue full, a
// delivery is refused with 503 (GitHub lets it be redelivered) and never
// answered; the accepted ones are.
func TestQueueFullRefuses(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, func(c *serve.Config) { c.Settings.Workers, c.Settings.Queue = 1, 1 })
	e.Sim.InjectFault(githubsim.RouteDeploymentReview, githubsim.Fault{Delay: time.Second, Times: 1})
	var accepted, refused []int64
	for range 4 {
		run, sha := e.NewRun()
		e.Publish(t, e.Allow(run, sha))
		switch code, _ := servetest.Deliver(t, r.url, e.Payload(t, run, sha, servetest.Environment), ""); code {
		case http.StatusAccepted:
			accepted = append(accepted, run)
		case http.StatusServiceUnavailable:
			refused = append(refused, run)
		default:
			t.Fatalf("webhook: expected 202 or 503, got %d", code)
		}
	}
	if len(refused) == 0 || len(accepted) == 0 {
		t.Fatalf("expected some deliveries accepted and some refused, got %d and %d", len(accepted), len(refused))
	}
	for _, run := range accepted {
		e.Reviews(t, run, 1)
	}
	for _, rv := range e.Sim.DeploymentReviews() {
		for _, run := range refused {
			if rv.RunID == run {
				t.Errorf("a refused delivery was answered: %+v", rv)
			}
		}
	}
	if !strings.Contains(metrics(t, r.url), `airlock_serve_webhooks_total{result="overloaded"}`) {
		t.Errorf("overload not counted")
	}
}

// TestPolicyReevaluation: a rule with a policy re-evaluates the evidence
// each decision recorded; an allow whose evidence the policy would now deny
// is rejected, and the loader is asked for the directory the rule names
// (relative to the file).
func TestPolicyReevaluation(t *testing.T) {
	e := servetest.New(t)
	cfg, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(e.Config), "with-policy.yaml")
	servetest.WriteFile(t, path, string(cfg)+"    policy: reviewed-policy\n")
	var asked string
	r := startWith(t, path, serve.Loaders{Policy: func(ctx context.Context, dir string) (verify.Reevaluator, error) {
		asked = dir
		return opa.Load(ctx, policy.Source{Name: "policies", FS: policies.FS})
	}}, nil)
	if asked != filepath.Join(filepath.Dir(e.Config), "reviewed-policy") {
		t.Errorf("policy loader asked for %q", asked)
	}
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha)) // no evidence recorded: today's policy denies it
	got := r.deliverAndReview(t, e, e.Payload(t, run, sha, servetest.Environment), run)
	if got.State != "rejected" || !strings.Contains(got.Comment, "would now be denied") {
		t.Errorf("expected a rejection by the re-evaluation, got %+v", got)
	}
}

// TestMatchCommit: a rule with match: commit approves on an allow of any
// run about the deployment's commit; decision_environment names the gate
// job's environment, which differs from the held one.
func TestMatchCommit(t *testing.T) {
	e := servetest.New(t)
	cfg, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	rule := strings.SplitN(string(cfg), "rules:\n", 2)[1]
	rule = strings.Replace(rule, "environment: production", "environment: canary\n    decision_environment: production\n    match: commit", 1)
	path := filepath.Join(filepath.Dir(e.Config), "commit.yaml")
	servetest.WriteFile(t, path, string(cfg)+rule)
	r := startWith(t, path, serve.Loaders{}, nil)
	gateRun, sha := e.NewRun()
	e.Publish(t, e.Allow(gateRun, sha))
	deployRun := gateRun + 7
	for _, c := range []struct {
		env, state string
	}{{"canary", "approved"}, {"production", "rejected"}} {
		if code, _ := servetest.Deliver(t, r.url, e.Payload(t, deployRun, sha, c.env), ""); code != http.StatusAccepted {
			t.Fatalf("webhook: expected 202, got %d", code)
		}
	}
	got := e.Reviews(t, deployRun, 2)
	states := map[string]string{}
	for _, g := range got {
		states[g.EnvironmentName] = g.State
	}
	if states["canary"] != "approved" || states["production"] != "rejected" {
		t.Errorf("expected canary (match: commit) approved and production (match: run) rejected, got %+v", got)
	}
}

// TestDecisionDeadline: a decision not reached within decision_timeout (the
// attestation store answers too late) is rejected saying so, and still
// answered: the review has its own time.
func TestDecisionDeadline(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, func(c *serve.Config) { c.Settings.DecisionTimeout = 300 * time.Millisecond })
	run, sha := e.NewRun()
	e.Publish(t, e.Allow(run, sha))
	e.Sim.InjectFault("GET /repos/{owner}/{repo}/attestations/{subject_digest}", githubsim.Fault{Delay: 2 * time.Second})
	got := r.deliverAndReview(t, e, e.Payload(t, run, sha, servetest.Environment), run)
	if got.State != "rejected" || !strings.Contains(got.Comment, "no decision within 300ms") {
		t.Errorf("expected a rejection for the deadline, got %+v", got)
	}
}

// TestOtherEvents: GitHub's ping is answered, other signed events are
// acknowledged and ignored, and none makes a GitHub call or a review.
func TestOtherEvents(t *testing.T) {
	e := servetest.New(t)
	r := start(t, e, nil)
	before := len(e.Sim.Requests())
	for _, c := range []struct {
		event string
		body  string
		want  int
	}{
		{"ping", `{"zen":"Keep it logically awesome.","hook_id":1}`, http.StatusOK},
		{"deployment_review", `{"action":"requested"}`, http.StatusAccepted},
		{"deployment_protection_rule", `{"action":"completed","repository":{"id":1,"full_name":"acme/support-agent"}}`, http.StatusAccepted},
	} {
		code, _, err := githubsim.Deliver(t.Context(), http.DefaultClient, r.url+serve.WebhookPath, servetest.WebhookSecret,
			githubsim.Delivery{Event: c.event, ID: "other-" + c.event, Body: []byte(c.body)})
		if err != nil || code != c.want {
			t.Errorf("%s: expected %d, got %d (%v)", c.event, c.want, code, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(e.Sim.Requests()) - before; n != 0 {
		t.Errorf("ignored events made %d GitHub call(s)", n)
	}
}
