package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// CommandTree is the command line as a tree, for generating its reference
// (internal/cli/gendocs: docs/cli/*.md and man pages). Nothing in it runs.
func CommandTree() *cobra.Command {
	root, _ := newRootCmd(func(string) string { return "" }, Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	root.DisableAutoGenTag = true // no generation date: the files are compared in a test
	return root
}
