package ghapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/githubsim"
)

const assetRoute = "GET /repos/{owner}/{repo}/releases/assets/{asset_id}"

// TestStreamReleaseAsset: the content arrives whole through the writer;
// GitHub's transient failures before the first byte are retried like any
// other call's, its final answers are not.
func TestStreamReleaseAsset(t *testing.T) {
	content := bytes.Repeat([]byte("agent-bytes;"), 50_000) // several reads' worth
	for _, tc := range []struct {
		name     string
		faults   []githubsim.Fault
		max      int64
		requests int
		words    []string // nil: success; else an operational error naming them
	}{
		{name: "whole content", max: ghapi.MaxStreamedAssetBytes, requests: 1},
		{name: "exactly at the cap", max: int64(len(content)), requests: 1},
		{name: "500 then success", faults: []githubsim.Fault{{Status: 500, Times: 1}}, max: ghapi.MaxStreamedAssetBytes, requests: 2},
		{name: "500 forever", faults: []githubsim.Fault{{Status: 500}}, max: ghapi.MaxStreamedAssetBytes, requests: 3,
			words: []string{"HTTP 500", "3 attempts", "release asset"}},
		{name: "403 is final", faults: []githubsim.Fault{{Status: 403}}, max: ghapi.MaxStreamedAssetBytes, requests: 1,
			words: []string{"contents: read"}},
		{name: "over the cap", max: int64(len(content)) - 1, requests: 1,
			words: []string{"exceeds " + strconv.Itoa(len(content)-1) + " bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			id := f.sim.AddRelease("octo", "repo", githubsim.Release{Tag: "v1"})
			a := f.sim.AddReleaseAsset("octo", "repo", id, githubsim.Asset{Name: "agent.tar.gz", Data: content})
			for _, fl := range tc.faults {
				f.sim.InjectFault(assetRoute, fl)
			}
			h := sha256.New()
			n, err := f.client.StreamReleaseAsset(t.Context(), "octo", "repo", a.ID, h, tc.max)
			if tc.words == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := sha256.Sum256(content); n != int64(len(content)) || !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatalf("expected %d bytes hashing to %x, got %d bytes hashing to %x", len(content), want, n, h.Sum(nil))
				}
			} else {
				checkErr(t, err, fault.KindOperational, tc.words...)
			}
			// The simulator logs a request when its answer ends, and a
			// client that stops at the cap may return first: wait (bounded)
			// for the log, then compare.
			got := f.count(assetRoute)
			for deadline := time.Now().Add(5 * time.Second); got < tc.requests && time.Now().Before(deadline); got = f.count(assetRoute) {
				time.Sleep(10 * time.Millisecond)
			}
			if got != tc.requests {
				t.Errorf("requests: expected %d, got %d", tc.requests, got)
			}
		})
	}

	t.Run("missing asset is typed", func(t *testing.T) {
		f := setup(t)
		_, err := f.client.StreamReleaseAsset(t.Context(), "octo", "repo", 12345, &bytes.Buffer{}, 1<<20)
		if !ghapi.IsNotFound(err) {
			t.Fatalf("expected a *NotFoundError, got %v", err)
		}
	})
	t.Run("no cap is a usage error", func(t *testing.T) {
		f := setup(t)
		_, err := f.client.StreamReleaseAsset(t.Context(), "octo", "repo", 1, &bytes.Buffer{}, 0)
		checkErr(t, err, fault.KindUsage, "max bytes")
	})
}

// TestStreamReleaseAssetTransfer covers what only a real transfer shows:
// the token stays behind at the storage host, a body cut short after bytes
// reached the writer is not retried (they cannot be taken back), and the
// client's timeout bounds stalls, not slow but steady transfers.
func TestStreamReleaseAssetTransfer(t *testing.T) {
	type storage func(w http.ResponseWriter, r *http.Request)
	serve := func(t *testing.T, timeout time.Duration, h storage) (*ghapi.Client, *atomic.Int32, *atomic.Bool) {
		t.Helper()
		var hits atomic.Int32
		var sawAuth atomic.Bool
		store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			sawAuth.Store(sawAuth.Load() || r.Header.Get("Authorization") != "")
			h(w, r)
		}))
		t.Cleanup(store.Close)
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") != "application/octet-stream" || r.Header.Get("Authorization") != "Bearer "+secretToken {
				http.Error(w, `{"message":"unexpected request"}`, http.StatusBadRequest)
				return
			}
			// 127.0.0.1 and localhost are different origins to the client.
			http.Redirect(w, r, strings.Replace(store.URL, "127.0.0.1", "localhost", 1)+"/blob", http.StatusFound)
		}))
		t.Cleanup(api.Close)
		c, err := ghapi.New(api.URL, secretToken, &http.Client{Timeout: timeout}, ghapi.WithSleep((&sleeps{}).sleep))
		if err != nil {
			t.Fatal(err)
		}
		return c, &hits, &sawAuth
	}

	t.Run("redirect to storage without the token", func(t *testing.T) {
		c, _, sawAuth := serve(t, 10*time.Second, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("asset bytes")) })
		var got bytes.Buffer
		if _, err := c.StreamReleaseAsset(t.Context(), "acme", "agent", 7, &got, 1<<20); err != nil {
			t.Fatal(err)
		}
		if got.String() != "asset bytes" {
			t.Fatalf("expected %q, got %q", "asset bytes", got.String())
		}
		if sawAuth.Load() {
			t.Fatal("the token followed the redirect to the storage host")
		}
	})

	t.Run("cut short after some bytes", func(t *testing.T) {
		c, hits, _ := serve(t, 10*time.Second, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte("only part"))
		})
		var got bytes.Buffer
		n, err := c.StreamReleaseAsset(t.Context(), "acme", "agent", 7, &got, 1<<20)
		checkErr(t, err, fault.KindOperational, "after 9 bytes")
		if n != 9 || hits.Load() != 1 {
			t.Fatalf("expected one attempt that wrote 9 bytes, got %d attempt(s) and %d bytes", hits.Load(), n)
		}
	})

	t.Run("stalled transfer ends", func(t *testing.T) {
		c, hits, _ := serve(t, 300*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("start"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		_, err := c.StreamReleaseAsset(t.Context(), "acme", "agent", 7, &bytes.Buffer{}, 1<<20)
		checkErr(t, err, fault.KindOperational, "no data within", "after 5 bytes")
		if hits.Load() != 1 {
			t.Fatalf("expected no retry after bytes were written, got %d attempts", hits.Load())
		}
	})

	t.Run("steady transfer outlasts the timeout", func(t *testing.T) {
		const chunks = 24
		c, _, _ := serve(t, time.Second, func(w http.ResponseWriter, _ *http.Request) {
			for range chunks {
				_, _ = w.Write([]byte("0123456789"))
				w.(http.Flusher).Flush()
				time.Sleep(60 * time.Millisecond) // chunks*60ms is past the 1s timeout
			}
		})
		var got bytes.Buffer
		if _, err := c.StreamReleaseAsset(t.Context(), "acme", "agent", 7, &got, 1<<20); err != nil {
			t.Fatal(err)
		}
		if got.Len() != chunks*10 {
			t.Fatalf("expected %d bytes, got %d", chunks*10, got.Len())
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		c, _, _ := serve(t, 10*time.Second, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("start"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.StreamReleaseAsset(ctx, "acme", "agent", 7, &bytes.Buffer{}, 1<<20)
		checkErr(t, err, fault.KindOperational, "context canceled")
	})
}

// TestDownloadErrorsHideTheStorageURL: GitHub redirects asset downloads to a
// signed storage URL whose query is a credential. When the storage step
// fails (unreachable, or a redirect airlock refuses) net/http's error quotes
// that URL; no error of ours may.
func TestDownloadErrorsHideTheStorageURL(t *testing.T) {
	const sas = "sig=SECRETsasSIGNATURE"
	for _, tc := range []struct {
		name, location, kind string
	}{
		{"storage unreachable", "http://127.0.0.1:1/asset?" + sas, "connect"},
		{"redirect refused", "http://storage.example.com/asset?" + sas, "refusing the redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.location, http.StatusFound)
			}))
			t.Cleanup(api.Close)
			c, err := ghapi.New(api.URL, secretToken, &http.Client{Timeout: 5 * time.Second}, ghapi.WithSleep((&sleeps{}).sleep))
			if err != nil {
				t.Fatal(err)
			}
			_, derr := c.DownloadReleaseAsset(t.Context(), "acme", "agent", 1)
			_, serr := c.StreamReleaseAsset(t.Context(), "acme", "agent", 1, &bytes.Buffer{}, 1<<20)
			for name, err := range map[string]error{"DownloadReleaseAsset": derr, "StreamReleaseAsset": serr} {
				checkErr(t, err, fault.KindOperational, tc.kind)
				if strings.Contains(err.Error(), "SECRETsas") || strings.Contains(err.Error(), secretToken) {
					t.Errorf("%s: error carries a credential: %v", name, err)
				}
			}
		})
	}
}
