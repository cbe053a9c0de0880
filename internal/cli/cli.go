// Package cli is airlock's command line: it reads flags, inputs and the
// environment (the only package besides actionio that does), builds
// configuration, runs a use case and maps the outcome to an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// Stdio are the process's standard streams.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// Version is set at build time with -ldflags "-X .../internal/cli.Version=…".
var Version = "dev"

// Main runs airlock with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdio Stdio) int {
	var err error
	if linked != nil {
		err = checkDispatched(getenv)
	}
	if err == nil {
		err = run(ctx, args, getenv, stdio)
	}
	if errors.Is(err, errDispatch) {
		var code int
		if code, err = dispatch(args, stdio); err == nil {
			return code
		}
	}
	if err != nil {
		var d *deniedError
		if !errors.As(err, &d) || d.msg != "" {
			fmt.Fprintf(stdio.Err, "airlock: %v\n", err)
		}
	}
	return exitCode(err)
}

// run parses the command line and runs the command it names. An error
// before the command ran (an unknown command or flag, a bad argument) is a
// usage error, whoever raised it: the command line parser does not classify
// its errors, and an unclassified error would be exit 3.
func run(ctx context.Context, args []string, getenv func(string) string, stdio Stdio) error {
	root, ran := newRootCmd(getenv, stdio)
	// A mistyped command is named as such, even when flags follow it
	// (`airlock revok --reason …` is not about --reason).
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[0], "__complete") {
		if c, _, err := root.Find(args[:1]); err != nil || c == root {
			return unknownCommand(root, args[0])
		}
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		forCompletion(root)
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !*ran && fault.KindOf(err) == fault.KindUnclassified {
		return fault.Usage(err)
	}
	return err
}

// httpClient is the client every outbound call uses: the core's (httpx),
// bounded in time, no cookie jar, https except loopback on redirects, and it
// never follows a redirect to another origin with our headers.
func httpClient() *http.Client {
	return httpx.NewClient(httpx.Options{Timeout: 30 * time.Second})
}

// readFileOrStdin reads a file, or standard input for "-", capped at limit bytes.
func readFileOrStdin(name string, stdio Stdio, limit int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = stdio.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fault.Config(err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fault.Configf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fault.Configf("read %s: larger than %d bytes", name, limit)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
