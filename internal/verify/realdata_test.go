package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

func realdata(t *testing.T, sub string) string { return testsvc.RealData(t, sub) }

// readTSV reads a tab-separated file with a header line starting with "#".
func readTSV(t *testing.T, path string) (header []string, rows []map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		if i == 0 {
			cols[0] = strings.TrimPrefix(strings.TrimSpace(cols[0]), "# ")
			header = cols
			continue
		}
		if len(cols) != len(header) {
			t.Fatalf("%s line %d: %d columns, header has %d", path, i+1, len(cols), len(header))
		}
		row := map[string]string{}
		for j, h := range header {
			row[h] = cols[j]
		}
		rows = append(rows, row)
	}
	return header, rows
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// outcome runs one case the way `airlock verify` does: New (trust material
// and policy) then Verify (bundle against artifact). Any error from either,
// or a report that is not verified, is a failure.
func outcome(cfg Config, bundlePath string, art Artifact) (bool, string) {
	v, err := New(cfg)
	if err != nil {
		return false, "config: " + err.Error()
	}
	rep, err := v.Verify(context.Background(), []string{bundlePath}, []Artifact{art})
	if err != nil {
		return false, "run: " + err.Error()
	}
	var msgs []string
	for _, b := range rep.Bundles {
		msgs = append(msgs, b.Errors...)
	}
	for _, a := range rep.Artifacts {
		msgs = append(msgs, a.Errors...)
	}
	msgs = append(msgs, rep.Errors...)
	return rep.Verified, strings.Join(msgs, "; ")
}

func digestOfFile(t *testing.T, path string) Artifact {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(raw)
	a, err := ParseDigest("sha256:" + hex.EncodeToString(d[:]))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestConformance runs every case of the Sigstore conformance suite's
// bundle-verification set, in artifact mode and in digest mode, and requires
// the expected result in both.
func TestConformance(t *testing.T) {
	dir := realdata(t, "01-sigstore-conformance")
	_, rows := readTSV(t, filepath.Join(dir, "cases.tsv"))
	if len(rows) != 70 {
		t.Fatalf("cases.tsv: %d cases, expected 70", len(rows))
	}
	var pass, fail, agreed int
	for _, c := range rows {
		t.Run(c["case"], func(t *testing.T) {
			want := c["expected"] == "pass"
			if want {
				pass++
			} else {
				fail++
			}
			trusted, err := os.ReadFile(filepath.Join(dir, c["trusted_root"]))
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{TrustedRoots: trusted, Any: true,
				Identity: Identity{SAN: dash(c["identity"]), Issuer: dash(c["issuer"])}}
			if k := dash(c["key"]); k != "" {
				if cfg.Key, err = os.ReadFile(filepath.Join(dir, k)); err != nil {
					t.Fatal(err)
				}
			}
			bundlePath := filepath.Join(dir, c["bundle"])
			artifactPath := filepath.Join(dir, c["artifact"])
			art, err := ArtifactFromFile(artifactPath)
			if err != nil {
				t.Fatal(err)
			}
			ok := true
			for mode, a := range map[string]Artifact{"artifact": art, "digest": digestOfFile(t, artifactPath)} {
				got, why := outcome(cfg, bundlePath, a)
				if got != want {
					ok = false
					t.Errorf("%s mode: verified=%v, expected %s (%s)\n  errors: %s", mode, got, c["expected"], c["reason"], why)
				} else if !got && why == "" {
					ok = false
					t.Errorf("%s mode: failed without saying why", mode)
				}
			}
			if ok {
				agreed++
			}
		})
	}
	t.Logf("conformance: %d/%d cases agree in both modes (%d pass, %d fail expected)", agreed, len(rows), pass, fail)
	if pass != 21 || fail != 49 {
		t.Errorf("expected 21 pass and 49 fail cases, got %d and %d", pass, fail)
	}
}

// TestGitHubActionsBundles runs every case of the real GitHub Actions
// bundles (public-good with Rekor; GitHub's instance with a TSA and no log)
// in the mode the case names (all use digests: the signed archives are not
// stored).
func TestGitHubActionsBundles(t *testing.T) {
	dir := realdata(t, "02-github-actions-bundles")
	_, rows := readTSV(t, filepath.Join(dir, "cases.tsv"))
	if len(rows) == 0 {
		t.Fatal("cases.tsv has no case")
	}
	agreed := 0
	for _, c := range rows {
		t.Run(c["case"], func(t *testing.T) {
			trusted, err := os.ReadFile(filepath.Join(dir, c["trusted_root"]))
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{TrustedRoots: trusted, Any: true,
				Identity: Identity{SAN: dash(c["identity_san"]), Issuer: dash(c["issuer"])}}
			if k := dash(c["key"]); k != "" {
				if cfg.Key, err = os.ReadFile(filepath.Join(dir, k)); err != nil {
					t.Fatal(err)
				}
			}
			var art Artifact
			if a := c["artifact_or_digest"]; strings.HasPrefix(a, "sha256:") || strings.HasPrefix(a, "sha512:") {
				art, err = ParseDigest(a)
			} else {
				art, err = ArtifactFromFile(filepath.Join(dir, a))
			}
			if err != nil {
				t.Fatal(err)
			}
			got, why := outcome(cfg, filepath.Join(dir, c["bundle"]), art)
			if want := c["expected"] == "pass"; got != want {
				t.Fatalf("verified=%v, expected %s (%s)\n  errors: %s", got, c["expected"], c["reason"], why)
			}
			agreed++
		})
	}
	t.Logf("github actions bundles: %d/%d cases agree", agreed, len(rows))
}
