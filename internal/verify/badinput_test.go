package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mutate decodes a bundle, lets fn change it, and encodes it again.
func mutate(t testing.TB, good []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func envelope(m map[string]any) map[string]any { return m["dsseEnvelope"].(map[string]any) }

func withPayload(t testing.TB, good []byte, payload string) []byte {
	return mutate(t, good, func(m map[string]any) {
		envelope(m)["payload"] = base64.StdEncoding.EncodeToString([]byte(payload))
	})
}

// TestBadInput: every malformed bundle is a failed record with a reason —
// never a panic, never a run error, never a success.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	goodPath := f.attest(t, dir, "good.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	good, _ := os.ReadFile(goodPath)
	nested := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)

	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "parse bundle"},
		{"whitespace", []byte(" \n\t "), "parse bundle"},
		{"truncated", good[:len(good)*2/3], "parse bundle"},
		{"not JSON", []byte("\x00\x01\x02 binary \xff"), "parse bundle"},
		{"JSON null", []byte("null"), "parse bundle"},
		{"JSON array", []byte(`[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}]`), "parse bundle"},
		{"JSON string", []byte(`"bundle"`), "parse bundle"},
		{"deeply nested", []byte(nested), "parse bundle"},
		{"wrong media type", mutate(t, good, func(m map[string]any) { m["mediaType"] = "application/json" }), "unsupported media type"},
		{"no media type", mutate(t, good, func(m map[string]any) { delete(m, "mediaType") }), "unsupported media type"},
		{"future version", mutate(t, good, func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json" }), "not yet supported"},
		// sigstore-go (and so cosign and gh) rejects unknown fields; airlock
		// agrees with them rather than accept what they refuse.
		{"unknown top-level field", mutate(t, good, func(m map[string]any) { m["extra"] = true }), `unknown field "extra"`},
		{"unknown nested field", mutate(t, good, func(m map[string]any) { m["verificationMaterial"].(map[string]any)["x"] = 1 }), `unknown field "x"`},
		{"no verification material", mutate(t, good, func(m map[string]any) { delete(m, "verificationMaterial") }), "missing verification material"},
		{"no content", mutate(t, good, func(m map[string]any) { delete(m, "dsseEnvelope") }), "missing bundle content"},
		{"certificate not DER", mutate(t, good, func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["certificate"] = map[string]any{"rawBytes": base64.StdEncoding.EncodeToString([]byte("not a certificate"))}
		}), "certificate"},
		{"payload not base64", mutate(t, good, func(m map[string]any) { envelope(m)["payload"] = "%%%" }), "parse bundle"},
		{"payload altered", withPayload(t, good, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"`+digestOfFile(t, f.artPath).String()[7:]+`"}}],"predicateType":"`+DecisionPredicateType+`","predicate":{"decision":"allow","validity":{"notAfter":"2030-01-01T00:00:00Z"}}}`), "could not verify envelope"},
		{"payload not JSON", withPayload(t, good, "not json"), "decode statement"},
		{"payload type changed", mutate(t, good, func(m map[string]any) { envelope(m)["payloadType"] = "text/plain" }), "verify"},
		{"two signatures", mutate(t, good, func(m map[string]any) {
			e := envelope(m)
			sigs := e["signatures"].([]any)
			e["signatures"] = append(sigs, sigs[0])
		}), "signature"},
		{"no signature", mutate(t, good, func(m map[string]any) { envelope(m)["signatures"] = []any{} }), "timestamp"},
		{"no timestamp", mutate(t, good, func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any), "timestampVerificationData")
		}), "threshold not met"},
		{"timestamp garbage", mutate(t, good, func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString([]byte("garbage"))}}}
		}), "timestamp"},
	}
	var paths []string
	for i, c := range cases {
		p := filepath.Join(dir, "bad", string(rune('a'+i))+".json")
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// One run over all of them, the good bundle last: the batch keeps going.
	rep := run(t, f.config(), append(paths, goodPath), fileArtifact(t, f.artPath))
	if len(rep.Bundles) != len(cases)+1 {
		t.Fatalf("%d records for %d bundles", len(rep.Bundles), len(cases)+1)
	}
	for i, c := range cases {
		r := rep.Bundles[i]
		if r.Verified || !strings.Contains(strings.Join(r.Errors, "; "), c.want) {
			t.Errorf("%s: verified=%v errors %q, expected a failure naming %q", c.name, r.Verified, r.Errors, c.want)
		}
		if strings.Contains(strings.Join(r.Errors, ";"), "internal error") {
			t.Errorf("%s: panicked: %v", c.name, r.Errors)
		}
	}
	if last := rep.Bundles[len(cases)]; !last.Verified {
		t.Errorf("the good bundle after the bad ones: %v", last.Errors)
	}
	if rep.Verified {
		t.Error("the run verified")
	}
}

// TestHugeInput: a file or a JSONL line over the cap is refused before it is
// parsed, and the rest of the JSONL file is still read.
func TestHugeInput(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	goodPath := f.attest(t, dir, "good.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	good, _ := os.ReadFile(goodPath)
	limit := int64(len(good) + 10)
	huge := filepath.Join(dir, "huge.json")
	os.WriteFile(huge, append(append([]byte{}, good...), make([]byte, 1<<20)...), 0o600)
	lines := filepath.Join(dir, "lines.jsonl")
	os.WriteFile(lines, []byte(strings.Repeat("x", 300000)+"\n"+string(good)+"\n"+strings.Repeat("y", int(limit)+2)), 0o600)

	cfg := f.config()
	cfg.MaxBundleBytes = limit
	rep := run(t, cfg, []string{huge, lines, goodPath}, fileArtifact(t, f.artPath))
	var got []string
	for _, r := range rep.Bundles {
		got = append(got, filepath.Base(r.Bundle)+"="+map[bool]string{true: "ok", false: strings.Join(r.Errors, ";")}[r.Verified])
	}
	want := []string{"huge.json=read bundle: larger than", "lines.jsonl:1=read bundle: line larger than", "lines.jsonl:2=ok", "lines.jsonl:3=read bundle: line larger than", "good.json=ok"}
	if len(got) != len(want) {
		t.Fatalf("records %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("record %d: %q, expected %q…", i, got[i], want[i])
		}
	}
}

// FuzzVerifyBundle feeds arbitrary bytes to the bundle path: it must never
// panic (sigstore-go panics are caught and would show as "internal error"),
// and a record is verified exactly when it has no error.
func FuzzVerifyBundle(fz *testing.F) {
	f := newFixture(fz)
	dir := fz.TempDir()
	goodPath := f.attest(fz, dir, "good.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	good, _ := os.ReadFile(goodPath)
	fz.Add(good)
	fz.Add(good[:len(good)/2])
	fz.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	fz.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","verificationMaterial":{"publicKey":{"hint":"x"}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":"AAAA"}}`))
	fz.Add(withPayload(fz, good, `{"subject":[{"digest":{"sha256":"00"}}]}`))
	v, err := New(f.config())
	if err != nil {
		fz.Fatal(err)
	}
	art, err := ArtifactFromFile(f.artPath)
	if err != nil {
		fz.Fatal(err)
	}
	arts := []Artifact{art}
	ix := newDigestIndex(arts)
	fz.Fuzz(func(t *testing.T, data []byte) {
		r := v.verifyBundle(context.Background(), "fuzz", data, arts, ix)
		for _, e := range r.Errors {
			if strings.Contains(e, "internal error") {
				t.Fatalf("panic on input: %s", e)
			}
		}
		if r.Verified == (len(r.Errors) > 0) {
			t.Fatalf("verified=%v with errors %v", r.Verified, r.Errors)
		}
	})
}
