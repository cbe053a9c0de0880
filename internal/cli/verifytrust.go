package cli

import (
	"bytes"
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/tufroot"
)

// tufTrust is how `airlock verify` obtains trusted roots when no
// --trusted-root file is given.
type tufTrust struct {
	URL      string // --tuf-url; empty: public-good and GitHub's instance
	RootPath string // --tuf-root
	CacheDir string // --tuf-cache; empty: the user cache directory
	Offline  bool
}

// validate rejects half a repository: a URL without the root that anchors
// trust in it would have to fall back to some other anchor.
func (t tufTrust) validate() error {
	if (t.URL == "") != (t.RootPath == "") {
		return fault.Usagef("verify: --tuf-url and --tuf-root go together (the repository and the root.json that anchors trust in it)")
	}
	if t.URL != "" {
		return tufroot.CheckURL(t.URL)
	}
	return nil
}

// trustedRoots fetches every trusted root asked for and returns them as
// JSONL (what --trusted-root accepts). Every repository must answer: a
// verifier that dropped GitHub's root because its TUF repository was down
// would report bundles as failing for the wrong reason, and one that
// substituted another root would trust what nobody chose.
func (t tufTrust) trustedRoots(ctx context.Context, stdio Stdio) ([]byte, error) {
	repos := []tufroot.Repository{tufroot.PublicGood(), tufroot.GitHub()}
	if t.URL != "" {
		root, err := readFileOrStdin(t.RootPath, stdio, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("verify: --tuf-root: %w", err)
		}
		repos = []tufroot.Repository{{URL: t.URL, Root: root}}
	}
	cache := t.CacheDir
	if cache == "" {
		var err error
		if cache, err = tufroot.DefaultCacheDir(); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	c := tufroot.Client{HTTPClient: httpClient(), CacheDir: cache, Offline: t.Offline}
	var out bytes.Buffer
	for _, r := range repos {
		b, err := c.TrustedRoot(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("verify: trusted root: %w", err)
		}
		out.Write(bytes.TrimSpace(b))
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}
