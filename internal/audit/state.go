package audit

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/fsx"
	"github.com/airlock-dev/airlock/internal/ghapi"
)

// State is what one audit keeps for the next (--state DIR): GitHub's
// answers with their ETags, so that a second run's unchanged lists are 304s
// (which cost no rate limit), and release bundles by digest. A run that
// stopped (rate limit, deadline) resumes from it: what it already read is
// not paid for again. The directory holds nothing secret: no token, only
// what GitHub answered.
type State struct {
	dir string

	mu      sync.Mutex
	entries map[string]*ghapi.Entry
	dirty   bool

	notModified atomic.Int64
}

const etagFile = "etags.json"

// OpenState reads dir's state, creating dir if it does not exist.
func OpenState(dir string) (*State, error) {
	s := &State{dir: dir, entries: map[string]*ghapi.Entry{}}
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		return nil, fault.Configf("--state %s: %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, etagFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fault.Configf("--state %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &s.entries); err != nil {
		return nil, fault.Configf("--state %s: %s: %v (delete the directory to start afresh)", dir, etagFile, err)
	}
	return s, nil
}

// Lookup implements ghapi.Cache.
func (s *State) Lookup(url string) (*ghapi.Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[url]
	return e, ok
}

// Store implements ghapi.Cache.
func (s *State) Store(url string, e *ghapi.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[url] = e
	s.dirty = true
}

// NotModified implements ghapi.Cache.
func (s *State) NotModified() { s.notModified.Add(1) }

// NotModifiedCount is how many answers were 304s.
func (s *State) NotModifiedCount() int64 { return s.notModified.Load() }

func blobName(digest string) (string, bool) {
	hx, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hx) != 64 || strings.Trim(hx, "0123456789abcdef") != "" {
		return "", false
	}
	return "sha256-" + hx, true
}

// Get implements BlobStore.
func (s *State) Get(digest string) ([]byte, bool) {
	name, ok := blobName(digest)
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "blobs", name))
	return b, err == nil
}

// Put implements BlobStore. A blob that cannot be written is only a cache
// miss next time.
func (s *State) Put(digest string, data []byte) {
	if name, ok := blobName(digest); ok {
		_ = fsx.WriteAtomic(filepath.Join(s.dir, "blobs", name), data, 0o600)
	}
}

// Save writes the ETag cache.
func (s *State) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil
	}
	b, err := json.Marshal(s.entries)
	if err != nil {
		return fault.Operationalf("--state %s: encode: %w", s.dir, err)
	}
	if err := fsx.WriteAtomic(filepath.Join(s.dir, etagFile), b, 0o600); err != nil {
		return fault.Operationalf("--state %s: %w", s.dir, err)
	}
	s.dirty = false
	return nil
}
