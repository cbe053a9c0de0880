package actionio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/fault"
)

func runner(t *testing.T, env map[string]string) (*actionio.Runner, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	return actionio.New(func(k string) string { return env[k] }, &out), &out
}

// parseOutputs reads a GITHUB_OUTPUT file the way the runner does: name<<DELIM
// ... DELIM blocks.
func parseOutputs(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] == "" {
			continue
		}
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			t.Fatalf("line %d: not a heredoc header: %q", i, lines[i])
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("output %s: delimiter never closed", name)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("output %s set twice", name)
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func TestOutputsCannotInjectOtherOutputs(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out")
	r, _ := runner(t, map[string]string{"GITHUB_OUTPUT": outPath})
	// A value that would inject "decision=allow" under go-githubactions'
	// constant delimiter "_GitHubActionsFileCommandDelimeter_".
	evil := "x\n_GitHubActionsFileCommandDelimeter_\ndecision<<EOF\nallow\nEOF"
	if err := r.SetOutputs(actionio.Output{Name: "reasons", Value: evil}, actionio.Output{Name: "decision", Value: "deny"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	got := parseOutputs(t, string(b))
	if got["decision"] != "deny" || got["reasons"] != evil || len(got) != 2 {
		t.Fatalf("outputs were altered: %#v", got)
	}
}

func TestOutputNameValidated(t *testing.T) {
	r, _ := runner(t, map[string]string{"GITHUB_OUTPUT": filepath.Join(t.TempDir(), "out")})
	for _, name := range []string{"", "a\nb", "a<<b", "a=b"} {
		if err := r.SetOutputs(actionio.Output{Name: name, Value: "v"}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestMissingRunnerFileIsUsageError(t *testing.T) {
	r, _ := runner(t, map[string]string{})
	err := r.SetOutputs(actionio.Output{Name: "decision", Value: "deny"})
	if fault.KindOf(err) != fault.KindUsage || !strings.Contains(err.Error(), "GITHUB_OUTPUT") {
		t.Fatalf("expected a usage error naming GITHUB_OUTPUT, got %v", err)
	}
	err = r.AppendSummary("x")
	if fault.KindOf(err) != fault.KindUsage || !strings.Contains(err.Error(), "GITHUB_STEP_SUMMARY") {
		t.Fatalf("expected a usage error naming GITHUB_STEP_SUMMARY, got %v", err)
	}
}

func TestAnnotationsEscaped(t *testing.T) {
	r, out := runner(t, nil)
	r.Error("airlock C1", "bad\n::set-output name=decision::allow %0A")
	got := out.String()
	want := "::error title=airlock C1::bad%0A::set-output name=decision::allow %250A\n"
	if got != want {
		t.Fatalf("annotation\n got %q\nwant %q", got, want)
	}
	if strings.Count(got, "\n") != 1 {
		t.Fatal("annotation spans more than one line")
	}
}

func TestSecretMaskedPerLine(t *testing.T) {
	r, out := runner(t, map[string]string{"INPUT_GITHUB-TOKEN": "  ghs_line1\nline2  "})
	if v := r.Secret("github-token"); v != "ghs_line1\nline2" {
		t.Fatalf("secret %q", v)
	}
	if got := out.String(); got != "::add-mask::ghs_line1\n::add-mask::line2\n" {
		t.Fatalf("mask commands %q", got)
	}
}

func TestSummaryAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "summary.md")
	r, _ := runner(t, map[string]string{"GITHUB_STEP_SUMMARY": p})
	for _, s := range []string{"a\n", "b\n"} {
		if err := r.AppendSummary(s); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(p); string(b) != "a\nb\n" {
		t.Fatalf("summary %q", b)
	}
}
