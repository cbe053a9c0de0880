// Command gendocs writes airlock's command reference, generated from the
// command tree so that it cannot drift from the help: Markdown pages
// (`make docs` → docs/cli/) or man pages (`make man` → bin/man/). It is not
// part of the airlock binary.
//
//	go run ./internal/cli/gendocs markdown|man DIR
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra/doc"

	"github.com/airlock-dev/airlock/internal/cli"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "markdown" && os.Args[1] != "man") {
		fmt.Fprintln(os.Stderr, "usage: gendocs markdown|man DIR")
		os.Exit(2)
	}
	dir := os.Args[2]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	var err error
	if os.Args[1] == "markdown" {
		err = doc.GenMarkdownTree(cli.CommandTree(), dir)
	} else {
		err = doc.GenManTree(cli.CommandTree(), &doc.GenManHeader{Title: "AIRLOCK", Section: "1", Source: "airlock"}, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
