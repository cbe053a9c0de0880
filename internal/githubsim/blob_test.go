package githubsim_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/airlock-dev/airlock/internal/githubsim"
)

// TestAttestationBlobs: the attestation store lists a record by bundle_url
// only when asked to, and the URL serves the bundle Snappy-compressed to
// whoever holds the signed query, with no token, until it expires.
func TestAttestationBlobs(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newSim(t, githubsim.WithClock(clock))
	s.SetRepository(githubsim.Repository{Owner: "acme", Name: "agent", Visibility: "public"})
	digest := strings.Repeat("ab", 32)
	bundle := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"` +
		b64(`{"subject":[{"digest":{"sha256":"`+digest+`"}}]}`) + `"}}`)
	inline := s.AddAttestation("acme", "agent", githubsim.Attestation{Bundle: bundle})
	byURL := s.AddAttestation("acme", "agent", githubsim.Attestation{Bundle: bundle, ByURL: true})
	if inline != 1 || byURL != 2 {
		t.Fatalf("ids: got %d, %d", inline, byURL)
	}

	type record struct {
		Bundle    json.RawMessage `json:"bundle"`
		BundleURL string          `json:"bundle_url"`
	}
	list := func() []record {
		t.Helper()
		r := get(t, s.APIURL()+"/repos/acme/agent/attestations/sha256:"+digest, "")
		if r.status != http.StatusOK {
			t.Fatalf("list: HTTP %d %s", r.status, r.body)
		}
		return decode[struct{ Attestations []record }](t, r.body).Attestations
	}
	recs := list()
	if len(recs) != 2 || recs[0].Bundle == nil || recs[1].Bundle != nil || recs[0].BundleURL == "" || recs[1].BundleURL == "" {
		t.Fatalf("expected one inline record and one by URL, got %+v", recs)
	}
	s.SetAttestationsByURL("acme", "agent", true)
	if recs := list(); recs[0].Bundle != nil || recs[1].Bundle != nil {
		t.Fatalf("SetAttestationsByURL: expected no inline bundle, got %+v", recs)
	}
	s.SetAttestationsByURL("acme", "agent", false)
	recs = list()
	if recs[0].Bundle == nil || recs[1].Bundle != nil {
		t.Fatalf("after switching back: %+v", recs)
	}

	blobURL := recs[1].BundleURL
	u, err := url.Parse(blobURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(u.Path, "/2.json.sn") || u.Query().Get("sig") == "" || u.Query().Get("se") == "" {
		t.Fatalf("bundle_url %q: expected …/2.json.sn with se and sig", blobURL)
	}
	r := get(t, blobURL, "")
	if r.status != http.StatusOK {
		t.Fatalf("blob: HTTP %d %s", r.status, r.body)
	}
	got, err := s2.Decode(nil, r.body)
	if err != nil || !bytes.Equal(got, bundle) {
		t.Fatalf("blob does not decode to the bundle: %v, %q", err, got)
	}

	other := strings.Replace(blobURL, "/2.json.sn", "/1.json.sn", 1)
	noSig := strings.Replace(blobURL, "sig=", "sog=", 1)
	for _, tc := range []struct {
		name, url string
		fault     *githubsim.Fault
		status    int
		code      string
	}{
		{"signature of another blob", other, nil, 403, "AuthenticationFailed"},
		{"no signature", noSig, nil, 403, "AuthenticationFailed"},
		{"unknown blob", strings.Replace(blobURL, "/2.json.sn", "/9.json.sn", 1), nil, 403, "AuthenticationFailed"},
		{"expired by fault", blobURL, &githubsim.Fault{Status: 403, Times: 1}, 403, ""},
		{"corrupt by fault", blobURL, &githubsim.Fault{Body: []byte("not snappy"), Times: 1}, 200, ""},
		{"outage by fault", blobURL, &githubsim.Fault{Status: 503, Times: 1}, 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				s.InjectFault(githubsim.RouteAttestationBlob, *tc.fault)
			}
			r := get(t, tc.url, "")
			if r.status != tc.status || r.header.Get("X-Ms-Error-Code") != tc.code {
				t.Fatalf("expected HTTP %d %q, got %d %q %s", tc.status, tc.code, r.status, r.header.Get("X-Ms-Error-Code"), r.body)
			}
			if tc.status == 200 {
				if _, err := s2.Decode(nil, r.body); err == nil {
					t.Fatal("the corrupt blob decodes")
				}
			}
		})
	}

	// Past "se" the signature no longer opens the blob.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if r := get(t, blobURL, ""); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "expiry") {
		t.Fatalf("expired URL: expected 403 about the expiry, got %d %s", r.status, r.body)
	}

	// The log records whether a blob request carried a token (clients must
	// not send one; this one does on purpose).
	var blobReqs, withAuth int
	get(t, list()[1].BundleURL, "Bearer "+s.JobToken())
	for _, q := range s.Requests() {
		if q.Route == githubsim.RouteAttestationBlob {
			blobReqs++
			if q.HasAuth {
				withAuth++
			}
		}
	}
	if blobReqs != 9 || withAuth != 1 {
		t.Fatalf("request log: expected 9 blob requests, 1 with Authorization, got %d, %d", blobReqs, withAuth)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
