package ghapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
)

// TestDownloadReleaseAssetRedirect: GitHub answers an asset download with a
// redirect to its storage host; the content is followed there, the token is
// not.
func TestDownloadReleaseAssetRedirect(t *testing.T) {
	var storageSawAuth bool
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageSawAuth = r.Header.Get("Authorization") != ""
		_, _ = w.Write([]byte("bundle bytes"))
	}))
	defer storage.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/octet-stream" || r.Header.Get("Authorization") != "Bearer secret-token" {
			http.Error(w, `{"message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		// 127.0.0.1 and localhost are different origins to the client.
		http.Redirect(w, r, strings.Replace(storage.URL, "127.0.0.1", "localhost", 1)+"/blob", http.StatusFound)
	}))
	defer api.Close()
	c, err := ghapi.New(api.URL, "secret-token", &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.DownloadReleaseAsset(t.Context(), "acme", "agent", 7)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "bundle bytes" {
		t.Fatalf("expected %q, got %q", "bundle bytes", data)
	}
	if storageSawAuth {
		t.Fatal("the token followed the redirect to the storage host")
	}
}

// TestAttestationsAnswers: the attestation store's answers that must not
// pass as "these are all the bundles".
func TestAttestationsAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string // "" means success
		n          int
	}{
		{"two bundles", `{"attestations":[{"bundle":{"a":1}},{"bundle":{"b":2}}]}`, 200, "", 2},
		{"none", `{"attestations":[]}`, 200, "", 0},
		{"bundle only by a url airlock does not fetch", `{"attestations":[{"bundle":null,"bundle_url":"http://example.invalid/x"}]}`, 200, "", 1}, // blob_test.go
		{"neither bundle nor url", `{"attestations":[{"bundle":null}]}`, 200, "neither a bundle nor a bundle_url", 0},
		{"no array", `{}`, 200, "expected an attestations array", 0},
		{"not json", `<html>`, 200, "decode", 0},
		{"404", `{"message":"Not Found"}`, 404, "not found", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				if r.Header.Get("Authorization") != "" {
					t.Error("anonymous client sent an Authorization header")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := ghapi.NewAnonymous(srv.URL, &http.Client{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Attestations(t.Context(), "acme", "agent", "sha256:"+strings.Repeat("0", 64))
			if gotPath != "/repos/acme/agent/attestations/sha256:"+strings.Repeat("0", 64) {
				t.Errorf("path: got %q", gotPath)
			}
			if tc.want == "" {
				if err != nil || len(got) != tc.n {
					t.Fatalf("expected %d bundles, got %d, %v", tc.n, len(got), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("expected an error with %q, got %v (%d bundles)", tc.want, err, len(got))
			}
		})
	}
}

// TestAttestationsLaterPageGone: a 404 means "none" only on the first page.
// A later page that vanishes leaves the list incomplete: an operational
// error, never "no attestations" (which would drop the records already read).
func TestAttestationsLaterPageGone(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Not Found"}`))
			return
		}
		w.Header().Set("Link", "<"+srv.URL+r.URL.Path+"?per_page=100&page=2>; rel=\"next\"")
		_, _ = w.Write([]byte(`{"attestations":[{"bundle":{"a":1}}]}`))
	}))
	defer srv.Close()
	c, err := ghapi.NewAnonymous(srv.URL, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Attestations(t.Context(), "acme", "agent", "sha256:"+strings.Repeat("0", 64))
	checkErr(t, err, fault.KindOperational, "page 2")
	if ghapi.IsNotFound(err) {
		t.Fatalf("a vanished page 2 reads as no attestations: %v", err)
	}
}
