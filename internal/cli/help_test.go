package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// allCommands is every command of the tree, cobra's help and completion
// included, as the words that name it.
func allCommands(t *testing.T) [][]string {
	t.Helper()
	root, _ := newRootCmd(func(string) string { return "" }, Stdio{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if !sub.Hidden {
				walk(sub, append(slices.Clone(path), sub.Name()))
			}
		}
	}
	walk(root, nil)
	if len(paths) < 15 {
		t.Fatalf("only %d commands found: %q", len(paths), paths)
	}
	return paths
}

func findCommand(t *testing.T, path []string) *cobra.Command {
	t.Helper()
	root, _ := newRootCmd(func(string) string { return "" }, Stdio{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	c, _, err := root.Find(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var exitCodeLine = regexp.MustCompile(`(?m)^  [0-3]  \S`)

// Every command's help, as --help and as `airlock help …`: a synopsis, its
// flags (each spelled --flag), and its exit codes, on stdout, exit 0.
func TestHelpOfEveryCommand(t *testing.T) {
	for _, path := range allCommands(t) {
		name := strings.Join(append([]string{"airlock"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			c := findCommand(t, path)
			code, out, errs := airlock(t, "", append(slices.Clone(path), "--help")...)
			if code != ExitAllow || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, want := range []string{"Usage:\n  " + name, "Exit codes:\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if !exitCodeLine.MatchString(out) {
				t.Errorf("help lists no exit code:\n%s", out)
			}
			if strings.TrimSpace(c.Short) == "" {
				t.Error("no synopsis (Short)")
			}
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden && !strings.Contains(out, "--"+f.Name) {
					t.Errorf("help does not list --%s:\n%s", f.Name, out)
				}
			})
			if strings.Contains(out, "[=true|false]") {
				t.Errorf("a boolean flag is shown as --flag[=true|false]:\n%s", out)
			}
			// Flags are spelled one way: never Go's single-dash -name.
			if m := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`).FindString(out); m != "" {
				t.Errorf("a flag spelled with one dash: %q", m)
			}
			if len(path) > 0 && path[0] != "help" && path[0] != "completion" {
				if c.Runnable() && !c.HasSubCommands() && !c.HasExample() {
					t.Error("no example")
				}
				if c.Long == "" && c.Runnable() && !c.HasSubCommands() && path[0] != "version" {
					t.Error("no description (Long)")
				}
				if c.Annotations[annotationExitCodes] == "" {
					t.Error("no exit codes of its own")
				}
			}
			if len(path) > 0 {
				code, hout, herrs := airlock(t, "", append([]string{"help"}, path...)...)
				if code != ExitAllow || hout != out {
					t.Errorf("airlock help %s: exit %d, differs from --help:\n%s%s", strings.Join(path, " "), code, hout, herrs)
				}
			}
		})
	}
}

// gate and check take no flags: their help lists every action input (and
// where it comes from) and the runner variables they read.
func TestGateAndCheckHelpListInputs(t *testing.T) {
	meta := loadAction(t)
	for _, cmd := range []string{"gate", "check"} {
		_, out, _ := airlock(t, "", cmd, "--help")
		for _, want := range []string{"INPUT_<NAME>", "with:", "ACTIONS_ID_TOKEN_REQUEST_URL", "GITHUB_OUTPUT", "id-token: write"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s --help lacks %q", cmd, want)
			}
		}
		for name := range meta.Inputs {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` `).MatchString(out) {
				t.Errorf("%s --help does not list input %s", cmd, name)
			}
		}
	}
}

// The inputs the help lists are action.yml's: same names, same order, same
// defaults.
func TestActionInputsHelpMatchesActionYML(t *testing.T) {
	meta := loadAction(t)
	order := actionInputOrder(t)
	var names []string
	for _, in := range actionInputs {
		names = append(names, in.name)
		yml, ok := meta.Inputs[in.name]
		if !ok {
			t.Errorf("help lists input %q, which action.yml does not declare", in.name)
			continue
		}
		def := ""
		if yml.Default != nil {
			def = *yml.Default
		}
		if def != in.def {
			t.Errorf("input %s: help says default %q, action.yml %q", in.name, in.def, def)
		}
	}
	if !slices.Equal(names, order) {
		t.Errorf("help's inputs %q, action.yml's %q", names, order)
	}
}

// actionInputOrder is action.yml's input names in the file's order.
func actionInputOrder(t *testing.T) []string {
	t.Helper()
	meta := loadAction(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b)
	var names []string
	inInputs := false
	for _, line := range strings.Split(raw, "\n") {
		switch {
		case line == "inputs:":
			inInputs = true
		case inInputs && line != "" && !strings.HasPrefix(line, " "):
			inInputs = false
		case inInputs && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.HasSuffix(line, ":"):
			names = append(names, strings.TrimSuffix(strings.TrimSpace(line), ":"))
		}
	}
	if len(names) != len(meta.Inputs) {
		t.Fatalf("read %d input names from action.yml, it declares %d", len(names), len(meta.Inputs))
	}
	return names
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verfy"}, `unknown command "verfy" for "airlock" (did you mean verify?)`},
		{[]string{"revok", "--reason", "x"}, `(did you mean revoke?)`},
		{[]string{"policy", "tset"}, `unknown command "tset" for "airlock policy" (did you mean test?)`},
		{[]string{"token", "verfy"}, `(did you mean verify?)`},
		{[]string{"grants", "exprt"}, `(did you mean export?)`},
		{[]string{"verify", "--bundel", "x"}, "verify: unknown flag --bundel (did you mean --bundle?)"},
		{[]string{"policy", "test", "--verbos"}, "policy test: unknown flag --verbos (did you mean --verbose?)"},
		{[]string{"demo", "--kep=false"}, "demo: unknown flag --kep (did you mean --keep?)"},
		{[]string{"revoke", "--reson", "x"}, "revoke: unknown flag --reson (did you mean --reason?)"},
		{[]string{"token", "verify", "--audiance", "a"}, "token verify: unknown flag --audiance (did you mean --audience?)"},
		// Go's flag package took -name: say to write two dashes.
		{[]string{"verify", "-bundle", "x"}, "verify: unknown flag -bundle: flags take two dashes (did you mean --bundle?)"},
		{[]string{"verify", "-bundle=x"}, "(did you mean --bundle?)"},
	} {
		code, out, errs := airlock(t, "", tc.args...)
		if code != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d (expected %d), stderr lacks %q:\n%s%s", tc.args, code, ExitUsage, tc.want, out, errs)
		}
	}
	// Nothing near: no suggestion, still a usage error.
	code, _, errs := airlock(t, "", "frobnicate")
	if code != ExitUsage || strings.Contains(errs, "did you mean") || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("frobnicate: exit %d, %q", code, errs)
	}
}

// Flags are taken after positional arguments by every command.
func TestFlagsAfterPositionalArguments(t *testing.T) {
	code, out, errs := airlock(t, "", "policy", "test", "../../policies", "-v")
	if code != ExitAllow || !strings.Contains(out, "PASS ") || !strings.Contains(out, "0 failed") {
		t.Fatalf("policy test DIR -v: exit %d\n%s%s", code, out, errs)
	}
	code, out2, _ := airlock(t, "", "policy", "test", "--verbose", "../../policies")
	// (The tests' order varies from run to run, and so does the #01 OPA
	// gives a name two files share: compare counts.)
	if code != ExitAllow || strings.Count(out2, "\nPASS ") != strings.Count(out, "\nPASS ") || !strings.Contains(out2, "0 failed") {
		t.Fatalf("policy test --verbose DIR: exit %d, differs from DIR -v:\n%s", code, out2)
	}
	code, quiet, _ := airlock(t, "", "policy", "test", "../../policies")
	if code != ExitAllow || strings.Contains(quiet, "PASS ") {
		t.Fatalf("policy test DIR without -v lists passes: exit %d\n%s", code, quiet)
	}
	code, d1, errs := airlock(t, "", "policy", "digest", "../../policies", "--help")
	if code != ExitAllow || !strings.Contains(d1, "Usage:") {
		t.Fatalf("policy digest DIR --help: exit %d\n%s%s", code, d1, errs)
	}
	// "--" ends the flags.
	code, _, errs = airlock(t, "", "policy", "test", "--", "--verbose")
	if code != ExitUsage || !strings.Contains(errs, "--verbose") {
		t.Fatalf("policy test -- --verbose: exit %d (a directory named --verbose), %s", code, errs)
	}
	code, _, errs = airlock(t, "", "policy", "test", "a", "b", "-v")
	if code != ExitUsage || !strings.Contains(errs, "at most one directory") {
		t.Fatalf("two directories: exit %d, %s", code, errs)
	}
}

// Outside Actions, each command names itself.
func TestOutsideActionsNamesTheCommand(t *testing.T) {
	for _, cmd := range []string{"gate", "check"} {
		code, _, errs := airlock(t, "", cmd)
		if code != ExitUsage || !strings.Contains(errs, "`airlock "+cmd+"` runs as a GitHub Actions step") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, errs)
		}
		other := map[string]string{"gate": "check", "check": "gate"}[cmd]
		if strings.Contains(errs, "airlock "+other) {
			t.Errorf("%s names %s: %q", cmd, other, errs)
		}
	}
}

// Usage errors are exit 2 whoever finds them: the parser (no command, a
// missing flag value, a bad value) or the command.
func TestCommandLineErrorsAreUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--nope"},
		{"verify", "--timeout"},
		{"verify", "--timeout", "soon"},
		{"verify", "--jobs", "many"},
		{"demo", "--keep=maybe"},
		{"version", "extra"},
		{"policy", "digest", "a", "b"},
		{"grants", "export", "--out"},
		{"completion", "tcsh"},
	} {
		code, _, errs := airlock(t, "", args...)
		if code != ExitUsage || !strings.HasPrefix(errs, "airlock: ") && !strings.Contains(errs, "\nairlock: ") {
			t.Errorf("%q: exit %d (expected %d), stderr %q", args, code, ExitUsage, errs)
		}
	}
	if code, out, _ := airlock(t, "", "completion", "bash"); code != ExitAllow || !strings.Contains(out, "__airlock") {
		t.Errorf("completion bash: exit %d", code)
	}
	if code, out, _ := airlock(t, "", "--version"); code != ExitAllow || !strings.HasPrefix(out, "airlock ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
}

// BenchmarkCommandLine is what the command line costs every run before the
// command starts: building the command tree, parsing, dispatching
// (`airlock version`). Help text is made only when asked for.
//
//	go test -run '^$' -bench CommandLine ./internal/cli/
func BenchmarkCommandLine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if code := Main(context.Background(), []string{"version"}, func(string) string { return "" }, Stdio{Out: io.Discard, Err: io.Discard}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// Shell completion offers commands and flags with their descriptions, the
// flag value's name shown as in the help, without backquotes.
func TestCompletion(t *testing.T) {
	code, out, _ := airlock(t, "", "__complete", "ver")
	if code != ExitAllow || !strings.Contains(out, "verify\t") || !strings.Contains(out, "version\t") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out, _ = airlock(t, "", "__complete", "verify", "--bun")
	if code != ExitAllow || !strings.Contains(out, "--bundle\tbundle file, JSONL file or directory PATH (repeatable)") || strings.Contains(out, "`") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
