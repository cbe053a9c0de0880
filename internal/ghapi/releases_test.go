package ghapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

// testBundle is the shape of a Sigstore bundle with one in-toto subject;
// the simulator indexes attestations by subject digest.
func testBundle(digest string) []byte {
	st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": []any{map[string]any{"name": "a", "digest": map[string]string{"sha256": digest}}}})
	b, _ := json.Marshal(map[string]any{
		"mediaType":    "application/vnd.dev.sigstore.bundle.v0.3+json",
		"dsseEnvelope": map[string]any{"payload": st, "payloadType": "application/vnd.in-toto+json", "signatures": []any{}},
	})
	return b
}

// seedReleases gives the simulator a published release with an asset and
// two attestations (one inline, one by bundle_url), and returns the path
// parameters that reach them.
func seedReleases(t *testing.T, sim *githubsim.Server, owner, repo string) map[string]string {
	t.Helper()
	id := sim.AddRelease(owner, repo, githubsim.Release{Tag: "v1.0.0"})
	sim.AddReleaseAsset(owner, repo, id, githubsim.Asset{Name: "agent.tar.gz", Data: []byte("agent"), Label: "the agent"})
	sim.AddReleaseAsset(owner, repo, id, githubsim.Asset{Name: "legacy.tar.gz", Data: []byte("legacy"), NoDigest: true})
	digest := strings.Repeat("ab", 32)
	c, err := ghapi.New(sim.APIURL(), sim.JobToken(), &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAttestation(t.Context(), owner, repo, testBundle(digest)); err != nil {
		t.Fatal(err)
	}
	// One listed only by bundle_url, as GitHub lists newer records: the
	// record without "bundle" must match the schema too.
	sim.AddAttestation(owner, repo, githubsim.Attestation{Bundle: testBundle(digest), ByURL: true})
	return map[string]string{"tag": "v1.0.0", "release_id": strconv.FormatInt(id, 10), "subject_digest": "sha256:" + digest}
}

// TestContractReleaseExamples: GitHub's own examples decode through the client.
func TestContractReleaseExamples(t *testing.T) {
	dir := realdata(t, filepath.Join("04-github-rest-api", "examples"))
	serve := func(t *testing.T, name string, status int) *ghapi.Client {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}))
		t.Cleanup(srv.Close)
		c, err := ghapi.New(srv.URL+"/api/v3", "tok", srv.Client(), ghapi.WithUploadURL(srv.URL+"/api/uploads"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r, err := serve(t, "repos__get-release-by-tag.200.default.json", 200).ReleaseByTag(t.Context(), "octocat", "Hello-World", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if *r != (ghapi.Release{ID: 1, Tag: "v1.0.0"}) {
		t.Errorf("release example: got %+v", r)
	}
	as, err := serve(t, "repos__list-release-assets.200.default.json", 200).ReleaseAssets(t.Context(), "octocat", "Hello-World", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := ghapi.Asset{ID: 1, Name: "example.zip", Size: 1024, Digest: "sha256:2151b604e3429bff440b9fbc03eb3617bc2603cda96c95b9bb05277f9ddba255"}
	if len(as) != 1 || as[0] != want {
		t.Errorf("assets example: got %+v", as)
	}
	a, err := serve(t, "repos__upload-release-asset.201.response-for-successful-upload.json", 201).UploadReleaseAsset(t.Context(), "octocat", "Hello-World", 1, "example.zip", "application/zip", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if *a != want {
		t.Errorf("upload example: got %+v", a)
	}
	id, err := serve(t, "repos__create-attestation.201.default.json", 201).CreateAttestation(t.Context(), "octocat", "Hello-World", testBundle(strings.Repeat("0", 64)))
	if err != nil || id != 2 {
		t.Errorf("attestation example: id %d, %v", id, err)
	}
	// The request example is a real bundle: the client sends it as-is.
	req, err := os.ReadFile(filepath.Join(dir, "repos__create-attestation.request.default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Bundle json.RawMessage `json:"bundle"`
	}
	if err := json.Unmarshal(req, &body); err != nil {
		t.Fatal(err)
	}
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = readAll(r)
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id": 9}`))
	}))
	defer srv.Close()
	c, _ := ghapi.New(srv.URL, "tok", srv.Client())
	if _, err := c.CreateAttestation(t.Context(), "o", "r", body.Bundle); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Bundle json.RawMessage `json:"bundle"`
	}
	if err := json.Unmarshal(got, &sent); err != nil || !jsonEqual(sent.Bundle, body.Bundle) {
		t.Errorf("the bundle was not sent unchanged: %v", err)
	}
}

func readAll(r *http.Request) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r.Body)
	return b.Bytes(), err
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestContractSimulatorWritesMatchSchemas: the simulator's answers to the
// write operations validate against GitHub's 201 schemas.
func TestContractSimulatorWritesMatchSchemas(t *testing.T) {
	_, ops := loadSpec(t)
	sim := githubsim.NewForTest(t)
	sim.Seed("octo", "repo")
	id := sim.AddRelease("octo", "repo", githubsim.Release{Tag: "v2", Draft: true})
	hc := &http.Client{Timeout: 10 * time.Second}
	post := func(u, ctype string, body []byte) []byte {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sim.JobToken())
		req.Header.Set("Content-Type", ctype)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", u, resp.StatusCode, b.Bytes())
		}
		return b.Bytes()
	}
	cases := map[string][]byte{
		"repos/upload-release-asset": post(sim.UploadURL()+"/repos/octo/repo/releases/"+strconv.FormatInt(id, 10)+"/assets?name=x.json", "application/json", []byte("{}")),
		"repos/create-attestation":   post(sim.APIURL()+"/repos/octo/repo/attestations", "application/json", []byte(`{"bundle":`+string(testBundle(strings.Repeat("1", 64)))+`}`)),
	}
	for opID, body := range cases {
		o := findOp(ops, opID)
		if o == nil {
			t.Fatalf("%s not in the description", opID)
		}
		schema, _ := o.responseSchema(t, "201")
		if schema == nil {
			t.Fatalf("%s: no 201 schema", opID)
		}
		if errs := checkSchema("$", schema, decodeNumbers(t, body)); len(errs) > 0 {
			t.Errorf("%s violates the schema:\n  %s", opID, strings.Join(errs, "\n  "))
		}
	}
}

func TestReleasesAgainstSimulator(t *testing.T) {
	sim := githubsim.NewForTest(t)
	sim.Seed("acme", "agent")
	draft := sim.AddRelease("acme", "agent", githubsim.Release{Tag: "v2.0.0", Draft: true})
	locked := sim.AddRelease("acme", "agent", githubsim.Release{Tag: "v1.0.0", Immutable: true})
	c, err := ghapi.New(sim.APIURL(), sim.JobToken(), &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	r, err := c.ReleaseByTag(ctx, "acme", "agent", "v2.0.0")
	if err != nil || r.ID != draft || !r.Draft {
		t.Fatalf("draft release: %+v %v", r, err)
	}
	r, err = c.ReleaseByTag(ctx, "acme", "agent", "v1.0.0")
	if err != nil || r.ID != locked || r.Draft || !r.Immutable {
		t.Fatalf("immutable release: %+v %v", r, err)
	}
	var nf *ghapi.NotFoundError
	if _, err := c.ReleaseByTag(ctx, "acme", "agent", "v9"); !errors.As(err, &nf) {
		t.Errorf("unknown tag: %v", err)
	}

	a, err := c.UploadReleaseAsset(ctx, "acme", "agent", draft, "d.sigstore.json", "application/json", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var exists *ghapi.AlreadyExistsError
	if _, err := c.UploadReleaseAsset(ctx, "acme", "agent", draft, "d.sigstore.json", "application/json", []byte(`{}`)); !errors.As(err, &exists) {
		t.Errorf("second upload: expected AlreadyExistsError, got %v", err)
	}
	as, err := c.ReleaseAssets(ctx, "acme", "agent", draft)
	if err != nil || len(as) != 1 || as[0].ID != a.ID || !strings.HasPrefix(as[0].Digest, "sha256:") {
		t.Fatalf("assets %+v %v", as, err)
	}
	if err := c.DeleteReleaseAsset(ctx, "acme", "agent", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteReleaseAsset(ctx, "acme", "agent", a.ID); err != nil {
		t.Errorf("deleting a deleted asset: %v", err)
	}
	if as, _ := c.ReleaseAssets(ctx, "acme", "agent", draft); len(as) != 0 {
		t.Errorf("asset not deleted: %+v", as)
	}
	_, err = c.UploadReleaseAsset(ctx, "acme", "agent", locked, "x.json", "application/json", []byte(`{}`))
	if err == nil || fault.KindOf(err) != fault.KindOperational || !strings.Contains(err.Error(), "post asset") {
		t.Errorf("upload to an immutable release: %v", err)
	}

	// A POST that may have been applied is not sent again: after a 502 the
	// record may exist, and a second POST would store a second one. A 429
	// refuses before acting, so that one is retried.
	sim.InjectFault("POST /repos/{owner}/{repo}/attestations", githubsim.Fault{Status: 502, Times: 1})
	before := len(sim.Requests())
	if _, err := c.CreateAttestation(ctx, "acme", "agent", testBundle(strings.Repeat("2", 64))); err == nil || fault.KindOf(err) != fault.KindOperational ||
		!strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "not retried") {
		t.Errorf("attestation after a 502: expected an operational error saying it was not retried, got %v", err)
	}
	if n := len(sim.RequestsSince(before, "POST /repos/{owner}/{repo}/attestations")); n != 1 {
		t.Errorf("attestation after a 502: expected 1 request, got %d", n)
	}
	sim.InjectFault("POST /repos/{owner}/{repo}/attestations", githubsim.Fault{Status: 429, RetryAfter: "0", Times: 1})
	if id, err := c.CreateAttestation(ctx, "acme", "agent", testBundle(strings.Repeat("2", 64))); err != nil || id <= 0 {
		t.Errorf("attestation after a 429: %d %v", id, err)
	}
	sim.InjectFault("POST /repos/{owner}/{repo}/attestations", githubsim.Fault{Status: 403})
	if _, err := c.CreateAttestation(ctx, "acme", "agent", testBundle(strings.Repeat("3", 64))); err == nil || !strings.Contains(err.Error(), "attestations: write") {
		t.Errorf("403: %v", err)
	}
	if got := len(sim.Attestations("acme", "agent")); got != 1 {
		t.Errorf("%d attestations stored, expected 1", got)
	}
}

// TestReleaseAssetDigests: the digest is what GitHub reported, null as
// empty; judging it is the caller's business.
func TestReleaseAssetDigests(t *testing.T) {
	sim := githubsim.NewForTest(t)
	sim.Seed("acme", "agent")
	id := sim.AddRelease("acme", "agent", githubsim.Release{Tag: "v1"})
	sim.AddReleaseAsset("acme", "agent", id, githubsim.Asset{Name: "a", Data: []byte("a")})
	sim.AddReleaseAsset("acme", "agent", id, githubsim.Asset{Name: "b", Data: []byte("b"), NoDigest: true})
	sim.AddReleaseAsset("acme", "agent", id, githubsim.Asset{Name: "c", Data: []byte("c"), ReportedDigest: "md5:0cc175b9"})
	c, err := ghapi.New(sim.APIURL(), sim.JobToken(), &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	as, err := c.ReleaseAssets(t.Context(), "acme", "agent", id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range as {
		got[a.Name] = a.Digest
	}
	want := map[string]string{"a": "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", "b": "", "c": "md5:0cc175b9"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("digests: expected %v, got %v", want, got)
	}
}
