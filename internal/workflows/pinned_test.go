// Package workflows holds the repository's checks on its own GitHub
// workflows; it has no code.
package workflows

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	usesLine = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)`)
	pinned   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	digest   = regexp.MustCompile(`^docker://[^@\s]+@sha256:[0-9a-f]{64}$`)
)

// unreleased are refs that cannot be pinned yet because airlock has no
// release commit: the examples of airlock itself. Replace them with the first
// release's full SHA (release.yml's summary prints it) and delete this.
var unreleased = map[string]bool{"airlock-dev/airlock@main": true}

// Every third-party action is pinned by a full commit SHA: a tag can be moved
// to other code, a commit cannot.
func TestEveryUsesIsPinned(t *testing.T) {
	var files []string
	for _, glob := range []string{"../../.github/workflows/*.yml", "../../.github/workflows/*.yaml", "../../docs/examples/*.yml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found %d workflow files, want at least ci.yml, release.yml and the example", len(files))
	}
	count := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			m := usesLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			count++
			ref := strings.Trim(m[1], `"'`)
			switch {
			case ref == "./" || strings.HasPrefix(ref, "./"):
			case digest.MatchString(ref):
			case unreleased[ref]:
			case pinned.MatchString(ref):
				if !strings.Contains(line, "# v") {
					t.Errorf("%s:%d: %s is pinned but has no \"# vX.Y.Z\" comment naming the version", f, i+1, ref)
				}
			default:
				t.Errorf("%s:%d: uses %q is not pinned by a 40-hex commit SHA", f, i+1, ref)
			}
		}
	}
	if count == 0 {
		t.Fatal("no uses: lines found; the pattern is wrong")
	}
}

func TestPinPatterns(t *testing.T) {
	for ref, want := range map[string]bool{
		"actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683": true,
		"actions/checkout@v4": false,
		"actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af68":           false,
		"github/codeql-action/init@11bd71901bbe5b1630ceea73d27597364c9af683": true,
	} {
		if got := pinned.MatchString(ref); got != want {
			t.Errorf("pinned(%q) = %v, want %v", ref, got, want)
		}
	}
}
