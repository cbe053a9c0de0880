package cli

// The README's commands and snippets, executed or checked against the code,
// so that what a newcomer copies cannot drift from what airlock does:
//
//   - every `airlock COMMAND --flag` the README writes (in sh and plain
//     fenced blocks, in `args:` of a workflow step, and in inline code) names
//     a command of the cobra tree and flags that command takes;
//   - every airlock step in a YAML snippet uses only inputs action.yml
//     declares;
//   - every `make TARGET` is a target of the Makefile;
//   - a fenced block right after `<!-- readme-test: NAME -->` is run, the
//     way the setup NAME below says (in process, through Main, against
//     githubsim where GitHub is needed); every setup must mark a block;
//   - the controls table names the catalogue's controls, and the
//     troubleshooting table quotes reasons the policies give.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/policy"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	lang string
	body string
	line int    // of the opening fence
	mark string // NAME of a `<!-- readme-test: NAME -->` line right before the fence
}

func readmeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var reReadmeMark = regexp.MustCompile(`^<!-- readme-test: ([a-z-]+) -->$`)

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	lines := strings.Split(readmeText(t), "\n")
	var out []readmeBlock
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := readmeBlock{lang: strings.TrimSpace(lang), line: i + 1}
		if i > 0 {
			if m := reReadmeMark.FindStringSubmatch(lines[i-1]); m != nil {
				b.mark = m[1]
			}
		}
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
		}
		if j == len(lines) {
			t.Fatalf("README.md:%d: a fenced block is never closed", b.line)
		}
		b.body = strings.Join(lines[i+1:j], "\n") + "\n"
		out = append(out, b)
		i = j
	}
	if len(out) < 20 {
		t.Fatalf("only %d fenced blocks found in README.md: the scan is broken", len(out))
	}
	return out
}

// readmeInvocation is one airlock command line the README writes.
type readmeInvocation struct {
	where string   // README.md:LINE
	args  []string // after "airlock"
}

// shellCommands splits a shell block into simple commands: continuation
// lines joined, comments dropped, split at pipes, lists and substitutions.
func shellCommands(body string) []string {
	body = strings.ReplaceAll(body, "\\\n", " ")
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		// A substitution is a command of its own and, where it stands, a
		// word: GITHUB_TOKEN=$(gh auth token) airlock doctor …
		for _, m := range reSubst.FindAllStringSubmatch(l, -1) {
			out = append(out, strings.TrimSpace(m[1]))
		}
		l = reSubst.ReplaceAllString(l, "X")
		for _, seg := range regexp.MustCompile(`\|\||&&|[|;]`).Split(l, -1) {
			out = append(out, strings.TrimSpace(seg))
		}
	}
	return out
}

var reSubst = regexp.MustCompile(`[$<]\(([^()]*)\)`)

var reEnvAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=\S*$`)

// airlockArgs returns the arguments of an airlock command line (after
// leading VAR=value assignments), or false if the line runs something else.
func airlockArgs(cmd string) ([]string, bool) {
	f := strings.Fields(cmd)
	for len(f) > 0 && reEnvAssign.MatchString(f[0]) {
		f = f[1:]
	}
	if len(f) == 0 || f[0] != "airlock" {
		return nil, false
	}
	return f[1:], true
}

var reInlineAirlock = regexp.MustCompile("`(airlock [^`]+)`")

// readmeInvocations collects every airlock command line of the README.
func readmeInvocations(t *testing.T) []readmeInvocation {
	t.Helper()
	var out []readmeInvocation
	for _, b := range readmeBlocks(t) {
		where := "README.md:" + itoa(b.line)
		switch b.lang {
		case "sh":
			for _, c := range shellCommands(b.body) {
				if args, ok := airlockArgs(c); ok {
					out = append(out, readmeInvocation{where, args})
				}
			}
		case "":
			// The command list: a synopsis, then its description after
			// two or more spaces; continuation lines are descriptions.
			for _, l := range strings.Split(b.body, "\n") {
				if !strings.HasPrefix(l, "airlock ") {
					continue
				}
				if i := regexp.MustCompile(`\S\s{2,}\S`).FindStringIndex(l); i != nil {
					l = l[:i[0]+1]
				}
				args, _ := airlockArgs(l)
				out = append(out, readmeInvocation{where, args})
			}
		case "yaml":
			for _, s := range yamlSteps(t, b) {
				if a, ok := s["with"].(map[string]any); ok && strings.HasPrefix(str(s["uses"]), "docker://ghcr.io/airlock-dev/airlock") {
					out = append(out, readmeInvocation{where, strings.Fields(str(a["args"]))})
				}
			}
		}
	}
	text := readmeText(t)
	for i, l := range strings.Split(text, "\n") {
		for _, m := range reInlineAirlock.FindAllStringSubmatch(l, -1) {
			args, _ := airlockArgs(m[1])
			out = append(out, readmeInvocation{"README.md:" + itoa(i+1), args})
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func str(v any) string { s, _ := v.(string); return s }

var (
	reCommandWord = regexp.MustCompile(`^[a-z][a-z]*$`)
	reLongFlag    = regexp.MustCompile(`(?:^|[\s\[(|])--([a-z][a-z0-9-]*)`)
)

// readmeRoot is the command tree as a user's airlock has it.
func readmeRoot() *cobra.Command {
	root, _ := newRootCmd(func(string) string { return "" }, Stdio{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// resolve walks the command words of args down the tree. A first argument
// that is not a lowercase word (a placeholder such as COMMAND, or
// "/ promotion") is not an invocation.
func resolve(root *cobra.Command, args []string) (*cobra.Command, string, bool) {
	if len(args) == 0 {
		return nil, "", false
	}
	if !strings.HasPrefix(args[0], "-") && !reCommandWord.MatchString(args[0]) {
		return nil, "", false
	}
	cur := root
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		next := func() *cobra.Command {
			for _, c := range cur.Commands() {
				if c.Name() == a || slices.Contains(c.Aliases, a) {
					return c
				}
			}
			return nil
		}()
		if next == nil {
			if cur == root {
				return nil, a, true
			}
			break
		}
		cur = next
	}
	return cur, "", true
}

func hasFlag(c *cobra.Command, name string) bool {
	c.InitDefaultHelpFlag()
	found := false
	for _, fs := range []*pflag.FlagSet{c.Flags(), c.InheritedFlags(), c.PersistentFlags()} {
		if fs.Lookup(name) != nil {
			found = true
		}
	}
	return found || (c.Root() == c && name == "version")
}

// TestREADMECommandsExist: every airlock command and flag the README writes
// is one the command line knows.
func TestREADMECommandsExist(t *testing.T) {
	root := readmeRoot()
	inv := readmeInvocations(t)
	checked, flags := 0, 0
	for _, in := range inv {
		c, unknown, ok := resolve(root, in.args)
		if !ok {
			continue
		}
		line := "airlock " + strings.Join(in.args, " ")
		if c == nil {
			t.Errorf("%s: %q: airlock has no command %q", in.where, line, unknown)
			continue
		}
		checked++
		for _, m := range reLongFlag.FindAllStringSubmatch(" "+strings.Join(in.args, " "), -1) {
			flags++
			if !hasFlag(c, m[1]) {
				t.Errorf("%s: %q: %q takes no flag --%s", in.where, line, c.CommandPath(), m[1])
			}
		}
	}
	if checked < 40 || flags < 50 {
		t.Fatalf("checked %d airlock command lines with %d flags: the scan is broken", checked, flags)
	}
}

// The scan itself: a mistyped command or flag in README-like text is found.
func TestREADMECommandScanFindsMistakes(t *testing.T) {
	root := readmeRoot()
	for _, tc := range []struct {
		line    string
		command string
		flag    string
	}{
		{"airlock verify --bundel x", "airlock verify", "bundel"},
		{"airlock policy digest DIR --verbose", "airlock policy digest", "verbose"},
		{"GITHUB_TOKEN=x airlock doctor --repo a/b --enviroment production", "airlock doctor", "enviroment"},
	} {
		args, ok := airlockArgs(tc.line)
		c, _, ok2 := resolve(root, args)
		if !ok || !ok2 || c == nil || c.CommandPath() != tc.command {
			t.Fatalf("%q resolves to %v", tc.line, c)
		}
		if hasFlag(c, tc.flag) {
			t.Errorf("%q: --%s taken as a flag of %s", tc.line, tc.flag, tc.command)
		}
	}
	if c, unknown, ok := resolve(root, []string{"verfy", "--bundle", "x"}); !ok || c != nil || unknown != "verfy" {
		t.Errorf("an unknown command resolves to %v", c)
	}
	if _, _, ok := resolve(root, []string{"/", "promotion"}); ok {
		t.Error("the check's name `airlock / promotion` is taken for a command")
	}
}

// yamlSteps returns every mapping with a `uses` key in a YAML block: the
// steps of a workflow, or of a fragment of one.
func yamlSteps(t *testing.T, b readmeBlock) []map[string]any {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(dedent(b.body)), &doc); err != nil {
		t.Fatalf("README.md:%d: yaml block: %v", b.line, err)
	}
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["uses"]; ok {
				out = append(out, v)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

func dedent(s string) string {
	lines := strings.Split(s, "\n")
	min := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); min < 0 || n < min {
			min = n
		}
	}
	for i, l := range lines {
		if len(l) >= min {
			lines[i] = l[min:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestREADMEWorkflowSnippetsUseDeclaredInputs: every airlock step in every
// YAML snippet of the README (not only the minimal workflow, which
// TestExampleWorkflowsAgreeWithTheAction checks in full) uses only inputs
// action.yml declares, and every steps.<id>.outputs.<name> of it is an output.
func TestREADMEWorkflowSnippetsUseDeclaredInputs(t *testing.T) {
	m := loadAction(t)
	found := 0
	for _, b := range readmeBlocks(t) {
		if b.lang != "yaml" {
			continue
		}
		ids := map[string]bool{}
		for _, s := range yamlSteps(t, b) {
			uses := str(s["uses"])
			if !strings.HasPrefix(uses, "airlock-dev/airlock@") && uses != "./" {
				continue
			}
			found++
			if id := str(s["id"]); id != "" {
				ids[id] = true
			}
			with, _ := s["with"].(map[string]any)
			for k := range with {
				if _, ok := m.Inputs[k]; !ok {
					t.Errorf("README.md:%d: with: %q is not an input of action.yml", b.line, k)
				}
			}
		}
		for _, mm := range reStepOutput.FindAllStringSubmatch(b.body, -1) {
			if _, ok := m.Outputs[mm[2]]; ids[mm[1]] && !ok {
				t.Errorf("README.md:%d: steps.%s.outputs.%s is not an output of action.yml", b.line, mm[1], mm[2])
			}
		}
	}
	if found < 2 {
		t.Fatalf("found %d airlock steps in README's YAML: the scan is broken", found)
	}
}

// TestREADMEMakeTargetsExist: `make demo` and `make test`, the two commands
// for a fresh machine, and every other make target the README names.
func TestREADMEMakeTargetsExist(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, b := range readmeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, c := range shellCommands(b.body) {
			if f := strings.Fields(c); len(f) >= 2 && f[0] == "make" {
				targets = append(targets, f[1])
			}
		}
	}
	for _, m := range regexp.MustCompile("`make ([a-z][a-z-]*)[^`]*`").FindAllStringSubmatch(readmeText(t), -1) {
		targets = append(targets, m[1])
	}
	for _, want := range []string{"demo", "test"} {
		if !slices.Contains(targets, want) {
			t.Errorf("README.md shows no `make %s`", want)
		}
	}
	for _, tg := range targets {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tg) + `:`).Match(mk) {
			t.Errorf("README.md: `make %s`: the Makefile has no target %s", tg, tg)
		}
	}
}

// readmeSetups run the blocks marked `<!-- readme-test: NAME -->`. next is
// the block after the marked one (an expected output, where a setup has one).
var readmeSetups = map[string]func(t *testing.T, b, next readmeBlock){
	// Commands that need nothing: each exits 0.
	"run": func(t *testing.T, b, _ readmeBlock) {
		n := 0
		for _, c := range shellCommands(b.body) {
			args, ok := airlockArgs(c)
			if !ok {
				if c != "" {
					t.Errorf("README.md:%d: %q is not an airlock command", b.line, c)
				}
				continue
			}
			n++
			code, out, errs := airlock(t, "", args...)
			if code != ExitAllow || out == "" {
				t.Errorf("README.md:%d: airlock %s: exit %d\n%s%s", b.line, strings.Join(args, " "), code, out, errs)
			}
		}
		if n == 0 {
			t.Errorf("README.md:%d: no airlock command to run", b.line)
		}
	},
	// `airlock doctor` as the README shows it: on the minimal workflow
	// before qa-credentials is set and with the action pinned by a tag,
	// against a production environment that lets whoever started a
	// deployment approve it. Its output is the README's next block.
	"doctor": func(t *testing.T, b, next readmeBlock) {
		var args []string
		n := 0
		for _, c := range shellCommands(b.body) {
			if a, ok := airlockArgs(c); ok {
				args = a
				n++
			}
		}
		if n != 1 || len(args) == 0 || args[0] != "doctor" {
			t.Fatalf("README.md:%d: expected one airlock doctor command:\n%s", b.line, b.body)
		}
		d := newDoctorRun(t)
		d.environment(func(e *githubsim.Environment) { e.PreventSelfReview = false })
		wf := string(readmeWorkflow(t))
		wf = regexp.MustCompile(`(?m)^\s*qa-credentials:.*\n`).ReplaceAllString(wf, "")
		wf = regexp.MustCompile(`uses: airlock-dev/airlock@\S+`).ReplaceAllString(wf, "uses: airlock-dev/airlock@v1")
		p := filepath.Join(d.workspace(), ".github", "workflows", "promote.yml")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(wf), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(d.workspace())
		env := map[string]string{"GITHUB_TOKEN": doctorToken, "GITHUB_API_URL": d.sim.APIURL()}
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), args, func(k string) string { return env[k] }, Stdio{In: strings.NewReader(""), Out: &stdout, Err: &stderr})
		if code != ExitDeny {
			t.Errorf("README.md:%d: exit %d, expected %d (something would deny)\n%s", b.line, code, ExitDeny, stderr.String())
		}
		if next.lang != "" {
			t.Fatalf("README.md:%d: the doctor command is not followed by its output", b.line)
		}
		norm := func(s string) string {
			return regexp.MustCompile(`\(id \d+\)`).ReplaceAllString(strings.TrimSpace(s), "(id N)")
		}
		if got, want := norm(stdout.String()), norm(next.body); got != want {
			t.Errorf("README.md:%d: doctor's output is not what README.md shows\n--- README\n%s\n--- airlock doctor\n%s", next.line, want, got)
		}
	},
}

func TestREADMERunnableBlocks(t *testing.T) {
	blocks := readmeBlocks(t)
	used := map[string]bool{}
	for i, b := range blocks {
		if b.mark == "" {
			continue
		}
		setup, ok := readmeSetups[b.mark]
		if !ok {
			t.Errorf("README.md:%d: no setup %q in readme_test.go", b.line, b.mark)
			continue
		}
		used[b.mark] = true
		var next readmeBlock
		if i+1 < len(blocks) {
			next = blocks[i+1]
		}
		t.Run(b.mark+"@"+itoa(b.line), func(t *testing.T) { setup(t, b, next) })
	}
	for name := range readmeSetups {
		if !used[name] {
			t.Errorf("README.md marks no block <!-- readme-test: %s -->", name)
		}
	}
}

// readmeSection returns the lines under heading up to the next heading of
// the same or a higher level.
func readmeSection(t *testing.T, heading string) []string {
	t.Helper()
	lines := strings.Split(readmeText(t), "\n")
	i := slices.Index(lines, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	level := strings.Index(heading, " ")
	var out []string
	for _, l := range lines[i+1:] {
		if n := strings.Index(l, " "); strings.HasPrefix(l, "#") && n > 0 && n <= level && strings.Trim(l[:n], "#") == "" {
			break
		}
		out = append(out, l)
	}
	return out
}

// tableRows returns the cells of a section's table rows (header and rule
// left out).
func tableRows(lines []string) [][]string {
	var rows [][]string
	for _, l := range lines {
		if !strings.HasPrefix(l, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) > 0 {
		rows = rows[1:] // the header; "|---|" does not start with "| "
	}
	return rows
}

// TestREADMEControlsTable: C1–C13 in order, named as the catalogue names
// them (internal/policy.Controls, which the step summary and the decision use).
func TestREADMEControlsTable(t *testing.T) {
	rows := tableRows(readmeSection(t, "## Controls C1–C13"))
	if len(rows) != len(policy.Controls) {
		t.Fatalf("the controls table has %d rows, the catalogue %d controls", len(rows), len(policy.Controls))
	}
	for i, c := range policy.Controls {
		if len(rows[i]) != 4 || rows[i][0] != c.ID || rows[i][1] != c.Title {
			t.Errorf("row %d: %q, expected %s | %s | what is checked | where configured", i+1, rows[i], c.ID, c.Title)
		}
	}
}

// TestREADMETroubleshootingQuotesThePolicies: every reason quoted in the
// troubleshooting table is, piece by piece between the "…" that stand for
// what varies, text of a reason the policies (or the gate) write.
func TestREADMETroubleshootingQuotesThePolicies(t *testing.T) {
	var src strings.Builder
	for _, glob := range []string{"policies/*.rego", "internal/*/*.go"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_test.rego") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(b)
		}
	}
	// Format verbs and escaped quotes as a reader sees them.
	text := regexp.MustCompile(`%[-+#0-9.]*[a-zA-Z]`).ReplaceAllString(strings.ReplaceAll(src.String(), `\"`, `"`), "\x00")
	rows := tableRows(readmeSection(t, "## Troubleshooting: the ten most common denials"))
	if len(rows) != 10 {
		t.Fatalf("the troubleshooting table has %d rows, expected the ten most common", len(rows))
	}
	quoted := 0
	for _, r := range rows {
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(r[1], -1) {
			q := regexp.MustCompile(`^\[C[0-9]+\] `).ReplaceAllString(m[1], "")
			quoted++
			for _, piece := range strings.Split(q, "…") {
				piece = strings.Trim(piece, ` "(),;:`)
				if len(piece) < 4 {
					continue
				}
				if !strings.Contains(text, piece) {
					t.Errorf("row %s: %q is in no reason the policies or the gate write", r[0], piece)
				}
			}
		}
	}
	if quoted < 10 {
		t.Fatalf("only %d reasons quoted", quoted)
	}
}

// githubAnchor is the id GitHub gives a heading: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchorsOf(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	fence := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); !fence && ok && strings.HasPrefix(l, "#") {
			out[githubAnchor(h)] = true
		}
	}
	return out
}

var reMarkdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestREADMELinksResolve: every relative link of README.md and of the docs
// it moved material to names a file that exists and, with #anchor, a
// heading of it — the restructured README must not leave a dead link.
func TestREADMELinksResolve(t *testing.T) {
	n := 0
	for _, from := range []string{"README.md", "docs/pull-request-check.md", "docs/writing-policies.md"} {
		src := filepath.Join(repoRoot, from)
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reMarkdownLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			n++
			path, anchor, _ := strings.Cut(target, "#")
			file := src
			if path != "" {
				file = filepath.Join(filepath.Dir(src), path)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s: link %q: %v", from, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !anchorsOf(t, file)[anchor] {
				t.Errorf("%s: link %q: %s has no heading #%s", from, target, filepath.Base(file), anchor)
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d relative links found: the scan is broken", n)
	}
}
