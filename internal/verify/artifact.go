package verify

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Artifact is what a bundle must be about: a file (all supported digests are
// computed once, however many bundles name it) or a digest given by the user.
type Artifact struct {
	// Name is how reports refer to it: the path, or ALG:HEX.
	Name string
	// Path is set for a file; message signatures are verified against its
	// bytes (an Ed25519 signature cannot be checked against a digest).
	Path string
	// Digests maps an algorithm (sha256, sha384, sha512) to raw bytes.
	Digests map[string][]byte
	// Failure says why the artifact cannot be verified (its digest could
	// not be learned, e.g. GitHub reported a malformed one). Such an
	// artifact fails whatever the bundles say: it is reported, not dropped.
	Failure string
}

// gitCommit is the in-toto name of a commit digest: what airlock's decision
// names as its subject when no release asset matched (SHA-1 or SHA-256
// object ids).
const gitCommit = "gitCommit"

var digestSizes = map[string]int{"sha256": sha256.Size, "sha384": sha512.Size384, "sha512": sha512.Size}

// sizeOK reports whether raw has the length of an alg digest.
func sizeOK(alg string, raw []byte) bool {
	if alg == gitCommit {
		return len(raw) == 20 || len(raw) == 32
	}
	return len(raw) == digestSizes[alg]
}

// ParseDigest reads ALG:HEX for sha256, sha384, sha512 or gitCommit.
func ParseDigest(s string) (Artifact, error) {
	alg, hx, ok := strings.Cut(s, ":")
	alg = normalizeAlg(alg)
	if !ok || alg == "" {
		return Artifact{}, fault.Usagef("digest %q: expected sha256:HEX, sha384:HEX, sha512:HEX or gitCommit:HEX", s)
	}
	raw, err := hex.DecodeString(hx)
	if err != nil || !sizeOK(alg, raw) {
		return Artifact{}, fault.Usagef("digest %q: not a %s digest in hex", s, alg)
	}
	return Artifact{Name: alg + ":" + strings.ToLower(hx), Digests: map[string][]byte{alg: raw}}, nil
}

// ArtifactFromFile hashes a file once with every supported algorithm.
func ArtifactFromFile(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, fault.Usagef("artifact: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Artifact{}, fault.Configf("artifact %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Artifact{}, fault.Usagef("artifact %s: not a regular file", path)
	}
	h256, h384, h512 := sha256.New(), sha512.New384(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h384, h512), f); err != nil {
		return Artifact{}, fault.Configf("artifact %s: read: %w", path, err)
	}
	return Artifact{Name: path, Path: path, Digests: map[string][]byte{
		"sha256": h256.Sum(nil), "sha384": h384.Sum(nil), "sha512": h512.Sum(nil),
	}}, nil
}

// String is the artifact's strongest digest, ALG:HEX.
func (a Artifact) String() string {
	for _, alg := range []string{"sha256", "sha512", "sha384", gitCommit} {
		if d, ok := a.Digests[alg]; ok {
			return alg + ":" + hex.EncodeToString(d)
		}
	}
	return a.Name
}

// digestIndex finds artifacts by digest in O(1), so that one run can verify
// thousands of bundles against thousands of artifacts.
type digestIndex map[string][]int

func indexKey(alg string, digest []byte) string { return alg + ":" + string(digest) }

func newDigestIndex(arts []Artifact) digestIndex {
	ix := digestIndex{}
	for i, a := range arts {
		for alg, d := range a.Digests {
			k := indexKey(alg, d)
			ix[k] = append(ix[k], i)
		}
	}
	return ix
}

// normalizeAlg maps the names found in in-toto subjects ("sha256",
// "gitCommit") and in message signatures ("SHA2_256") to one spelling;
// unknown names map to "".
func normalizeAlg(alg string) string {
	switch strings.ToUpper(alg) {
	case "SHA256", "SHA2_256":
		return "sha256"
	case "SHA384", "SHA2_384":
		return "sha384"
	case "SHA512", "SHA2_512":
		return "sha512"
	case "GITCOMMIT":
		return gitCommit
	}
	return ""
}

// lookup returns the artifacts whose digest under alg equals hexDigest.
func (ix digestIndex) lookup(alg, hexDigest string) []int {
	alg = normalizeAlg(alg)
	if alg == "" {
		return nil
	}
	raw, err := hex.DecodeString(hexDigest)
	if err != nil || !sizeOK(alg, raw) {
		return nil
	}
	return ix[indexKey(alg, raw)]
}

func describeDigest(alg string, raw []byte) string {
	if n := normalizeAlg(alg); n != "" {
		alg = n
	}
	return fmt.Sprintf("%s:%s", alg, hex.EncodeToString(raw))
}
