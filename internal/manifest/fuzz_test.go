package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: a manifest is read from the repository at the verified sha,
// so anyone who can push writes it. Whatever the bytes, Parse returns a
// manifest or an error that names the input, and never panics; a manifest
// it returns diffs against itself without changes.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/manifests/*/*.yaml")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("model: {provider: x, name: y}\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("&a [*a, *a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("production-manifest", data)
		if err != nil {
			if !strings.Contains(err.Error(), "production-manifest") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		if m == nil {
			t.Fatal("nil manifest without an error")
		}
		if r := Diff(m, m, Promote); len(r.Changes) != 0 || len(r.Escalations) != 0 {
			t.Fatalf("a manifest differs from itself: changes %+v escalations %+v", r.Changes, r.Escalations)
		}
	})
}
