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

	"github.com/airlock-dev/airlock/internal/attest"
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

// revocationDir writes n revocation bundles, each about a decision that is
// not in the batch (as in an auditor's directory of every revocation the
// organisation ever made), signed as the batch's decisions are.
func revocationDir(b *testing.B, f *fixture, n int) string {
	dir := b.TempDir()
	now := time.Now().Add(-time.Minute)
	for i := range n {
		ref := &attest.DecisionRef{
			PayloadDigest: fmt.Sprintf("sha256:%x", sha256.Sum256(fmt.Appendf(nil, "another decision %d", i))),
			Subjects:      []attest.Subject{{Name: fmt.Sprintf("other-%d.tar", i), Digest: map[string]string{"sha256": fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, "other %d", i)))}}},
		}
		st, err := attest.NewRevocationStatement(ref, attest.RevocationPredicate{
			Revoked: attest.RevokedDecision{PayloadDigest: ref.PayloadDigest, PredicateType: attest.PredicateType},
			Reason:  "superseded by a fixed build", RevokedAt: now, Revoker: attest.Revoker{Identity: f.signer.SAN},
		})
		if err != nil {
			b.Fatal(err)
		}
		bundle, err := f.ss.Attest(f.signer, st)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%05d.sigstore.json", i)), bundle, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkVerifyBatchRevocations is BenchmarkVerifyBatch with and without
// a --revocations directory of AIRLOCK_BENCH_REVOCATIONS (default 1,000)
// records, alternating in the same loop so both see the same machine; the
// target is a ratio of at most 1.10. Run with:
//
//	go test -run '^$' -bench 'VerifyBatchRevocations' -benchtime 5x -count 3 ./internal/verify/
func BenchmarkVerifyBatchRevocations(b *testing.B) {
	n := benchBundles()
	nrev := 1000
	if v, err := strconv.Atoi(os.Getenv("AIRLOCK_BENCH_REVOCATIONS")); err == nil && v > 0 {
		nrev = v
	}
	dir, arts, f := decisionBatch(b, n)
	revs := revocationDir(b, f, nrev)
	plain := f.config()
	withRevs := f.config()
	withRevs.Revocations = []string{revs}
	batch := func(cfg Config, wantRead int) time.Duration {
		start := time.Now()
		v, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := v.Verify(context.Background(), []string{dir}, arts)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Verified || len(rep.Bundles) != n || rep.RevocationsRead != wantRead {
			b.Fatalf("verified=%v, %d records, %d revocations read: %s", rep.Verified, len(rep.Bundles), rep.RevocationsRead, errorsOf(rep))
		}
		return time.Since(start)
	}
	var without, with time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always runs on a warm cache.
		if i%2 == 0 {
			without += batch(plain, 0)
			with += batch(withRevs, nrev)
		} else {
			with += batch(withRevs, nrev)
			without += batch(plain, 0)
		}
	}
	b.ReportMetric(float64(without.Microseconds())/float64(b.N)/1000, "ms/batch")
	b.ReportMetric(float64(with.Microseconds())/float64(b.N)/1000, "ms/batch+revocations")
	b.ReportMetric(float64(with)/float64(without), "ratio")
}
