package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// gateStatement is the in-toto statement of a real allow made by the gate
// (the demo's run, signed through in-process Fulcio and TSA), computed once.
var gateStatement struct {
	once    sync.Once
	payload []byte
	digest  string // the subject, sha256:HEX
	err     string
}

func realGateStatement(t testing.TB) ([]byte, string) {
	t.Helper()
	gateStatement.once.Do(func() {
		out := t.TempDir()
		code, stdout, errs := airlock(t, "", "demo", "--keep=false", "--out", out)
		if code != ExitAllow {
			gateStatement.err = "demo: exit " + stdout + errs
			return
		}
		names, _ := filepath.Glob(filepath.Join(out, "*.sigstore.json"))
		if len(names) != 1 {
			gateStatement.err = "demo exported no single bundle"
			return
		}
		raw, err := os.ReadFile(names[0])
		if err != nil {
			gateStatement.err = err.Error()
			return
		}
		var b struct {
			DSSE struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			gateStatement.err = err.Error()
			return
		}
		p, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
		if err != nil {
			gateStatement.err = err.Error()
			return
		}
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(p, &st); err != nil || len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] == "" {
			gateStatement.err = "demo statement has no single sha256 subject: " + string(p)
			return
		}
		gateStatement.payload, gateStatement.digest = p, "sha256:"+st.Subject[0].Digest["sha256"]
	})
	if gateStatement.err != "" {
		t.Fatal(gateStatement.err)
	}
	return gateStatement.payload, gateStatement.digest
}

// ghVerifyEnv is a public repository on an in-process GitHub, and bundles of
// the gate's real decision statement signed by an in-process Sigstore.
type ghVerifyEnv struct {
	sim          *githubsim.Server
	ss           *verifytest.Sigstore
	root, digest string
	rootJSON     []byte
	statement    []byte
	dir          string
	env          map[string]string
}

func newGHVerifyEnv(t *testing.T) *ghVerifyEnv {
	t.Helper()
	e := newSignedGitHub(t)
	e.sim.SetRepository(githubsim.Repository{Owner: "acme", Name: "support-agent", Visibility: "public"})
	e.env = map[string]string{"GITHUB_API_URL": e.sim.APIURL()}
	return e
}

// newSignedGitHub is an in-process GitHub with no repository yet, an
// in-process Sigstore and its trusted root on disk.
func newSignedGitHub(t testing.TB, opts ...githubsim.Option) *ghVerifyEnv {
	t.Helper()
	st, digest := realGateStatement(t)
	ss, err := verifytest.New()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &ghVerifyEnv{sim: githubsim.NewForTest(t, opts...), ss: ss, digest: digest, rootJSON: rootJSON, statement: st, dir: t.TempDir()}
	e.root = filepath.Join(e.dir, "trusted_root.json")
	if err := os.WriteFile(e.root, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *ghVerifyEnv) bundle(t *testing.T) []byte {
	t.Helper()
	return e.sign(t, e.statement)
}

// sign signs an in-toto statement as the repository's promotion workflow.
func (e *ghVerifyEnv) sign(t *testing.T, statement []byte) []byte {
	t.Helper()
	b, err := e.ss.Attest(verifytest.GitHubWorkflow("acme/support-agent", ".github/workflows/promote.yml", "refs/heads/main"), statement)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper changes one byte of the signed payload: the signature no longer
// covers it.
func tamper(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	env := b["dsseEnvelope"].(map[string]any)
	p, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	p = bytes.Replace(p, []byte(`"allow"`), []byte(`"allOw"`), 1)
	env["payload"] = base64.StdEncoding.EncodeToString(p)
	out, _ := json.Marshal(b)
	return out
}

func (e *ghVerifyEnv) release(tag string, draft bool, assets map[string][]byte) {
	id := e.sim.AddRelease("acme", "support-agent", githubsim.Release{Tag: tag, Draft: draft})
	for name, data := range assets {
		e.sim.AddReleaseAsset("acme", "support-agent", id, githubsim.Asset{Name: name, Data: data})
	}
}

func (e *ghVerifyEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return e.env[k] }
	code := Main(context.Background(), append([]string{"verify"}, args...), getenv, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// policyDir is the policy the demo's gate decided under (the defaults plus
// its agent parameters), with approvals parameters on top.
func policyDir(t *testing.T, approvalsJSON string) string {
	t.Helper()
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "params"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"approvals.json": approvalsJSON, "agent.json": demoParams} {
		if err := os.WriteFile(filepath.Join(d, "params", name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestVerifyFromGitHub(t *testing.T) {
	e := newGHVerifyEnv(t)
	good1, good2 := e.bundle(t), e.bundle(t)
	e.release("v1", false, map[string][]byte{"a.sigstore.json": good1, "b.sigstore.json": good2, "trusted_root.json": e.rootJSON, "agent.tar.gz": []byte("x")})
	e.release("v2", false, map[string][]byte{"a.sigstore.json": good1, "b.sigstore.json": tamper(t, good2)})
	e.release("v3", false, map[string][]byte{"agent.tar.gz": []byte("x")})
	e.release("v4-draft", true, map[string][]byte{"a.sigstore.json": good1})
	e.release("v5", false, map[string][]byte{"a.sigstore.json": good1})
	for _, b := range [][]byte{good1, good2} {
		if _, err := ghapiCreateAttestation(e, b); err != nil {
			t.Fatal(err)
		}
	}
	id := []string{"--repo", "acme/support-agent", "--digest", e.digest}
	tr := "--trusted-root=" + e.root
	strict := policyDir(t, `{"min_approvals": 3}`)
	same := policyDir(t, `{"min_approvals": 1}`)

	for _, tc := range []struct {
		name  string
		args  []string
		token bool
		code  int
		want  []string
	}{
		{"release with two decisions", append([]string{"--release", "acme/support-agent@v1", tr}, id...), false, ExitAllow,
			[]string{"acme/support-agent@v1/a.sigstore.json", "acme/support-agent@v1/b.sigstore.json", "2 bundle(s): 2 verified"}},
		{"release's own trusted root", append([]string{"--release", "acme/support-agent@v1", "--trusted-root-from-release"}, id...), false, ExitAllow,
			[]string{"2 verified"}},
		{"release with a tampered bundle", append([]string{"--release", "acme/support-agent@v2", tr}, id...), false, ExitDeny,
			[]string{"acme/support-agent@v2/b.sigstore.json: ", "1 of 2 bundle(s) failed"}},
		{"release without bundles", append([]string{"--release", "acme/support-agent@v3", tr}, id...), false, ExitDeny,
			[]string{"no attestation found", "no *.sigstore.json"}},
		{"release without a trusted root asset", append([]string{"--release", "acme/support-agent@v5", "--trusted-root-from-release"}, id...), false, ExitDeny,
			[]string{"no trusted_root.json"}},
		{"draft without a token", append([]string{"--release", "acme/support-agent@v4-draft", tr}, id...), false, ExitOperational,
			[]string{"no such release", "set GITHUB_TOKEN"}},
		{"draft with a token", append([]string{"--release", "acme/support-agent@v4-draft", tr}, id...), true, ExitAllow,
			[]string{"1 verified"}},
		{"missing release", append([]string{"--release", "acme/support-agent@v9", tr}, id...), false, ExitOperational,
			[]string{"no such release (HTTP 404)"}},
		{"attestation store hit", append([]string{tr}, id...), false, ExitAllow,
			[]string{"attestations/" + e.digest, "2 bundle(s): 2 verified"}},
		{"attestation store miss", []string{tr, "--repo", "acme/support-agent", "--digest", "sha256:" + strings.Repeat("ab", 32)}, false, ExitDeny,
			[]string{"no attestation found"}},
		{"unknown repository in the store", []string{tr, "--repo", "acme/nope", "--digest", e.digest}, true, ExitDeny,
			[]string{"no attestation found"}},
		{"private repository without a token", []string{tr, "--repo", "acme/nope", "--digest", e.digest}, false, ExitOperational,
			[]string{"set GITHUB_TOKEN"}},
		{"policy still passes", append([]string{"--release", "acme/support-agent@v1", tr, "--policy", same}, id...), false, ExitAllow,
			[]string{"re-evaluated under --policy", "would still be allowed"}},
		{"stricter policy reported", append([]string{"--release", "acme/support-agent@v1", tr, "--policy", strict}, id...), false, ExitAllow,
			[]string{"would now be DENIED", "[C4]"}},
		{"stricter policy required", append([]string{"--release", "acme/support-agent@v1", tr, "--policy", strict, "--require-policy-pass"}, id...), false, ExitDeny,
			[]string{"would now be denied", "2 of 2 bundle(s) failed"}},
		{"bad release ref", []string{"--release", "acme/support-agent", tr, "--digest", e.digest}, false, ExitUsage, []string{"OWNER/REPO@TAG"}},
		{"release and bundle", []string{"--release", "acme/support-agent@v1", "--bundle", e.root, tr, "--digest", e.digest}, false, ExitUsage, []string{"not both"}},
		{"two trusted roots", append([]string{"--release", "acme/support-agent@v1", tr, "--trusted-root-from-release"}, id...), false, ExitUsage, []string{"not both"}},
		{"require without policy", append([]string{"--release", "acme/support-agent@v1", tr, "--require-policy-pass"}, id...), false, ExitUsage, []string{"needs --policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			delete(e.env, "GITHUB_TOKEN")
			if tc.token {
				e.env["GITHUB_TOKEN"] = e.sim.JobToken()
			}
			code, out, errs := e.run(t, tc.args...)
			for _, w := range tc.want {
				if code != tc.code || !strings.Contains(out+errs, w) {
					t.Fatalf("exit %d (expected %d), output lacks %q:\n%s\n%s", code, tc.code, w, out, errs)
				}
			}
			checkNoFalseSuccess(t, code, out, errs)
			if tc.token && strings.Contains(out+errs, e.sim.JobToken()) {
				t.Fatal("the token leaked into the output")
			}
		})
	}

	t.Run("json record carries the re-evaluation", func(t *testing.T) {
		code, out, errs := e.run(t, append([]string{"--release", "acme/support-agent@v1", tr, "--policy", strict, "--format", "json"}, id...)...)
		if code != ExitAllow {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		var rep struct {
			Bundles []struct {
				Reevaluation *struct {
					Allow   bool `json:"allow"`
					Reasons []struct {
						Control string `json:"control"`
					} `json:"reasons"`
				} `json:"reevaluation"`
			} `json:"bundles"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Bundles) != 2 {
			t.Fatalf("expected 2 records, got %d", len(rep.Bundles))
		}
		for _, b := range rep.Bundles {
			if b.Reevaluation == nil || b.Reevaluation.Allow || len(b.Reevaluation.Reasons) == 0 {
				t.Fatalf("expected a re-evaluated deny with reasons, got %+v", b.Reevaluation)
			}
		}
	})

	t.Run("no token is sent when none is set", func(t *testing.T) {
		delete(e.env, "GITHUB_TOKEN")
		before := len(e.sim.Requests())
		if code, out, errs := e.run(t, append([]string{"--release", "acme/support-agent@v1", tr}, id...)...); code != ExitAllow {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		for _, r := range e.sim.RequestsSince(before, "") {
			if r.HasAuth {
				t.Fatalf("request %s %s carried an Authorization header", r.Method, r.Path)
			}
		}
	})

	for _, tc := range []struct {
		name, route string
		status      int
		args        []string
		want        string
	}{
		{"release API 500", "GET /repos/{owner}/{repo}/releases/tags/{tag}", http.StatusInternalServerError,
			append([]string{"--release", "acme/support-agent@v1", tr}, id...), "HTTP 500"},
		{"asset download 500", "GET /repos/{owner}/{repo}/releases/assets/{asset_id}", http.StatusInternalServerError,
			append([]string{"--release", "acme/support-agent@v1", tr}, id...), "HTTP 500"},
		{"attestation store 500", "GET /repos/{owner}/{repo}/attestations/{subject_digest}", http.StatusInternalServerError,
			append([]string{tr}, id...), "HTTP 500"},
		{"attestation store 403", "GET /repos/{owner}/{repo}/attestations/{subject_digest}", http.StatusForbidden,
			append([]string{tr}, id...), "attestations: read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.ClearFaults()
			e.sim.InjectFault(tc.route, githubsim.Fault{Status: tc.status})
			defer e.sim.ClearFaults()
			code, out, errs := e.run(t, tc.args...)
			if code != ExitOperational || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d (expected %d), stderr lacks %q:\n%s\n%s", code, ExitOperational, tc.want, out, errs)
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}
}

// ghapiCreateAttestation stores a bundle as the gate does: through ghapi,
// with the job token.
func ghapiCreateAttestation(e *ghVerifyEnv, bundle []byte) (int64, error) {
	gh, err := ghapi.New(e.sim.APIURL(), e.sim.JobToken(), &http.Client{})
	if err != nil {
		return 0, err
	}
	return gh.CreateAttestation(context.Background(), "acme", "support-agent", bundle)
}

// TestVerifyFromGitHubBundleURL: GitHub's attestation store may list a
// record only by bundle_url (a pre-signed blob URL, Snappy-compressed). Such
// a record verifies like an inline one; a blob that does not decompress
// fails that record only; an expired URL is an operational failure. Neither
// the token nor the URL's signature appears in any output, and the token
// never reaches blob storage.
func TestVerifyFromGitHubBundleURL(t *testing.T) {
	e := newGHVerifyEnv(t)
	e.sim.AddAttestation("acme", "support-agent", githubsim.Attestation{Bundle: e.bundle(t)})
	e.sim.AddAttestation("acme", "support-agent", githubsim.Attestation{Bundle: e.bundle(t), ByURL: true})
	sigs := blobSignatures(t, e)
	args := []string{"--trusted-root=" + e.root, "--repo", "acme/support-agent", "--digest", e.digest}
	name := "acme/support-agent attestations/" + e.digest + " #"

	for _, tc := range []struct {
		name     string
		fault    *githubsim.Fault
		code     int
		verified []int // records the table must show verified
		want     []string
	}{
		{"record by url verifies", nil, ExitAllow, []int{1, 2}, []string{"2 bundle(s): 2 verified"}},
		{"blob storage blips", &githubsim.Fault{Status: http.StatusServiceUnavailable, Times: 1}, ExitAllow, []int{1, 2}, []string{"2 verified"}},
		{"corrupt blob fails its record only", &githubsim.Fault{Body: []byte("not snappy"), Times: 1}, ExitDeny, []int{1},
			[]string{name + "2: attestation #2 of " + e.digest, "snappy", "2 bundle(s): 1 verified, 1 failed"}},
		{"expired blob url", &githubsim.Fault{Status: http.StatusForbidden, Times: 1}, ExitOperational, nil,
			[]string{"attestation #2 of " + e.digest, "HTTP 403", "run again"}},
	} {
		for _, withToken := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s token=%v", tc.name, withToken), func(t *testing.T) {
				delete(e.env, "GITHUB_TOKEN")
				if withToken {
					e.env["GITHUB_TOKEN"] = e.sim.JobToken()
				}
				e.sim.ClearFaults()
				if tc.fault != nil {
					e.sim.InjectFault(githubsim.RouteAttestationBlob, *tc.fault)
				}
				before := len(e.sim.Requests())
				code, out, errs := e.run(t, args...)
				if code != tc.code {
					t.Fatalf("exit %d, expected %d:\n%s\n%s", code, tc.code, out, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(out+errs, w) {
						t.Errorf("output lacks %q:\n%s\n%s", w, out, errs)
					}
				}
				for _, n := range tc.verified {
					if !tableSays(out, fmt.Sprintf("%s%d", name, n), "verified") {
						t.Errorf("record #%d is not shown verified:\n%s", n, out)
					}
				}
				checkNoFalseSuccess(t, code, out, errs)
				for _, secret := range append([]string{e.sim.JobToken(), "sig="}, sigs...) {
					if strings.Contains(out+errs, secret) {
						t.Errorf("the output holds %q:\n%s\n%s", secret, out, errs)
					}
				}
				blobs := e.sim.RequestsSince(before, githubsim.RouteAttestationBlob)
				for _, r := range blobs {
					if r.HasAuth {
						t.Error("a blob request carried an Authorization header")
					}
				}
				if len(blobs) == 0 {
					t.Error("no blob was fetched")
				}
			})
		}
	}
}

// blobSignatures reads the signatures of the bundle_urls the store hands
// out, raw and as they appear escaped in a URL.
func blobSignatures(t *testing.T, e *ghVerifyEnv) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.sim.APIURL()+"/repos/acme/support-agent/attestations/"+e.digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Attestations []struct {
			BundleURL string `json:"bundle_url"`
		} `json:"attestations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list.Attestations {
		u, err := url.Parse(a.BundleURL)
		if err != nil || u.Query().Get("sig") == "" {
			t.Fatalf("bundle_url %q has no signature", a.BundleURL)
		}
		out = append(out, u.Query().Get("sig"), url.QueryEscape(u.Query().Get("sig")))
	}
	if len(out) == 0 {
		t.Fatal("the store lists no bundle_url")
	}
	return out
}

// tableSays reports whether the text table's row for bundle has result.
func tableSays(out, bundle, result string) bool {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, bundle+" "); ok {
			f := strings.Fields(rest)
			return len(f) > 0 && f[0] == result
		}
	}
	return false
}

// TestVerifyTimeout: --timeout is one deadline over the whole run. A
// dependency that never answers, or answers one byte at a time, ends at it
// (not at the HTTP client's 30 s per attempt: the error says which), exit 3
// naming the dependency.
func TestVerifyTimeout(t *testing.T) {
	e := newGHVerifyEnv(t)
	e.release("v1", false, map[string][]byte{"decision.sigstore.json": e.bundle(t)})
	e.sim.AddAttestation("acme", "support-agent", githubsim.Attestation{Bundle: e.bundle(t), ByURL: true})
	e.env["GITHUB_TOKEN"] = e.sim.JobToken()
	base := []string{"--timeout", "1s", "--trusted-root=" + e.root, "--repo", "acme/support-agent", "--digest", e.digest}
	release := append([]string{"--release", "acme/support-agent@v1"}, base...)
	never := githubsim.Fault{Delay: time.Hour, Status: http.StatusGatewayTimeout}
	slow := githubsim.Fault{SlowBody: 250 * time.Millisecond}
	for _, tc := range []struct {
		name, route string
		fault       githubsim.Fault
		args        []string
		want        string
	}{
		{"release never answers", "GET /repos/{owner}/{repo}/releases/tags/{tag}", never, release, "release"},
		{"release slow body", "GET /repos/{owner}/{repo}/releases/tags/{tag}", slow, release, "release"},
		{"asset slow body", "GET /repos/{owner}/{repo}/releases/assets/{asset_id}", slow, release, "asset"},
		{"store never answers", "GET /repos/{owner}/{repo}/attestations/{subject_digest}", never, base, "attestations"},
		{"blob slow body", githubsim.RouteAttestationBlob, slow, base, "attestation #1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.ClearFaults()
			defer e.sim.ClearFaults()
			e.sim.InjectFault(tc.route, tc.fault)
			code, out, errs := e.run(t, tc.args...)
			if code != ExitOperational || !strings.Contains(errs, "--timeout 1s exceeded") || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d (expected %d), stderr lacks %q and the deadline:\n%s\n%s", code, ExitOperational, tc.want, out, errs)
			}
			if e.sim.FaultsServed(tc.route) == 0 {
				t.Fatal("the fault never fired")
			}
			checkNoFalseSuccess(t, code, out, errs)
		})
	}
	t.Run("bad --timeout is a usage error before any request", func(t *testing.T) {
		// A GitHub of its own: the slow-body cases above may still be
		// logging their last answers.
		e := newGHVerifyEnv(t)
		e.env["GITHUB_TOKEN"] = e.sim.JobToken()
		before := len(e.sim.Requests())
		for _, v := range []string{"0s", "-1s", "31m", "soon"} {
			code, out, errs := e.run(t, append([]string{"--timeout", v, "--release", "acme/support-agent@v1"}, base[2:]...)...)
			if code != ExitUsage || !strings.Contains(errs, "timeout") {
				t.Errorf("--timeout %s: exit %d (expected %d):\n%s\n%s", v, code, ExitUsage, out, errs)
			}
		}
		if n := len(e.sim.Requests()) - before; n != 0 {
			t.Errorf("%d request(s) reached GitHub", n)
		}
	})
}
