package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra/doc"
)

// docs/cli is generated from the command tree (`make docs`): it must be what
// the tree generates now.
func TestCommandReferenceIsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := doc.GenMarkdownTree(CommandTree(), dir); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	have, _ := filepath.Glob("../../docs/cli/*.md")
	if len(want) == 0 || len(have) != len(want) {
		t.Fatalf("docs/cli has %d pages, the command tree %d: run `make docs`", len(have), len(want))
	}
	for _, w := range want {
		gen, _ := os.ReadFile(w)
		cur, err := os.ReadFile(filepath.Join("../../docs/cli", filepath.Base(w)))
		if err != nil || string(cur) != string(gen) {
			t.Errorf("docs/cli/%s is not what the command tree generates: run `make docs`", filepath.Base(w))
		}
	}
	// Man pages generate too (make man).
	if err := doc.GenManTree(CommandTree(), &doc.GenManHeader{Title: "AIRLOCK", Section: "1"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
