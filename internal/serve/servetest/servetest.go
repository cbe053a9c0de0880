// Package servetest is the world `airlock serve` runs in, for its tests: a
// GitHub (githubsim) with the app registered and installed on a repository,
// an in-process Sigstore that signs gate decisions, a configuration file
// trusting it, and the real deployment_protection_rule sample filled in
// with the fields of a run.
//
// Trust boundary: none. Keys are generated in memory; nothing here may be
// used outside tests.
package servetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
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

// The repository, app and environment of the world.
const (
	Owner          = "acme"
	Repo           = "support-agent"
	AppID          = 31337
	InstallationID = 4242
	Environment    = "production"
	Workflow       = ".github/workflows/promote.yml"
)

// The reviewed policy digest and one nobody reviewed.
var (
	ReviewedDigest   = "sha256:" + strings.Repeat("ab", 32)
	UnreviewedDigest = "sha256:" + strings.Repeat("cd", 32)
	WebhookSecret    = []byte("whsec-" + strings.Repeat("k", 26))
)

var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var sigstore = sync.OnceValues(func() (*verifytest.Sigstore, error) { return verifytest.New() })

// AppKeyPEM is the app's private key (PKCS#1 PEM), one per test binary.
func AppKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
}

// Env is a GitHub (the simulator, with the app installed on the
// repository), an in-process Sigstore and a configuration file trusting it.
type Env struct {
	Sim    *githubsim.Server
	SS     *verifytest.Sigstore
	RepoID int64
	// Config is the path of the configuration file (serve.yaml).
	Config string
	sample map[string]any // the real deployment_protection_rule payload
	runSeq atomic.Int64
	shaSeq atomic.Int64
}

// New starts the simulator with the app installed on Owner/Repo and writes
// the configuration trusting the in-process Sigstore. Tests that need the
// real sample skip (with the reason) where ../shared is absent.
func New(t testing.TB) *Env {
	t.Helper()
	ss, err := sigstore()
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Sim: githubsim.NewForTest(t), SS: ss}
	e.Sim.SetRepository(githubsim.Repository{Owner: Owner, Name: Repo})
	e.RepoID = githubsim.DefaultRepository(Owner, Repo).ID
	e.Sim.RegisterApp(githubsim.App{ID: AppID, PublicKey: &appKey().PublicKey})
	e.Sim.Install(githubsim.Installation{ID: InstallationID, AppID: AppID, Repositories: []string{Owner + "/" + Repo}})
	e.runSeq.Store(1000)

	dir := t.TempDir()
	root, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), root, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Config = filepath.Join(dir, "serve.yaml")
	WriteFile(t, e.Config, fmt.Sprintf(`# airlock serve, as a test runs it
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
`, e.Sim.APIURL(), Owner, Repo, e.RepoID, Environment, Owner, Repo, Workflow, ReviewedDigest))

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

func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// NewRun picks a fresh run id and commit, so cases sharing a simulator do
// not see each other's decisions.
func (e *Env) NewRun() (int64, string) {
	n := e.shaSeq.Add(1)
	sum := sha256.Sum256([]byte("commit " + strconv.FormatInt(n, 10)))
	return e.runSeq.Add(1), hex.EncodeToString(sum[:20])
}

// Decision is a gate decision as internal/attest writes its predicate (the
// fields serve and verify read).
type Decision struct {
	Verdict     string // "allow" | "deny"
	RepoID      int64
	Environment string
	RunID       int64
	SHA         string
	Policy      string
	IssuedAt    time.Time
	TTL         time.Duration
	SignerRepo  string // whose workflow signs; default the repository
	// Subject is the in-toto subject; default the commit (gitCommit).
	Subject map[string]any
}

func (e *Env) Allow(runID int64, sha string) Decision {
	return Decision{Verdict: "allow", RepoID: e.RepoID, Environment: Environment, RunID: runID, SHA: sha,
		Policy: ReviewedDigest, IssuedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), TTL: time.Hour}
}

func (e *Env) Sign(t testing.TB, d Decision) []byte {
	t.Helper()
	reasons := []map[string]string{}
	if d.Verdict == "deny" {
		reasons = append(reasons, map[string]string{"control": "C4", "message": "no named approver approved the run"})
	}
	pred := map[string]any{
		"decision": d.Verdict, "reasons": reasons,
		"issuer":   map[string]any{"iss": verifytest.GitHubIssuer, "verified": true, "repository_id": strconv.FormatInt(d.RepoID, 10), "environment": d.Environment, "repository": Owner + "/" + Repo},
		"run":      map[string]any{"repository": Owner + "/" + Repo, "run_id": strconv.FormatInt(d.RunID, 10), "sha": d.SHA},
		"policy":   map[string]any{"digest": d.Policy, "sources": []string{"policies"}},
		"validity": map[string]any{"issuedAt": d.IssuedAt.Format(time.RFC3339), "notAfter": d.IssuedAt.Add(d.TTL).Format(time.RFC3339)},
	}
	subject := d.Subject
	if subject == nil {
		subject = map[string]any{"name": "commit", "digest": map[string]string{"gitCommit": d.SHA}}
	}
	st, err := verifytest.Statement(attest.PredicateType, pred, subject)
	if err != nil {
		t.Fatal(err)
	}
	signer := d.SignerRepo
	if signer == "" {
		signer = Owner + "/" + Repo
	}
	b, err := e.SS.Attest(verifytest.GitHubWorkflow(signer, Workflow, "refs/heads/main"), st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Revoke signs a revocation of a decision bundle as the decision's own
// signer (the default revoker) and puts it in the attestation store, where
// `airlock revoke` publishes it: its subjects include the decision's, so
// the lookup by commit finds it.
func (e *Env) Revoke(t testing.TB, decisionBundle []byte, reason string) {
	t.Helper()
	ref, err := attest.InspectDecision(decisionBundle)
	if err != nil {
		t.Fatal(err)
	}
	signer := verifytest.GitHubWorkflow(Owner+"/"+Repo, Workflow, "refs/heads/main")
	st, err := attest.NewRevocationStatement(ref, attest.RevocationPredicate{
		Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType},
		Reason:  reason, RevokedAt: time.Now().Add(-time.Second).UTC(), Revoker: attest.Revoker{Identity: signer.SAN},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.SS.Attest(signer, st)
	if err != nil {
		t.Fatal(err)
	}
	e.Sim.AddAttestation(Owner, Repo, githubsim.Attestation{Bundle: b})
}

// Publish puts a signed decision in the repository's attestation store.
func (e *Env) Publish(t testing.TB, d Decision) {
	t.Helper()
	e.Sim.AddAttestation(Owner, Repo, githubsim.Attestation{Bundle: e.Sign(t, d)})
}

// Payload is the real deployment_protection_rule sample with the fields
// of this run: the callback URL of the simulator, the repository, the
// commit, the environment and the installation.
func (e *Env) Payload(t testing.TB, runID int64, sha, envName string) []byte {
	t.Helper()
	var p map[string]any
	raw, _ := json.Marshal(e.sample)
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	p["environment"] = envName
	p["deployment_callback_url"] = e.Sim.CallbackURL(Owner, Repo, runID)
	p["installation"] = map[string]any{"id": InstallationID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="}
	d := p["deployment"].(map[string]any)
	d["sha"], d["environment"], d["ref"] = sha, envName, "main"
	r := p["repository"].(map[string]any)
	r["id"], r["name"], r["full_name"] = e.RepoID, Repo, Owner+"/"+Repo
	r["owner"].(map[string]any)["login"] = Owner
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var deliverySeq atomic.Int64

// client bounds every request the test world makes of a server under test,
// so a server that hangs fails the test instead of stalling it.
var client = httpx.NewClient(httpx.Options{Timeout: 10 * time.Second})

// Deliver sends a signed deployment_protection_rule webhook as GitHub does.
func Deliver(t testing.TB, base string, body []byte, sig string) (int, string) {
	t.Helper()
	d := githubsim.Delivery{Event: "deployment_protection_rule", ID: fmt.Sprintf("d-%d", deliverySeq.Add(1)), Body: body, Signature: sig}
	code, out, err := githubsim.Deliver(t.Context(), client, base+serve.WebhookPath, WebhookSecret, d)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// Reviews waits until runID has at least want reviews and returns them.
func (e *Env) Reviews(t testing.TB, runID int64, want int) []githubsim.DeploymentReview {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []githubsim.DeploymentReview
		for _, r := range e.Sim.DeploymentReviews() {
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

// WaitReady waits until base/readyz answers 200.
func WaitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/readyz")
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
