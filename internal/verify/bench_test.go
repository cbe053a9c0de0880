//go:build unix

package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// benchBundles is how many decision bundles one run verifies
// (AIRLOCK_BENCH_BUNDLES overrides it; the target is 1,000).
func benchBundles() int {
	if n, err := strconv.Atoi(os.Getenv("AIRLOCK_BENCH_BUNDLES")); err == nil && n > 0 {
		return n
	}
	return 1000
}

var (
	batchOnce sync.Once
	batchDir  string
	batchArts []Artifact
	batchErr  error
)

// decisionBatch writes N decision bundles, each about its own artifact and
// signed with its own key and certificate, as the gate would produce them
// (DSSE, Fulcio-style leaf, one RFC 3161 timestamp; GitHub-instance shape).
func decisionBatch(b *testing.B, n int) (string, []Artifact, *fixture) {
	f := newFixture(b)
	batchOnce.Do(func() {
		batchDir, batchErr = os.MkdirTemp("", "verify-bench")
		if batchErr != nil {
			return
		}
		pred := decision("allow", time.Now().Add(-time.Minute), allowUntil)
		for i := range n {
			content := fmt.Appendf(nil, "agent build %d\n", i)
			st, err := verifytest.Statement(DecisionPredicateType, pred, verifytest.Subject(fmt.Sprintf("agent-%d.tar", i), content))
			if err != nil {
				batchErr = err
				return
			}
			bundle, err := f.ss.Attest(f.signer, st)
			if err != nil {
				batchErr = err
				return
			}
			if batchErr = os.WriteFile(filepath.Join(batchDir, fmt.Sprintf("d%05d.sigstore.json", i)), bundle, 0o600); batchErr != nil {
				return
			}
			d := sha256.Sum256(content)
			a, err := ParseDigest(fmt.Sprintf("sha256:%x", d))
			if err != nil {
				batchErr = err
				return
			}
			batchArts = append(batchArts, a)
		}
	})
	if batchErr != nil {
		b.Fatal(batchErr)
	}
	return batchDir, batchArts, f
}

// BenchmarkVerifyBatch is one `airlock verify` run minus process start:
// parse the trusted root, compile the policy, then read and verify N decision
// bundles (bounded workers, GOMAXPROCS) against N artifact digests. Run with:
//
//	go test -run '^$' -bench 'VerifyBatch|ECDSAP256Verify' ./internal/verify/
func BenchmarkVerifyBatch(b *testing.B) {
	n := benchBundles()
	dir, arts, f := decisionBatch(b, n)
	cfg := f.config()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	for b.Loop() {
		v, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := v.Verify(context.Background(), []string{dir}, arts)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Verified || len(rep.Bundles) != n {
			b.Fatalf("verified=%v, %d records: %s", rep.Verified, len(rep.Bundles), errorsOf(rep))
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "bundles/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(n*b.N), "cpu-µs/bundle")
}

// cpuTime is the process's user+system CPU time: on a machine shared with
// other work, CPU per item is the number that does not depend on the
// neighbours, and wall-clock rates can be compared against it.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkECDSAP256Verify is the crypto bound's unit: Go's ECDSA P-256
// signature verifications per second on all cores (the same parallelism the
// batch uses). A decision bundle of the benchmark's shape needs 5 of them:
// the DSSE signature, the leaf and intermediate certificates, the timestamp's
// signature and the TSA certificate.
func BenchmarkECDSAP256Verify(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("DSSEv1 28 application/vnd.in-toto+json 512 {...}"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	var ops int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		var local int64
		for pb.Next() {
			if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
				b.Error("signature did not verify")
			}
			local++
		}
		mu.Lock()
		ops += local
		mu.Unlock()
	})
	b.ReportMetric(float64(ops)/time.Since(start).Seconds(), "verifies/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(ops), "cpu-µs/verify")
}
