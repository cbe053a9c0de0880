package tufroot_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sgtuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/tufroot"
	"github.com/airlock-dev/airlock/internal/tufroot/tuftest"
)

var (
	rootV1 = []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","note":"v1"}`)
	rootV2 = []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","note":"v2"}`)
)

func client(t *testing.T, offline bool, cache string) tufroot.Client {
	return tufroot.Client{HTTPClient: &http.Client{Timeout: 10 * time.Second}, CacheDir: cache, Offline: offline}
}

func TestTrustedRootOnlineThenOffline(t *testing.T) {
	repo := tuftest.New(t, rootV1)
	r := tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
	cache := t.TempDir()
	ctx := context.Background()

	got, err := client(t, false, cache).TrustedRoot(ctx, r)
	if err != nil {
		t.Fatalf("online: %v", err)
	}
	if !bytes.Equal(got, rootV1) {
		t.Fatalf("online: expected %q, got %q", rootV1, got)
	}

	// A new version is picked up on the next online run.
	repo.SetTarget(t, rootV2)
	if got, err = client(t, false, cache).TrustedRoot(ctx, r); err != nil || !bytes.Equal(got, rootV2) {
		t.Fatalf("online after update: expected %q, got %q (%v)", rootV2, got, err)
	}

	// Offline reads the verified cache and never the network.
	before := repo.Requests()
	repo.Close()
	if got, err = client(t, true, cache).TrustedRoot(ctx, r); err != nil || !bytes.Equal(got, rootV2) {
		t.Fatalf("offline warm: expected %q, got %q (%v)", rootV2, got, err)
	}
	if n := repo.Requests() - before; n != 0 {
		t.Fatalf("offline: expected no requests, got %d", n)
	}
}

func TestTrustedRootFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		offline bool
		setup   func(t *testing.T, repo *tuftest.Repo) tufroot.Repository
		kind    fault.Kind
		want    []string
	}{
		{
			name: "tampered target",
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				repo.TamperTarget([]byte(`{"mediaType":"evil"}`))
				return tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
			},
			kind: fault.KindOperational, want: []string{"tuf ", "trusted_root.json"},
		},
		{
			name: "expired timestamp",
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				repo.ExpireTimestamp(t)
				return tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
			},
			kind: fault.KindOperational, want: []string{"tuf ", "expired"},
		},
		{
			name: "unreachable",
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				repo.Close()
				return tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
			},
			kind: fault.KindOperational, want: []string{"tuf "},
		},
		{
			name: "root of another repository",
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				other := tuftest.New(t, rootV1)
				return tufroot.Repository{URL: repo.URL(), Root: other.RootJSON()}
			},
			kind: fault.KindOperational, want: []string{"tuf "},
		},
		{
			name: "root file not TUF",
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				return tufroot.Repository{URL: repo.URL(), Root: []byte(`{"not":"a root"}`)}
			},
			kind: fault.KindConfig, want: []string{"root.json"},
		},
		{
			name: "offline, cold cache", offline: true,
			setup: func(t *testing.T, repo *tuftest.Repo) tufroot.Repository {
				return tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
			},
			kind: fault.KindConfig, want: []string{"offline", "cache"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := tuftest.New(t, rootV1)
			r := tc.setup(t, repo)
			before := repo.Requests()
			got, err := client(t, tc.offline, t.TempDir()).TrustedRoot(ctx, r)
			if err == nil {
				t.Fatalf("expected an error, got a root %q", got)
			}
			if k := fault.KindOf(err); k != tc.kind {
				t.Fatalf("expected kind %s, got %s: %v", tc.kind, k, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range append(tc.want, r.URL) {
				if !strings.Contains(msg, w) {
					t.Errorf("expected %q in %q", w, msg)
				}
			}
			if tc.offline {
				if !errors.Is(err, tufroot.ErrOfflineCacheMiss) {
					t.Errorf("expected ErrOfflineCacheMiss, got %v", err)
				}
				if n := repo.Requests() - before; n != 0 {
					t.Errorf("offline: expected no requests, got %d", n)
				}
			}
		})
	}
}

// After a key rotation the cache holds a later root than the anchor the
// operator gives; offline must judge the cached metadata by that root.
func TestOfflineAfterRootRotation(t *testing.T) {
	repo := tuftest.New(t, rootV1)
	r := tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
	cache := t.TempDir()
	ctx := context.Background()
	if _, err := client(t, false, cache).TrustedRoot(ctx, r); err != nil {
		t.Fatal(err)
	}
	repo.RotateTimestampKey(t)
	repo.SetTarget(t, rootV2)
	if got, err := client(t, false, cache).TrustedRoot(ctx, r); err != nil || !bytes.Equal(got, rootV2) {
		t.Fatalf("online after rotation: expected %q, got %q (%v)", rootV2, got, err)
	}
	repo.Close()
	if got, err := client(t, true, cache).TrustedRoot(ctx, r); err != nil || !bytes.Equal(got, rootV2) {
		t.Fatalf("offline after rotation: expected %q, got %q (%v)", rootV2, got, err)
	}
}

// A cached target altered on disk is not served offline: the cache is
// checked against the verified targets metadata on every read.
func TestOfflineTamperedCache(t *testing.T) {
	repo := tuftest.New(t, rootV1)
	r := tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
	cache := t.TempDir()
	if _, err := client(t, false, cache).TrustedRoot(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, tuftest.TargetName) {
			n++
			return os.WriteFile(p, []byte(`{"mediaType":"evil"}`), 0o644)
		}
		return err
	})
	if err != nil || n == 0 {
		t.Fatalf("expected a cached target to tamper with, found %d (%v)", n, err)
	}
	got, err := client(t, true, cache).TrustedRoot(context.Background(), r)
	if err == nil {
		t.Fatalf("expected an error, got %q", got)
	}
	if fault.KindOf(err) != fault.KindConfig || !errors.Is(err, tufroot.ErrOfflineCacheMiss) {
		t.Fatalf("expected an offline cache miss, got %v", err)
	}
}

func TestEmbeddedRoots(t *testing.T) {
	for _, r := range []tufroot.Repository{tufroot.PublicGood(), tufroot.GitHub()} {
		md, err := metadata.Root().FromBytes(r.Root)
		if err != nil {
			t.Fatalf("%s: %v", r.URL, err)
		}
		// A root is signed by a threshold of its own root keys: proof the
		// embedded bytes are the published ones.
		if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
			t.Fatalf("%s: root does not verify itself: %v", r.URL, err)
		}
	}
	if got := tufroot.GitHub().URL; got != "https://tuf-repo.github.com" {
		t.Fatalf("expected GitHub's TUF URL, got %q", got)
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://tuf-repo.github.com": true, "http://127.0.0.1:8080": true, "http://localhost:1": true,
		"http://tuf.example": false, "": false, "https://u:p@tuf.example": false, "tuf.example": false,
	} {
		if err := tufroot.CheckURL(raw); (err == nil) != ok {
			t.Errorf("%q: expected ok=%v, got %v", raw, ok, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	repo := tuftest.New(t, rootV1)
	r := tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()}
	for name, c := range map[string]tufroot.Client{
		"no cache":  {HTTPClient: http.DefaultClient},
		"no client": {CacheDir: t.TempDir()},
	} {
		if _, err := c.TrustedRoot(context.Background(), r); fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%s: expected a config error, got %v", name, err)
		}
	}
}

// A root.json planted in the cache (a CI cache restored from another
// branch, another user's directory) must not choose what an online run
// trusts: online, TUF walks the chain from the anchor every time.
func TestOnlineIgnoresAPlantedCachedRoot(t *testing.T) {
	ctx := context.Background()
	evil := tuftest.New(t, rootV2)
	evil.RotateTimestampKey(t) // root version 2, signed only by evil's keys
	evilCache := t.TempDir()
	if _, err := client(t, false, evilCache).TrustedRoot(ctx, tufroot.Repository{URL: evil.URL(), Root: evil.RootJSON()}); err != nil {
		t.Fatal(err)
	}
	planted, err := os.ReadFile(filepath.Join(evilCache, sgtuf.URLToPath(evil.URL()), "root.json"))
	if err != nil {
		t.Fatal(err)
	}

	repo := tuftest.New(t, rootV1)
	cache := t.TempDir()
	dir := filepath.Join(cache, sgtuf.URLToPath(repo.URL()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.json"), planted, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := client(t, false, cache).TrustedRoot(ctx, tufroot.Repository{URL: repo.URL(), Root: repo.RootJSON()})
	if err != nil || !bytes.Equal(got, rootV1) {
		t.Fatalf("online with a planted root: expected %q, got %q (%v)", rootV1, got, err)
	}
}
