package ghapi_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/serve/servetest"
)

func appKeyPEM(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// TestAppInstallationReview: the app's JWT (ghinstallation) verifies at the
// simulator with the app's public key, buys an installation token scoped to
// the repository, cached across calls, and the review lands as sent.
func TestAppInstallationReview(t *testing.T) {
	sim := githubsim.NewForTest(t, githubsim.WithSigningKey(testKey()))
	sim.SetRepository(githubsim.Repository{Owner: "acme", Name: "agent"})
	sim.SetRepository(githubsim.Repository{Owner: "acme", Name: "other"})
	sim.RegisterApp(githubsim.App{ID: 42, PublicKey: &testKey().PublicKey})
	sim.Install(githubsim.Installation{ID: 7, AppID: 42, Repositories: []string{"acme/agent", "acme/other"}})
	hc := httpx.NewClient(httpx.Options{})

	app, err := ghapi.NewApp(sim.APIURL(), 42, appKeyPEM(t, testKey()), hc)
	if err != nil {
		t.Fatal(err)
	}
	id, err := app.RepoInstallation(t.Context(), "acme", "agent")
	if err != nil || id != 7 {
		t.Fatalf("RepoInstallation = %d, %v; expected 7", id, err)
	}
	c, err := app.Installation(t.Context(), 7, "acme", "agent")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReviewCustomGate(t.Context(), "acme", "agent", 99, "production", ghapi.ReviewApproved, "decision sha256:ab"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Installation(t.Context(), 7, "acme", "agent"); err != nil {
		t.Fatal(err)
	}
	if n := sim.InstallationTokensIssued(); n != 1 {
		t.Errorf("installation tokens issued: expected 1 (cached), got %d", n)
	}
	got := sim.DeploymentReviews()
	if len(got) != 1 || got[0].State != "approved" || got[0].EnvironmentName != "production" || got[0].RunID != 99 || got[0].Comment != "decision sha256:ab" || got[0].Installation != 7 {
		t.Fatalf("reviews: %+v", got)
	}
	// The token is scoped to acme/agent: it cannot review a run of acme/other.
	err = c.ReviewCustomGate(t.Context(), "acme", "other", 5, "production", ghapi.ReviewApproved, "x")
	var fe *ghapi.ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("review of another repository with a scoped token: expected 403, got %v", err)
	}

	// Another key for the same app id: GitHub refuses the JWT, and the
	// error says so without quoting anything of the key.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemOther := appKeyPEM(t, other)
	bad, err := ghapi.NewApp(sim.APIURL(), 42, pemOther, hc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Installation(t.Context(), 7, "acme", "agent")
	if err == nil || !strings.Contains(err.Error(), "JWT") {
		t.Fatalf("wrong key: expected a refused JWT, got %v", err)
	}
	if _, err := ghapi.NewApp(sim.APIURL(), 42, []byte("not a key"), hc); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("malformed key: expected an error not quoting it, got %v", err)
	}
}

// TestValidateWebhook: the signature is checked over the raw bytes before
// parsing; SHA-1 only, a wrong secret and an oversized body are refused.
func TestValidateWebhook(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"action":"requested"}`)
	call := func(sig256, sha1 string, b []byte) ([]byte, error) {
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if sig256 != "" {
			req.Header.Set("X-Hub-Signature-256", sig256)
		}
		if sha1 != "" {
			req.Header.Set("X-Hub-Signature", sha1)
		}
		return ghapi.ValidateWebhook(httptest.NewRecorder(), req, secret, 64)
	}
	if got, err := call(githubsim.WebhookSignature(secret, body), "", body); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("valid: %q, %v", got, err)
	}
	for name, sig := range map[string]string{
		"wrong secret": githubsim.WebhookSignature([]byte("other"), body),
		"malformed":    "sha256=zz",
		"missing":      "",
	} {
		if _, err := call(sig, "sha1=0000000000000000000000000000000000000000", body); !errors.Is(err, ghapi.ErrWebhookSignature) {
			t.Errorf("%s: expected ErrWebhookSignature, got %v", name, err)
		}
	}
	big := bytes.Repeat([]byte("a"), 65)
	var mbe *http.MaxBytesError
	if _, err := call(githubsim.WebhookSignature(secret, big), "", big); !errors.As(err, &mbe) {
		t.Errorf("oversized: expected *http.MaxBytesError, got %v", err)
	}
}

// TestContractProtectionRulePayloads: the real deployment_protection_rule
// sample and the payloads serve's tests deliver (the sample with a run's
// fields) both validate against GitHub's own webhook schema, and
// ParseDeploymentProtectionRule reads what the sample's SOURCE.md says a
// correct handler concludes.
func TestContractProtectionRulePayloads(t *testing.T) {
	dir := realdata(t, "04-github-rest-api")
	b, err := os.ReadFile(filepath.Join(dir, "rest-ops-trimmed.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Webhooks map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"webhooks"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	schema := doc.Webhooks["deployment-protection-rule-requested"]["post"].RequestBody.Content["application/json"].Schema
	if schema == nil {
		t.Fatal("no deployment-protection-rule-requested schema in rest-ops-trimmed.json")
	}
	sample, err := os.ReadFile(filepath.Join(realdata(t, "05-webhook-payloads"), "octokit-webhooks.net", "deployment_protection_rule", "requested.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := servetest.New(t)
	run, sha := e.NewRun()
	for name, body := range map[string][]byte{"real sample": sample, "serve test payload": e.Payload(t, run, sha, servetest.Environment)} {
		if errs := checkSchema("$", schema, decodeNumbers(t, body)); len(errs) > 0 {
			t.Errorf("%s violates GitHub's webhook schema:\n  %s", name, strings.Join(errs, "\n  "))
		}
	}
	// The check can fail: a repository id that is a string does.
	broken := bytes.Replace(sample, []byte(`"id": 186853002`), []byte(`"id": "186853002"`), 1)
	if bytes.Equal(broken, sample) {
		t.Fatal("the sample's repository id moved: update the negative case")
	}
	if errs := checkSchema("$", schema, decodeNumbers(t, broken)); len(errs) == 0 {
		t.Error("a string repository id validates: the schema check checks nothing")
	}
	ev, err := ghapi.ParseDeploymentProtectionRule(sample)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "requested" || ev.Environment != "my-environment" || ev.DeploymentID != 145988746 ||
		ev.SHA != "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" || ev.Owner != "Codertocat" || ev.Repo != "Hello-World" || ev.InstallationID != 0 {
		t.Errorf("parsed sample: %+v", ev)
	}
	// Its callback URL is a placeholder off the API: refused, so no token
	// is ever sent there.
	c, err := ghapi.NewAnonymous("https://api.github.com", httpx.NewClient(httpx.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallbackRun(ev.CallbackURL, ev.Owner, ev.Repo); err == nil {
		t.Errorf("callback URL %q accepted", ev.CallbackURL)
	}
	if id, err := c.CallbackRun("https://api.github.com/repos/Codertocat/Hello-World/actions/runs/77/deployment_protection_rule", "codertocat", "hello-world"); err != nil || id != 77 {
		t.Errorf("the real shape: run %d, %v", id, err)
	}
	for _, bad := range []string{
		"https://api.github.com/repos/other/Hello-World/actions/runs/77/deployment_protection_rule",
		"https://api.github.com/repos/Codertocat/Hello-World/actions/runs/0/deployment_protection_rule",
		"https://api.github.com/repos/Codertocat/Hello-World/actions/runs/77/deployment_protection_rule?x=1",
		"http://api.github.com/repos/Codertocat/Hello-World/actions/runs/77/deployment_protection_rule",
		"https://api.github.com.evil.example/repos/Codertocat/Hello-World/actions/runs/77/deployment_protection_rule",
		"https://api.github.com/repos/Codertocat/Hello-World/actions/runs/77/approvals",
	} {
		if _, err := c.CallbackRun(bad, "Codertocat", "Hello-World"); err == nil {
			t.Errorf("callback URL %q accepted", bad)
		}
	}
}
