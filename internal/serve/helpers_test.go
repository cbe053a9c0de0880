package serve_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/attest"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/serve"
	"github.com/airlock-dev/airlock/internal/testsvc"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

const (
	owner       = "acme"
	repo        = "support-agent"
	appID       = 31337
	install     = 4242
	environment = "production"
	workflow    = ".github/workflows/promote.yml"
)

// The reviewed policy digest and one nobody reviewed.
var (
	reviewedDigest   = "sha256:" + strings.Repeat("ab", 32)
	unreviewedDigest = "sha256:" + strings.Repeat("cd", 32)
	webhookSecret    = []byte("whsec-" + strings.Repeat("k", 26))
)

var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var sigstore = sync.OnceValues(func() (*verifytest.Sigstore, error) { return verifytest.New() })

func appKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
}

// env is a GitHub (the simulator, with the app installed on the
// repository), an in-process Sigstore and a configuration file trusting it.
type env struct {
	sim    *githubsim.Server
	ss     *verifytest.Sigstore
	repoID int64
	config string
	sample map[string]any // the real deployment_protection_rule payload
	runSeq atomic.Int64
	shaSeq atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ss, err := sigstore()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sim: githubsim.NewForTest(t), ss: ss}
	e.sim.SetRepository(githubsim.Repository{Owner: owner, Name: repo})
	e.repoID = githubsim.DefaultRepository(owner, repo).ID
	e.sim.RegisterApp(githubsim.App{ID: appID, PublicKey: &appKey().PublicKey})
	e.sim.Install(githubsim.Installation{ID: install, AppID: appID, Repositories: []string{owner + "/" + repo}})
	e.runSeq.Store(1000)

	dir := t.TempDir()
	root, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), root, 0o600); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(dir, "serve.yaml")
	writeFile(t, e.config, fmt.Sprintf(`# airlock serve, as a test runs it
github_api_url: %s
workers: 4
decision_timeout: 20s
max_body_bytes: 65536
rules:
  - repository: %s/%s
    repository_id: %d
    environment: %s
    signer_workflows:
      - %s/%s/%s@refs/heads/main
    trusted_root: trusted_root.json
    policy_digests: [%s]
    max_age: 1h
`, e.sim.APIURL(), owner, repo, e.repoID, environment, owner, repo, workflow, reviewedDigest))

	p := filepath.Join(testsvc.RealData(t, "05-webhook-payloads"), "octokit-webhooks.net", "deployment_protection_rule", "requested.payload.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &e.sample); err != nil {
		t.Fatal(err)
	}
	return e
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newRun picks a fresh run id and commit, so cases sharing a simulator do
// not see each other's decisions.
func (e *env) newRun() (int64, string) {
	n := e.shaSeq.Add(1)
	sum := sha256.Sum256([]byte("commit " + strconv.FormatInt(n, 10)))
	return e.runSeq.Add(1), hex.EncodeToString(sum[:20])
}

// decision is a gate decision as internal/attest writes its predicate (the
// fields serve and verify read).
type decision struct {
	verdict     string
	repoID      int64
	environment string
	runID       int64
	sha         string
	policy      string
	issuedAt    time.Time
	ttl         time.Duration
	signerRepo  string // whose workflow signs; default the repository
}

func (e *env) allow(runID int64, sha string) decision {
	return decision{verdict: "allow", repoID: e.repoID, environment: environment, runID: runID, sha: sha,
		policy: reviewedDigest, issuedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), ttl: time.Hour}
}

func (e *env) sign(t *testing.T, d decision) []byte {
	t.Helper()
	reasons := []map[string]string{}
	if d.verdict == "deny" {
		reasons = append(reasons, map[string]string{"control": "C4", "message": "no named approver approved the run"})
	}
	pred := map[string]any{
		"decision": d.verdict, "reasons": reasons,
		"issuer":   map[string]any{"iss": verifytest.GitHubIssuer, "verified": true, "repository_id": strconv.FormatInt(d.repoID, 10), "environment": d.environment, "repository": owner + "/" + repo},
		"run":      map[string]any{"repository": owner + "/" + repo, "run_id": strconv.FormatInt(d.runID, 10), "sha": d.sha},
		"policy":   map[string]any{"digest": d.policy, "sources": []string{"policies"}},
		"validity": map[string]any{"issuedAt": d.issuedAt.Format(time.RFC3339), "notAfter": d.issuedAt.Add(d.ttl).Format(time.RFC3339)},
	}
	st, err := verifytest.Statement(attest.PredicateType, pred, map[string]any{"name": "commit", "digest": map[string]string{"gitCommit": d.sha}})
	if err != nil {
		t.Fatal(err)
	}
	signer := d.signerRepo
	if signer == "" {
		signer = owner + "/" + repo
	}
	b, err := e.ss.Attest(verifytest.GitHubWorkflow(signer, workflow, "refs/heads/main"), st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publish puts a signed decision in the repository's attestation store.
func (e *env) publish(t *testing.T, d decision) {
	t.Helper()
	e.sim.AddAttestation(owner, repo, githubsim.Attestation{Bundle: e.sign(t, d)})
}

// payload is the real deployment_protection_rule sample with the fields
// of this run: the callback URL of the simulator, the repository, the
// commit, the environment and the installation.
func (e *env) payload(t *testing.T, runID int64, sha, envName string) []byte {
	t.Helper()
	var p map[string]any
	raw, _ := json.Marshal(e.sample)
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p["environment"] = envName
	p["deployment_callback_url"] = e.sim.CallbackURL(owner, repo, runID)
	p["installation"] = map[string]any{"id": install, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="}
	d := p["deployment"].(map[string]any)
	d["sha"], d["environment"], d["ref"] = sha, envName, "main"
	r := p["repository"].(map[string]any)
	r["id"], r["name"], r["full_name"] = e.repoID, repo, owner+"/"+repo
	r["owner"].(map[string]any)["login"] = owner
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replica is one running airlock serve.
type replica struct {
	url    string
	srv    *serve.Server
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start loads the configuration file as the command does and serves it.
func (e *env) start(t *testing.T, edit func(*serve.Config)) *replica {
	t.Helper()
	set, err := serve.LoadConfig(t.Context(), e.config, serve.Loaders{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := serve.Config{Settings: set, AppID: appID, PrivateKey: appKeyPEM(), WebhookSecret: webhookSecret,
		HTTPClient: httpx.NewClient(httpx.Options{}), Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if edit != nil {
		edit(&cfg)
	}
	s, err := serve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{url: "http://" + ln.Addr().String(), srv: s, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, ln) }()
	t.Cleanup(func() { r.stop(t) })
	waitReady(t, r.url)
	return r
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
		r.done <- nil // a second stop returns at once
	case <-time.After(60 * time.Second):
		t.Error("serve did not stop")
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s/readyz never answered 200", base)
}

var deliverySeq atomic.Int64

// deliver sends a signed deployment_protection_rule webhook as GitHub does.
func deliver(t *testing.T, base string, body []byte, sig string) (int, string) {
	t.Helper()
	d := githubsim.Delivery{Event: "deployment_protection_rule", ID: fmt.Sprintf("d-%d", deliverySeq.Add(1)), Body: body, Signature: sig}
	code, out, err := githubsim.Deliver(t.Context(), http.DefaultClient, base+serve.WebhookPath, webhookSecret, d)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// review waits for the review of runID, and checks that it is the only one.
func (e *env) review(t *testing.T, runID int64, want int) []githubsim.DeploymentReview {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []githubsim.DeploymentReview
		for _, r := range e.sim.DeploymentReviews() {
			if r.RunID == runID {
				got = append(got, r)
			}
		}
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d: expected %d review(s), got %d", runID, want, len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
