// Package actionio is airlock's only contact with the GitHub Actions runner:
// inputs (INPUT_*), outputs (GITHUB_OUTPUT), the step summary, annotations and
// masking.
//
// Trust boundary: everything written here ends up in the runner's log, UI or
// in later steps' environment. Values are escaped or framed so that no value
// can inject a workflow command or another output, and secrets are masked the
// moment they are read.
package actionio

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Runner reads inputs and writes to the runner. It is built from an injected
// getenv and stdout so tests and `airlock demo` can play the runner.
type Runner struct {
	action *githubactions.Action
	getenv func(string) string
}

// New returns a Runner that reads variables with getenv and writes workflow
// commands to stdout.
func New(getenv func(string) string, stdout io.Writer) *Runner {
	return &Runner{
		action: githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(stdout)),
		getenv: getenv,
	}
}

// Input returns the trimmed value of an action input ("INPUT_" + upper case name).
func (r *Runner) Input(name string) string { return r.action.GetInput(name) }

// Secret returns an input and masks it in the runner's log first.
func (r *Runner) Secret(name string) string {
	v := r.Input(name)
	r.Mask(v)
	return v
}

// Mask asks the runner to hide v in every later log line. Each line of a
// multi-line secret is masked on its own, as the runner matches per line.
func (r *Runner) Mask(v string) {
	for _, line := range strings.Split(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			r.action.AddMask(line)
		}
	}
}

// Error writes an ::error annotation; go-githubactions escapes the message
// and properties, so a message cannot start another workflow command.
func (r *Runner) Error(title, msg string) {
	r.action.WithFieldsMap(map[string]string{"title": title}).Errorf("%s", msg)
}

// Warning writes a ::warning annotation, escaped like Error.
func (r *Runner) Warning(title, msg string) {
	r.action.WithFieldsMap(map[string]string{"title": title}).Warningf("%s", msg)
}

// Output is one step output.
type Output struct {
	Name, Value string
}

// SetOutputs appends outputs to the GITHUB_OUTPUT file. It replaces
// go-githubactions' SetOutput, whose constant heredoc delimiter lets a value
// containing it inject further outputs: here every value gets a fresh random
// delimiter and a value that contains it is refused (as actions/toolkit does).
func (r *Runner) SetOutputs(outs ...Output) error {
	var b strings.Builder
	for _, o := range outs {
		if o.Name == "" || strings.ContainsAny(o.Name, "\r\n<=") {
			return fault.Configf("set output %q: invalid output name", o.Name)
		}
		delim, err := delimiter()
		if err != nil {
			return err
		}
		if strings.Contains(o.Value, delim) || strings.Contains(o.Name, delim) {
			return fault.Operationalf("set output %q: value contains the delimiter", o.Name)
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.Name, delim, o.Value, delim)
	}
	return r.appendFile("GITHUB_OUTPUT", b.String())
}

// AppendSummary adds markdown to the job's step summary (GITHUB_STEP_SUMMARY).
func (r *Runner) AppendSummary(markdown string) error {
	return r.appendFile("GITHUB_STEP_SUMMARY", markdown)
}

func (r *Runner) appendFile(variable, content string) error {
	p := r.getenv(variable)
	if p == "" {
		return fault.Usagef("%s is not set: airlock must run as a GitHub Actions step", variable)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fault.Operationalf("write %s: %w", variable, err)
	}
	_, werr := f.WriteString(content)
	cerr := f.Close()
	if werr != nil {
		return fault.Operationalf("write %s: %w", variable, werr)
	}
	if cerr != nil {
		return fault.Operationalf("write %s: %w", variable, cerr)
	}
	return nil
}

func delimiter() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fault.Operationalf("make output delimiter: %w", err)
	}
	return "ghadelimiter_" + hex.EncodeToString(b[:]), nil
}
