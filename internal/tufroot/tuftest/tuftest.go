// Package tuftest serves a TUF repository over loopback for tests: real
// metadata built and signed with go-tuf, holding one trusted_root.json
// target, with the faults a client must refuse (a tampered target,
// expired timestamp metadata, a repository that went away).
//
// Trust boundary: none. Its keys are generated per repository and live in
// memory; nothing it serves may be trusted outside a test.
package tuftest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TargetName is the target a Sigstore client asks for.
const TargetName = "trusted_root.json"

// Repo is a running TUF repository.
type Repo struct {
	srv *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte
	requests int
	signers  map[string]signature.Signer
	root     *metadata.Metadata[metadata.RootType]
	rootJSON []byte
	version  int64 // of targets, snapshot and timestamp
	target   []byte
}

// New starts a repository holding target as trusted_root.json.
func New(tb testing.TB, target []byte) *Repo {
	tb.Helper()
	r := &Repo{files: map[string][]byte{}, signers: map[string]signature.Signer{}}
	expires := time.Now().Add(24 * time.Hour)
	r.root = metadata.Root(expires.Add(365 * 24 * time.Hour))
	r.root.Signed.ConsistentSnapshot = true
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		s, err := signature.LoadSigner(priv, crypto.Hash(0))
		if err != nil {
			tb.Fatal(err)
		}
		r.signers[role] = s
		k, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			tb.Fatal(err)
		}
		if err := r.root.Signed.AddKey(k, role); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := r.root.Sign(r.signers[metadata.ROOT]); err != nil {
		tb.Fatal(err)
	}
	b, err := r.root.ToBytes(true)
	if err != nil {
		tb.Fatal(err)
	}
	r.rootJSON = b
	r.files["1.root.json"] = b
	if err := r.publish(target, expires, expires); err != nil {
		tb.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the repository's base URL.
func (r *Repo) URL() string { return r.srv.URL }

// RootJSON is root.json version 1: the anchor a client starts from.
func (r *Repo) RootJSON() []byte { return append([]byte(nil), r.rootJSON...) }

// Requests counts the requests served.
func (r *Repo) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Close stops serving: the repository becomes unreachable.
func (r *Repo) Close() { r.srv.Close() }

// SetTarget publishes a new version of trusted_root.json.
func (r *Repo) SetTarget(tb testing.TB, target []byte) {
	tb.Helper()
	exp := time.Now().Add(24 * time.Hour)
	if err := r.publish(target, exp, exp); err != nil {
		tb.Fatal(err)
	}
}

// RotateTimestampKey publishes the next root version, which replaces the
// timestamp key (signed by the root key, as TUF requires), and re-signs
// the timestamp with the new key. A client still judging by the first
// root can no longer verify the timestamp.
func (r *Repo) RotateTimestampKey(tb testing.TB) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		tb.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	r.mu.Lock()
	for _, id := range r.root.Signed.Roles[metadata.TIMESTAMP].KeyIDs {
		if err := r.root.Signed.RevokeKey(id, metadata.TIMESTAMP); err != nil {
			r.mu.Unlock()
			tb.Fatal(err)
		}
	}
	if err := r.root.Signed.AddKey(k, metadata.TIMESTAMP); err != nil {
		r.mu.Unlock()
		tb.Fatal(err)
	}
	r.root.Signed.Version++
	r.root.ClearSignatures()
	b, err := sign(r.root, r.signers[metadata.ROOT])
	if err != nil {
		r.mu.Unlock()
		tb.Fatal(err)
	}
	r.files[fmt.Sprintf("%d.root.json", r.root.Signed.Version)] = b
	r.signers[metadata.TIMESTAMP] = s
	target := r.target
	r.mu.Unlock()
	exp := time.Now().Add(24 * time.Hour)
	if err := r.publish(target, exp, exp); err != nil {
		tb.Fatal(err)
	}
}

// ExpireTimestamp republishes the current target under timestamp metadata
// that expired an hour ago (correctly signed).
func (r *Repo) ExpireTimestamp(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if err := r.publish(target, time.Now().Add(24*time.Hour), time.Now().Add(-time.Hour)); err != nil {
		tb.Fatal(err)
	}
}

// TamperTarget serves other bytes in place of the target the metadata
// names, at the same path.
func (r *Repo) TamperTarget(tampered []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.files {
		if strings.HasPrefix(p, "targets/") {
			r.files[p] = tampered
		}
	}
}

// publish signs targets, snapshot and timestamp metadata, one version
// later than the last, for target.
func (r *Repo) publish(target []byte, expires, tsExpires time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.version++
	v := r.version
	tf, err := metadata.TargetFile().FromBytes(TargetName, target, "sha256")
	if err != nil {
		return err
	}
	targets := metadata.Targets(expires)
	targets.Signed.Version = v
	targets.Signed.Targets[TargetName] = tf
	snapshot := metadata.Snapshot(expires)
	snapshot.Signed.Version = v
	snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(v)
	timestamp := metadata.Timestamp(tsExpires)
	timestamp.Signed.Version = v
	timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(v)

	tb, err := sign(targets, r.signers[metadata.TARGETS])
	if err != nil {
		return err
	}
	sb, err := sign(snapshot, r.signers[metadata.SNAPSHOT])
	if err != nil {
		return err
	}
	tsb, err := sign(timestamp, r.signers[metadata.TIMESTAMP])
	if err != nil {
		return err
	}
	r.files[fmt.Sprintf("%d.targets.json", v)] = tb
	r.files[fmt.Sprintf("%d.snapshot.json", v)] = sb
	r.files["timestamp.json"] = tsb
	r.files["targets/"+hex.EncodeToString(tf.Hashes["sha256"])+"."+TargetName] = append([]byte(nil), target...)
	r.target = append([]byte(nil), target...)
	return nil
}

func sign[T metadata.Roles](md *metadata.Metadata[T], s signature.Signer) ([]byte, error) {
	if _, err := md.Sign(s); err != nil {
		return nil, err
	}
	return md.ToBytes(true)
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
	r.mu.Unlock()
	if req.Method != http.MethodGet || !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
