// Package tufroot obtains a Sigstore trusted root (the trusted_root.json
// target) from a TUF repository with sigstore-go's TUF client, and caches
// the verified metadata on disk.
//
// Trust boundary: everything fetched over the network is untrusted until
// the TUF client has verified it against the root anchor (the embedded
// public-good or GitHub root, or a root.json the operator named); only a
// target whose length and hashes match verified targets metadata is
// returned. The cache directory is trusted like the binary: it holds only
// metadata the client already verified. A repository that cannot be
// reached or does not verify is an error naming TUF and the URL; nothing
// here ever falls back to another source of trust.
package tufroot

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	sgtuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/airlock-dev/airlock/internal/endpoint"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// Target is the TUF target holding a Sigstore trusted root.
const Target = "trusted_root.json"

// Repository URLs of the two Sigstore instances GitHub Actions signs with.
const (
	PublicGoodURL = sgtuf.DefaultMirror
	GitHubURL     = "https://tuf-repo.github.com"
)

// githubRoot is root.json (version 3) of GitHub's TUF repository, as the
// GitHub CLI ships it (see embed/README.md for its source and licence).
// sigstore-go embeds only the public-good root.
//
//go:embed embed/tuf-repo.github.com/root.json
var githubRoot []byte

// Repository is a TUF repository and the root.json that anchors trust in it.
type Repository struct {
	URL  string
	Root []byte
}

// PublicGood is the public-good Sigstore TUF repository with the root
// embedded in sigstore-go.
func PublicGood() Repository { return Repository{URL: PublicGoodURL, Root: sgtuf.DefaultRoot()} }

// GitHub is the TUF repository of GitHub's Sigstore instance (private
// repositories' attestations).
func GitHub() Repository {
	return Repository{URL: GitHubURL, Root: append([]byte(nil), githubRoot...)}
}

// DefaultCacheDir is where verified metadata is cached: the user cache
// directory, so that a later --offline run can use it.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fault.Configf("tuf cache: %w", err)
	}
	return filepath.Join(dir, "airlock", "tuf"), nil
}

// Client fetches trusted roots through TUF.
type Client struct {
	// HTTPClient carries every request; required unless Offline.
	HTTPClient *http.Client
	// CacheDir holds verified metadata and targets, one folder per
	// repository.
	CacheDir string
	// Offline uses only the cache and never the network: a cache that
	// holds no valid metadata is a configuration error, not a fetch.
	Offline bool
	// Retries bounds attempts per file on transient failures (0 or more
	// than httpx.MaxAttempts: httpx.MaxAttempts).
	Retries int
}

// ErrOfflineCacheMiss is wrapped by errors of an Offline client whose
// cache cannot answer.
var ErrOfflineCacheMiss = errors.New("not in the TUF cache and --offline forbids the network")

// maxRetryWait bounds one wait between attempts (Retry-After included).
const maxRetryWait = 5 * time.Second

// TrustedRoot returns the verified trusted_root.json of repo. Network
// failures and metadata that does not verify are operational errors
// (exit 3) naming TUF and the URL; a root.json that does not parse or an
// offline cache miss is a configuration error (exit 2).
func (c Client) TrustedRoot(ctx context.Context, repo Repository) ([]byte, error) {
	url := strings.TrimSuffix(repo.URL, "/")
	if err := CheckURL(url); err != nil {
		return nil, err
	}
	anchor, err := metadata.Root().FromBytes(repo.Root)
	if err != nil {
		return nil, fault.Configf("tuf %s: root.json: %w", url, err)
	}
	if c.CacheDir == "" {
		return nil, fault.Configf("tuf %s: no cache directory", url)
	}
	if !c.Offline && c.HTTPClient == nil {
		return nil, fault.Configf("tuf %s: no HTTP client", url)
	}
	f := &httpFetcher{ctx: ctx, client: httpx.Harden(c.HTTPClient, httpx.SameOrigin), offline: c.Offline, retries: c.Retries}
	opts := sgtuf.DefaultOptions()
	opts.RepositoryBaseURL = url
	opts.CachePath = c.CacheDir
	// Online, TUF walks the root chain from the anchor every time, so a
	// cache someone else could write (a CI cache restored from another
	// branch) cannot choose the root. Offline there is no chain to walk,
	// and the newest cached root stands in for it.
	opts.Root = repo.Root
	if c.Offline {
		opts.Root = newerCachedRoot(c.CacheDir, url, anchor, repo.Root)
	}
	opts.Fetcher = f
	opts.CacheValidity = sgtuf.NoCache
	// Online, TUF refreshes every time so a revoked key is seen at once;
	// offline, the verified cache is used as long as it has not expired.
	opts.ForceCache = c.Offline
	opts.Context = ctx

	classify := func(op string, err error) error {
		if f.refused || errors.Is(err, ErrOfflineCacheMiss) {
			return fault.Configf("tuf %s: %s: the cache in %s holds no unexpired metadata for it (run once online, or give --trusted-root): %w", url, op, c.CacheDir, err)
		}
		if ctx.Err() != nil {
			return fault.Operationalf("tuf %s: %s: %w", url, op, ctx.Err())
		}
		return fault.Operationalf("tuf %s: %s: %w", url, op, err)
	}
	client, err := sgtuf.New(opts)
	if err != nil {
		return nil, classify("update metadata", err)
	}
	b, err := client.GetTarget(Target)
	if err != nil {
		return nil, classify("get "+Target, err)
	}
	return b, nil
}

// CheckURL accepts an absolute https URL, or plain http on loopback (a
// test repository): metadata is signed, but a repository reached in clear
// text can still withhold updates from whoever sits on the path.
func CheckURL(raw string) error {
	u, err := neturl.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fault.Configf("tuf url %q: expected an absolute URL without credentials, query or fragment", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && endpoint.IsLoopback(u.Hostname()) {
		return nil
	}
	return fault.Configf("tuf url %q: expected https (plain http only on loopback)", u.Redacted())
}

// newerCachedRoot returns the cached root.json of url when it is a later
// version than the anchor and signed by a threshold of its own keys.
// sigstore-go writes the anchor it is given over the cached root before
// reading the cache, so without this an offline run after a root
// rotation would judge current metadata by retired keys. The cached root
// was written by the TUF client only after it chained from an anchor.
func newerCachedRoot(cacheDir, url string, anchor *metadata.Metadata[metadata.RootType], anchorJSON []byte) []byte {
	p := filepath.Join(cacheDir, sgtuf.URLToPath(url), "root.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return anchorJSON
	}
	cached, err := metadata.Root().FromBytes(b)
	if err != nil || cached.Signed.Version <= anchor.Signed.Version {
		return anchorJSON
	}
	if err := cached.VerifyDelegate(metadata.ROOT, cached); err != nil {
		return anchorJSON
	}
	return b
}

// httpFetcher is go-tuf's Fetcher on the injected client: bounded bodies,
// the caller's context, bounded retries of transient failures, and no
// network at all when offline.
type httpFetcher struct {
	ctx     context.Context
	client  *http.Client
	offline bool
	retries int
	// refused records that the offline fetcher was asked for a file,
	// whatever go-tuf makes of the error it got.
	refused bool
}

var _ fetcher.Fetcher = (*httpFetcher)(nil)

func (f *httpFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	if f.offline {
		f.refused = true
		return nil, fmt.Errorf("fetch %s: %w", url, ErrOfflineCacheMiss)
	}
	var b []byte
	err := httpx.Retry{Attempts: f.retries, MaxWait: maxRetryWait}.Do(f.ctx, func(ctx context.Context, _ int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		b, wait, err = f.once(ctx, url, maxLength)
		return wait, err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// once makes one request and says whether to try again.
func (f *httpFetcher) once(ctx context.Context, url string, maxLength int64) ([]byte, httpx.Wait, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, httpx.Final, fmt.Errorf("fetch %s: %w", url, httpx.StripURL(err))
	}
	resp, err := httpx.Do(f.client, req)
	if err != nil {
		return nil, httpx.ForError(ctx, true, err), fmt.Errorf("fetch %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		httpx.Discard(resp.Body)
		// go-tuf reads a 404 or 403 on the next root version as "no newer
		// root": keep its error type.
		herr := &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
		return nil, httpx.ForStatus(true, resp.StatusCode, resp.Header, time.Now()), herr
	}
	defer resp.Body.Close()
	b, err := httpx.ReadBody(resp.Body, maxLength)
	var tooLarge *httpx.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, httpx.Final, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("fetch %s: longer than %d bytes", url, maxLength)}
	case err != nil:
		return nil, httpx.ForError(ctx, true, err), fmt.Errorf("fetch %s: %w", url, err)
	}
	return b, httpx.Final, nil
}
