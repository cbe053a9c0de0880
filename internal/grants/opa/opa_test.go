package opa

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/grants"
	"github.com/airlock-dev/airlock/internal/testsvc"
)

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opaAnswer asks the real OPA the module's response document, and then
// /allow, which must agree with it. The two are separate evaluations, each
// with its own time.now_ns(): if notAfter passed between them they may
// rightly differ, and only then is a disagreement not a failure.
func opaAnswer(t *testing.T, o *testsvc.OPA, input any, notAfter time.Time) grants.Answer {
	t.Helper()
	asked := time.Now()
	doc, ok := o.Query(t, "airlock/grants/response", input).(map[string]any)
	if !ok {
		t.Fatalf("response is not an object")
	}
	a := grants.Answer{Reasons: []string{}}
	a.Allow, ok = doc["allow"].(bool)
	if !ok {
		t.Fatalf("response.allow is %T", doc["allow"])
	}
	for _, r := range doc["reasons"].([]any) {
		a.Reasons = append(a.Reasons, r.(string))
	}
	// /allow is what a gateway asks; it must agree with the response.
	allow, ok := o.Query(t, "airlock/grants/allow", input).(bool)
	if !ok {
		t.Fatalf("allow is not a boolean")
	}
	straddled := asked.Before(notAfter) && !time.Now().Before(notAfter)
	if allow != a.Allow && !(straddled && a.Allow && !allow) {
		t.Fatalf("allow %v but response.allow %v", allow, a.Allow)
	}
	return a
}

func TestRealOPAAnswersCalls(t *testing.T) {
	d := testDecision()
	d.NotAfter = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tarball, err := Build(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := testsvc.StartOPA(t, writeFile(t, "grants.tar.gz", tarball))
	for _, tc := range callCases {
		t.Run(tc.name, func(t *testing.T) {
			checkAnswer(t, opaAnswer(t, o, tc.input, d.NotAfter), tc.allow, tc.reason)
		})
	}
	if rev := o.Query(t, "system/bundles", nil); rev != nil {
		t.Logf("bundles: %v", rev)
	}
}

// The decision's notAfter passes while OPA serves it: a call allowed before
// is denied after, without a reload.
func TestRealOPADeniesAfterNotAfter(t *testing.T) {
	d := testDecision()
	d.NotAfter = time.Now().Add(3 * time.Second).UTC().Truncate(time.Second)
	tarball, err := Build(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := testsvc.StartOPA(t, writeFile(t, "grants.tar.gz", tarball))
	call := grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}
	if time.Now().Before(d.NotAfter) {
		if a := opaAnswer(t, o, call, d.NotAfter); !a.Allow && time.Now().Before(d.NotAfter) {
			t.Fatalf("denied before notAfter: %q", a.Reasons)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := opaAnswer(t, o, call, d.NotAfter)
		if !a.Allow {
			checkAnswer(t, a, false, "the airlock decision expired at "+d.NotAfter.Format(time.RFC3339))
			if time.Now().Before(d.NotAfter) {
				t.Fatalf("denied as expired before notAfter %s", d.NotAfter)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still allowed 30s after start; notAfter %s", d.NotAfter)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testSigner(t testing.TB) (*Signer, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	s, err := NewSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "airlock-test")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return s, writeFile(t, "grants.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

func TestRealOPAVerifiesSignedBundle(t *testing.T) {
	s, pub := testSigner(t)
	d := testDecision()
	d.NotAfter = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tarball, err := Build(context.Background(), d, s)
	if err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, tarball)
	if !bytes.Contains(files["/.signatures.json"], []byte(`"signatures"`)) {
		t.Fatalf("no signatures: %v", keysOf(files))
	}
	flags := []string{"--verification-key", pub, "--verification-key-id", s.KeyID(), "--signing-alg", s.Alg()}

	o := testsvc.StartOPA(t, writeFile(t, "signed.tar.gz", tarball), flags...)
	checkAnswer(t, opaAnswer(t, o, grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}, d.NotAfter), true, "")

	// Changed after export: kb-search raised to execute in data.json, the
	// module's expiry check removed, a file added. OPA refuses each.
	for name, edit := range map[string]func(map[string][]byte){
		"data raised": func(f map[string][]byte) {
			f["/data.json"] = bytes.Replace(f["/data.json"], []byte(`"access":"read"`), []byte(`"access":"execute"`), 1)
		},
		"module changed": func(f map[string][]byte) {
			f[grants.ModulePath] = bytes.Replace(f[grants.ModulePath], []byte("\tunexpired\n"), []byte("\n"), 1)
		},
		"file added": func(f map[string][]byte) {
			f["/"+grants.Root+"/extra.rego"] = []byte("package airlock.grants\n\nextra := true\n")
		},
		"signatures removed": func(f map[string][]byte) { delete(f, "/.signatures.json") },
	} {
		t.Run(name, func(t *testing.T) {
			changed := tarFiles(t, tarball)
			before := fmt.Sprint(changed)
			edit(changed)
			if fmt.Sprint(changed) == before {
				t.Fatal("the edit changed nothing")
			}
			_, err := testsvc.TryStartOPA(t, writeFile(t, "tampered.tar.gz", writeTar(t, changed)), flags...)
			if err == nil {
				t.Fatal("OPA served a bundle changed after signing")
			}
			if !strings.Contains(err.Error(), "verif") && !strings.Contains(err.Error(), "signature") && !strings.Contains(err.Error(), "digest") {
				t.Fatalf("OPA failed for another reason: %v", err)
			}
		})
	}

	// The wrong key: refused too.
	_, otherPub := testSigner(t)
	other := []string{"--verification-key", otherPub, "--verification-key-id", s.KeyID(), "--signing-alg", s.Alg()}
	if _, err := testsvc.TryStartOPA(t, writeFile(t, "signed.tar.gz", tarball), other...); err == nil {
		t.Fatal("OPA served a bundle signed by another key")
	}
}

// `opa test` runs a user's tests of our rules against the exported bundle.
func TestRealOPATestCommand(t *testing.T) {
	tarball, err := Build(context.Background(), testDecision(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := writeFile(t, "grants.tar.gz", tarball)
	dir := t.TempDir()
	userTest := `package airlock.grants_test

test_read_allowed if {
	data.airlock.grants.allow with input as {"tool": "kb-search", "access": "read", "scope": "kb:read"}
		with time.now_ns as 0
}

test_write_denied if {
	not data.airlock.grants.allow with input as {"tool": "kb-search", "access": "write", "scope": "kb:read"}
		with time.now_ns as 0
}
`
	os.WriteFile(filepath.Join(dir, "user_test.rego"), []byte(userTest), 0o600)
	out, err := testsvc.RunOPA(t, "test", "-v", bundlePath, dir)
	if err != nil || !strings.Contains(out, "PASS: 2/2") {
		t.Fatalf("opa test: %v\n%s", err, out)
	}
	// A failing user test fails opa test: the command can fail.
	os.WriteFile(filepath.Join(dir, "user_test.rego"), []byte(strings.Replace(userTest, "not data", "data", 1)), 0o600)
	if out, err := testsvc.RunOPA(t, "test", bundlePath, dir); err == nil {
		t.Fatalf("opa test passed a failing test:\n%s", out)
	}
}

// BenchmarkRealOPA asks the real OPA server one call at a time, as OPA runs
// by default here (procs=default: GOMAXPROCS = the machine's 2 cores) and as
// a sidecar with one CPU runs it (procs=1: a one-CPU container limit gives Go
// ≥ 1.25 GOMAXPROCS=1; here set in OPA's environment).
func BenchmarkRealOPA(b *testing.B) {
	d := testDecision()
	d.NotAfter = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tarball, err := Build(context.Background(), d, nil)
	if err != nil {
		b.Fatal(err)
	}
	path := writeFile(b, "grants.tar.gz", tarball)
	b.Run("procs=default", func(b *testing.B) { benchOPA(b, testsvc.StartOPA(b, path)) })
	b.Run("procs=1", func(b *testing.B) { benchOPA(b, testsvc.StartOPAEnv(b, []string{"GOMAXPROCS=1"}, path)) })
}

func benchOPA(b *testing.B, o *testsvc.OPA) {
	hc := o.Client()
	body := []byte(`{"input":{"tool":"kb-search","access":"read","scope":"kb:read"}}`)
	var buf bytes.Buffer
	ask := func() {
		resp, err := hc.Post(o.URL+"/v1/data/airlock/grants/allow", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(buf.Bytes(), []byte(`"result":true`)) {
			b.Fatalf("not allowed: %s", buf.Bytes())
		}
	}
	// Warm: the connection, and OPA's prepared query for this path.
	for range 100 {
		ask()
	}
	// What is timed is OPA's answer, not this client's garbage collector:
	// the test binary holds OPA's compiler state too, and collecting it
	// mid-call would be charged to the server (BENCHMARKS.md).
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		ask()
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

func BenchmarkInProcessPercentiles(b *testing.B) {
	e := newTestEvaluator(b)
	call := grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}
	now := testNotAfter.Add(-time.Minute)
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		a, err := e.Ask(context.Background(), call, now)
		lat = append(lat, time.Since(start))
		if err != nil || !a.Allow {
			b.Fatalf("%v %v", a, err)
		}
	}
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(float64(p(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	b.Logf("%d calls: p50 %s p99 %s max %s", len(lat), p(0.50), p(0.99), slices.Max(lat))
}

// Every key type NewSigner accepts gives a bundle the real OPA verifies.
func TestRealOPAVerifiesEveryKeyType(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]struct{ priv, pub any }{
		"RSA":     {rsaKey, &rsaKey.PublicKey},
		"Ed25519": {priv, pub},
		"P-384":   {p384, &p384.PublicKey},
	} {
		t.Run(name, func(t *testing.T) {
			der, _ := x509.MarshalPKCS8PrivateKey(k.priv)
			s, err := NewSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "k")
			if err != nil {
				t.Fatal(err)
			}
			pubDER, _ := x509.MarshalPKIXPublicKey(k.pub)
			pubPath := writeFile(t, "k.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
			d := testDecision()
			d.NotAfter = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			tarball, err := Build(context.Background(), d, s)
			if err != nil {
				t.Fatal(err)
			}
			o := testsvc.StartOPA(t, writeFile(t, "signed.tar.gz", tarball), "--verification-key", pubPath, "--verification-key-id", "k", "--signing-alg", s.Alg())
			checkAnswer(t, opaAnswer(t, o, grants.Call{Tool: "kb-search", Access: "read", Scope: "kb:read"}, d.NotAfter), true, "")
		})
	}
}
