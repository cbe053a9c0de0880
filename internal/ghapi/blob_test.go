package ghapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

// sasSig stands for the shared-access signature in a bundle_url's query: a
// credential that must appear in no error.
const sasSig = "SASsigNEVERinERRORS%2Fabc%3D"

// blobRecord is what the attestation store lists for a bundle only by URL;
// half of them say "bundle": null, the others leave the key out (GitHub's
// own example does).
func blobRecord(i int, u string) string {
	if i%2 == 0 {
		return fmt.Sprintf(`{"bundle":null,"repository_id":1,"bundle_url":%q}`, u)
	}
	return fmt.Sprintf(`{"repository_id":1,"bundle_url":%q}`, u)
}

// TestAttestationsByURL: records listed only by bundle_url are fetched from
// blob storage without the token and decoded; what is wrong with one record
// fails that record, what stops airlock from reading it fails the call.
func TestAttestationsByURL(t *testing.T) {
	big := s2.EncodeSnappy(nil, make([]byte, ghapi.MaxAttestationBundleBytes+1))
	for _, tc := range []struct {
		name string
		// urls of the records after the first (inline) one: BLOB is the
		// API's own origin, OTHER a second origin (localhost), both http on
		// loopback.
		urls []string
		// blob answers requests to /blob/NAME.json.sn on either origin.
		blob func(w http.ResponseWriter, r *http.Request, name string)
		// recErr is, per record after the first, a word its Err must hold
		// ("" means it must decode to the bundle named in its URL).
		recErr []string
		// callErr: the call fails with an operational error holding it.
		callErr []string
		sleeps  int
	}{
		{name: "inline and by url", urls: []string{"BLOB/blob/b1.json.sn", "OTHER/blob/b2.json.sn"}, recErr: []string{"", ""}},
		{name: "redirect to another origin", urls: []string{"BLOB/blob/hop.json.sn"}, recErr: []string{""},
			blob: func(w http.ResponseWriter, r *http.Request, name string) {
				if strings.HasPrefix(r.Host, "127.0.0.1:") {
					http.Redirect(w, r, "http://"+strings.Replace(r.Host, "127.0.0.1", "localhost", 1)+r.URL.RequestURI(), http.StatusFound)
					return
				}
				serveBundle(w, name)
			}},
		{name: "redirect to plain http elsewhere", urls: []string{"BLOB/blob/away.json.sn", "BLOB/blob/b2.json.sn"}, recErr: []string{`"blobs.example.invalid"`, ""},
			blob: func(w http.ResponseWriter, r *http.Request, name string) {
				if name == "away" {
					http.Redirect(w, r, "http://blobs.example.invalid/x.json.sn?sig="+sasSig, http.StatusFound)
					return
				}
				serveBundle(w, name)
			}},
		{name: "plain http to another host", urls: []string{"http://blobs.example.invalid/a/1.json.sn", "BLOB/blob/b2.json.sn"},
			recErr: []string{`plain http is allowed only to loopback, got host "blobs.example.invalid"`, ""}},
		{name: "other scheme", urls: []string{"ftp://blobs.example.invalid/1.json.sn"}, recErr: []string{`expected scheme https, got "ftp"`}},
		{name: "user credentials", urls: []string{"https://u:p@blobs.example.invalid/1.json.sn"}, recErr: []string{"user credentials"}},
		{name: "relative", urls: []string{"/blob/b1.json.sn"}, recErr: []string{"not an absolute URL"}},
		{name: "not a URL", urls: []string{"https://blobs.example.invalid/%zz"}, recErr: []string{"not a URL"}},
		{name: "corrupt snappy", urls: []string{"BLOB/blob/bad.json.sn", "BLOB/blob/b2.json.sn"}, recErr: []string{"snappy", ""},
			blob: func(w http.ResponseWriter, r *http.Request, name string) {
				if name == "bad" {
					_, _ = w.Write([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffnot snappy"))
					return
				}
				serveBundle(w, name)
			}},
		{name: "snappy of something not JSON", urls: []string{"BLOB/blob/x.json.sn"}, recErr: []string{"snappy block decodes to something that is not JSON"},
			blob: func(w http.ResponseWriter, r *http.Request, _ string) {
				_, _ = w.Write(s2.EncodeSnappy(nil, []byte("<html>")))
			}},
		{name: "oversized download", urls: []string{"BLOB/blob/x.json.sn"}, recErr: []string{fmt.Sprintf("larger than %d bytes", ghapi.MaxAttestationBundleBytes)},
			blob: func(w http.ResponseWriter, r *http.Request, _ string) {
				_, _ = w.Write(bytes.Repeat([]byte{0}, ghapi.MaxAttestationBundleBytes+1))
			}},
		{name: "oversized once decoded", urls: []string{"BLOB/blob/x.json.sn"}, recErr: []string{fmt.Sprintf("decodes to %d bytes", ghapi.MaxAttestationBundleBytes+1)},
			blob: func(w http.ResponseWriter, r *http.Request, _ string) { _, _ = w.Write(big) }},
		{name: "expired signature", urls: []string{"BLOB/blob/b1.json.sn"}, callErr: []string{"attestation #2 of sha256:", "HTTP 403 (AuthenticationFailed)", "expires"},
			blob: func(w http.ResponseWriter, r *http.Request, _ string) {
				w.Header().Set("X-Ms-Error-Code", "AuthenticationFailed")
				w.WriteHeader(http.StatusForbidden)
				_, _ = fmt.Fprintf(w, "<Error><Message>Signature did not match: %s</Message></Error>", r.URL.Query().Get("sig"))
			}},
		{name: "blob not found", urls: []string{"BLOB/blob/b1.json.sn"}, callErr: []string{"attestation #2", "HTTP 404 (BlobNotFound)"},
			blob: func(w http.ResponseWriter, r *http.Request, _ string) {
				w.Header().Set("X-Ms-Error-Code", "BlobNotFound")
				w.WriteHeader(http.StatusNotFound)
			}},
		{name: "outage then success", urls: []string{"BLOB/blob/b1.json.sn"}, recErr: []string{""}, sleeps: 1,
			blob: func() func(http.ResponseWriter, *http.Request, string) {
				var n int
				var mu sync.Mutex
				return func(w http.ResponseWriter, r *http.Request, name string) {
					mu.Lock()
					n++
					first := n == 1
					mu.Unlock()
					if first {
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					serveBundle(w, name)
				}
			}()},
		{name: "outage persists", urls: []string{"BLOB/blob/b1.json.sn"}, callErr: []string{"HTTP 503", "3 attempts"}, sleeps: 2,
			blob: func(w http.ResponseWriter, r *http.Request, _ string) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{name: "neither bundle nor url", urls: []string{""}, callErr: []string{"attestation #2", "neither a bundle nor a bundle_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := tc.blob
			if blob == nil {
				blob = func(w http.ResponseWriter, _ *http.Request, name string) { serveBundle(w, name) }
			}
			var apiURL, otherURL string
			var blobReqs struct {
				sync.Mutex
				n         int
				withCreds []string
				sigs      []string
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/api/v3/") {
					if r.Header.Get("Authorization") != "Bearer "+secretToken {
						t.Errorf("the API request lacks the token")
					}
					recs := []string{`{"bundle":{"n":"inline"},"repository_id":1,"bundle_url":"` + apiURL + `/blob/unused.json.sn?sig=` + sasSig + `"}`}
					for i, u := range tc.urls {
						if u == "" {
							recs = append(recs, `{"bundle":null,"repository_id":1}`)
							continue
						}
						u = strings.NewReplacer("BLOB", apiURL, "OTHER", otherURL).Replace(u)
						if strings.Contains(u, "?") {
							u += "&sig=" + sasSig
						} else {
							u += "?se=2026-01-01T00%3A00%3A00Z&sig=" + sasSig
						}
						recs = append(recs, blobRecord(i, u))
					}
					_, _ = fmt.Fprintf(w, `{"attestations":[%s]}`, strings.Join(recs, ","))
					return
				}
				blobReqs.Lock()
				blobReqs.n++
				for _, h := range []string{"Authorization", "Cookie"} {
					if r.Header.Get(h) != "" {
						blobReqs.withCreds = append(blobReqs.withCreds, h+" on "+r.URL.Path)
					}
				}
				blobReqs.sigs = append(blobReqs.sigs, r.URL.Query().Get("sig"))
				blobReqs.Unlock()
				name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/blob/"), ".json.sn")
				if !ok {
					http.NotFound(w, r)
					return
				}
				blob(w, r, name)
			}))
			defer srv.Close()
			apiURL = srv.URL
			otherURL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) // another origin, still loopback

			// The caller's client has a cookie jar with a cookie for the
			// server: the blob request must not carry it either.
			jar, _ := cookiejar.New(nil)
			for _, raw := range []string{apiURL, otherURL} {
				u, _ := url.Parse(raw)
				jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "s"}})
			}
			sl := &sleeps{}
			c, err := ghapi.New(srv.URL+"/api/v3", secretToken, &http.Client{Timeout: 10 * time.Second, Jar: jar}, ghapi.WithSleep(sl.sleep))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Attestations(t.Context(), "acme", "agent", "sha256:"+strings.Repeat("0", 64))

			var outputs []string
			if err != nil {
				outputs = append(outputs, fmt.Sprintf("%v %+v", err, err))
			}
			for _, a := range got {
				if a.Err != nil {
					outputs = append(outputs, fmt.Sprintf("%v %+v", a.Err, a.Err))
				}
			}
			for _, o := range outputs {
				for _, secret := range []string{sasSig, "SASsigNEVERinERRORS", secretToken, "u:p@"} {
					if strings.Contains(o, secret) {
						t.Errorf("an error leaks %q: %s", secret, o)
					}
				}
			}
			blobReqs.Lock()
			if len(blobReqs.withCreds) > 0 {
				t.Errorf("blob requests carried credentials: %v", blobReqs.withCreds)
			}
			for _, s := range blobReqs.sigs {
				if want, _ := url.QueryUnescape(sasSig); s != want {
					t.Errorf("the signed query did not reach blob storage intact: got sig %q", s)
				}
			}
			blobReqs.Unlock()
			if n := len(sl.get()); n != tc.sleeps {
				t.Errorf("retries: expected %d waits, got %d", tc.sleeps, n)
			}

			if tc.callErr != nil {
				checkErr(t, err, fault.KindOperational, tc.callErr...)
				if ghapi.IsNotFound(err) {
					t.Error("a blob that cannot be read reads as GitHub's 404 (no attestations)")
				}
				return
			}
			if err != nil {
				t.Fatalf("expected records, got %v", err)
			}
			if len(got) != 1+len(tc.recErr) || string(got[0].Bundle) != `{"n":"inline"}` || got[0].Err != nil {
				t.Fatalf("expected the inline record and %d more, got %d: %+v", len(tc.recErr), len(got), got)
			}
			for i, want := range tc.recErr {
				a := got[i+1]
				if want == "" {
					name := strings.TrimSuffix(filepath.Base(tc.urls[i]), ".json.sn")
					if a.Err != nil || string(a.Bundle) != bundleJSON(name) {
						t.Errorf("record %d: expected bundle %s, got %q, %v", i+2, bundleJSON(name), a.Bundle, a.Err)
					}
					continue
				}
				if a.Err == nil || a.Bundle != nil || !strings.Contains(a.Err.Error(), want) || !strings.Contains(a.Err.Error(), fmt.Sprintf("attestation #%d ", i+2)) {
					t.Errorf("record %d: expected an error naming it and holding %q, got %v (bundle %q)", i+2, want, a.Err, a.Bundle)
				}
			}
		})
	}
}

func bundleJSON(name string) string { return `{"n":"` + name + `"}` }

func serveBundle(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(s2.EncodeSnappy(nil, []byte(bundleJSON(name))))
}

// TestAttestationsByURLAgainstSimulator: against githubsim's store and blob
// route, with the job token: the bundles come back whole, no blob request
// carries the token, and the blob faults the simulator offers land where
// they should.
func TestAttestationsByURLAgainstSimulator(t *testing.T) {
	sim := githubsim.NewForTest(t)
	sim.Seed("acme", "agent")
	sim.AddToken(secretToken, githubsim.DefaultJobPermissions...)
	digest := strings.Repeat("cd", 32)
	b1, b2 := testBundle(digest), bytes.Replace(testBundle(digest), []byte(`"name":"a"`), []byte(`"name":"b"`), 1)
	sim.AddAttestation("acme", "agent", githubsim.Attestation{Bundle: b1})
	sim.AddAttestation("acme", "agent", githubsim.Attestation{Bundle: b2, ByURL: true})
	sl := &sleeps{}
	c, err := ghapi.New(sim.APIURL(), secretToken, &http.Client{Timeout: 10 * time.Second}, ghapi.WithSleep(sl.sleep))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		fault   *githubsim.Fault
		callErr string
		recErr  string
	}{
		{name: "served"},
		{name: "transient outage", fault: &githubsim.Fault{Status: 503, Times: 1}},
		{name: "corrupt blob", fault: &githubsim.Fault{Body: []byte("not snappy"), Times: 1}, recErr: "snappy"},
		{name: "expired", fault: &githubsim.Fault{Status: 403, Times: 1}, callErr: "HTTP 403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim.ClearFaults()
			if tc.fault != nil {
				sim.InjectFault(githubsim.RouteAttestationBlob, *tc.fault)
			}
			before := len(sim.Requests())
			got, err := c.Attestations(t.Context(), "acme", "agent", "sha256:"+digest)
			blobs := sim.RequestsSince(before, githubsim.RouteAttestationBlob)
			for _, r := range blobs {
				if r.HasAuth {
					t.Error("the blob request carried an Authorization header")
				}
			}
			if len(blobs) == 0 {
				t.Error("no blob was fetched")
			}
			if tc.callErr != "" {
				checkErr(t, err, fault.KindOperational, tc.callErr, "attestation #2")
				return
			}
			if err != nil || len(got) != 2 || !jsonEqual(got[0].Bundle, b1) {
				t.Fatalf("expected 2 records, the first inline, got %d, %v", len(got), err)
			}
			if tc.recErr != "" {
				if got[1].Err == nil || !strings.Contains(got[1].Err.Error(), tc.recErr) || strings.Contains(got[1].Err.Error(), "sig=") {
					t.Fatalf("expected record 2 to fail with %q and no signature, got %v", tc.recErr, got[1].Err)
				}
				return
			}
			if got[1].Err != nil || !bytes.Equal(got[1].Bundle, b2) {
				t.Fatalf("record 2: expected the bundle by URL, got %q, %v", got[1].Bundle, got[1].Err)
			}
		})
	}
}

// TestAttestationsGitHubExample: GitHub's own list example (records only by
// bundle_url, on Azure blob storage over https) decodes and is fetched from
// the host it names with its query intact. The example's host is routed to a
// loopback TLS server by the test's client; nothing leaves the machine.
func TestAttestationsGitHubExample(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(realdata(t, filepath.Join("04-github-rest-api", "examples")), "repos__list-attestations.200.default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		Attestations []struct {
			BundleURL string `json:"bundle_url"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal(body, &example); err != nil || len(example.Attestations) != 2 {
		t.Fatalf("example: %v", err)
	}
	var mu sync.Mutex
	var seen []string
	blob := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, "https://"+r.Host+r.URL.RequestURI())
		if r.Header.Get("Authorization") != "" {
			t.Error("the blob request carried an Authorization header")
		}
		mu.Unlock()
		serveBundle(w, filepath.Base(r.URL.Path))
	}))
	defer blob.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	defer api.Close()
	hc := blob.Client()
	tr := hc.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true // the test server's certificate does not name Azure's host
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasSuffix(addr, ".blob.core.windows.net:443") {
			addr = blob.Listener.Addr().String()
		}
		return dial(ctx, network, addr)
	}
	hc.Transport = tr
	defer hc.CloseIdleConnections()
	c, err := ghapi.New(api.URL, secretToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Attestations(t.Context(), "octocat", "hello-world", "sha256:"+strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Err != nil || string(got[0].Bundle) != bundleJSON("4.json.sn") || string(got[1].Bundle) != bundleJSON("5.json.sn") {
		t.Fatalf("expected the two example records, got %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range example.Attestations {
		if !slices.Contains(seen, a.BundleURL) {
			t.Errorf("record %d: expected a GET of %s, got %v", i+1, a.BundleURL, seen)
		}
	}
}
