package cli

// The contract between action.yml and the code. GitHub's runner reads
// action.yml before the step starts: it refuses a file that is not valid
// YAML, passes every declared input's default as INPUT_* even when the step
// leaves the input out, and a workflow can only read outputs action.yml
// declares. These tests fail when the metadata and the code disagree.

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/actionio"
)

const repoRoot = "../.."

// actionMeta is action.yml as the runner reads it. Decoding is strict: a key
// the runner does not know is an error here too.
type actionMeta struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Author      string `yaml:"author"`
	Branding    struct {
		Icon  string `yaml:"icon"`
		Color string `yaml:"color"`
	} `yaml:"branding"`
	Inputs map[string]struct {
		Description        string  `yaml:"description"`
		Required           bool    `yaml:"required"`
		Default            *string `yaml:"default"`
		DeprecationMessage string  `yaml:"deprecationMessage"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
	} `yaml:"outputs"`
	Runs struct {
		Using      string            `yaml:"using"`
		Image      string            `yaml:"image"`
		Args       []string          `yaml:"args"`
		Env        map[string]string `yaml:"env"`
		Entrypoint string            `yaml:"entrypoint"`
	} `yaml:"runs"`
}

// strictYAML decodes one YAML document into v, refusing unknown keys,
// duplicate keys and a second document.
func strictYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return errors.New("a second YAML document")
	}
	return nil
}

func loadAction(t testing.TB) *actionMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var m actionMeta
	if err := strictYAML(b, &m); err != nil {
		t.Fatalf("action.yml: %v (GitHub's runner refuses to load such a file)", err)
	}
	return &m
}

func TestActionMetadataIsComplete(t *testing.T) {
	m := loadAction(t)
	if m.Name == "" || m.Description == "" {
		t.Error("action.yml: name and description are required")
	}
	if m.Runs.Using != "docker" || len(m.Runs.Args) == 0 {
		t.Errorf("action.yml runs: using %q args %q, expected a docker action with args", m.Runs.Using, m.Runs.Args)
	}
	if m.Runs.Image != "Dockerfile" && !regexp.MustCompile(`^docker://[^@]+@sha256:[0-9a-f]{64}$`).MatchString(m.Runs.Image) {
		t.Errorf("action.yml runs.image %q: expected Dockerfile or an image pinned by digest", m.Runs.Image)
	}
	for name, in := range m.Inputs {
		if strings.TrimSpace(in.Description) == "" {
			t.Errorf("input %s has no description", name)
		}
		if name != strings.ToLower(name) || strings.ContainsAny(name, " _") {
			t.Errorf("input %s: inputs are lower-case kebab-case", name)
		}
	}
	for name, out := range m.Outputs {
		if strings.TrimSpace(out.Description) == "" {
			t.Errorf("output %s has no description", name)
		}
	}
}

// cliSources parses the package's non-test files.
func cliSources(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// stringConsts are the string constants an input name may be written as:
// this package's ("Name") and those of the module's packages it imports
// ("pkg.Name").
func stringConsts(t *testing.T, files []*ast.File) map[string]string {
	t.Helper()
	out := map[string]string{}
	collect := func(prefix string, fs []*ast.File) {
		for _, f := range fs {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, sp := range gd.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if v, err := strconv.Unquote(lit.Value); err == nil {
								out[prefix+n.Name] = v
							}
						}
					}
				}
			}
		}
	}
	collect("", files)
	const module = "github.com/airlock-dev/airlock/"
	seen := map[string]bool{}
	for _, f := range files {
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if !strings.HasPrefix(path, module) || seen[path] {
				continue
			}
			seen[path] = true
			dir := filepath.Join("..", "..", strings.TrimPrefix(path, module))
			names, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			var pkgFiles []*ast.File
			name := filepath.Base(path)
			for _, n := range names {
				if strings.HasSuffix(n, "_test.go") {
					continue
				}
				pf, err := parser.ParseFile(token.NewFileSet(), n, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				name = pf.Name.Name
				pkgFiles = append(pkgFiles, pf)
			}
			if im.Name != nil {
				name = im.Name.Name
			}
			collect(name+".", pkgFiles)
		}
	}
	return out
}

// inputsRead finds every input name the code reads: string literals given to
// Runner.Input / Runner.Secret, to any function that passes one of its
// parameters on to them (found to a fixed point), and INPUT_* literals.
// A name computed at run time cannot be checked, so it is reported.
func inputsRead(t *testing.T) map[string]string {
	fset, files := cliSources(t)
	readers := map[string]int{"Input": 0, "Secret": 0} // function → argument position of the name
	calleeName := func(c *ast.CallExpr) string {
		switch f := c.Fun.(type) {
		case *ast.Ident:
			return f.Name
		case *ast.SelectorExpr:
			return f.Sel.Name
		}
		return ""
	}
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				params := map[string]int{}
				i := 0
				for _, fld := range fd.Type.Params.List {
					for _, n := range fld.Names {
						params[n.Name] = i
						i++
					}
					if len(fld.Names) == 0 {
						i++
					}
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					c, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					pos, isReader := readers[calleeName(c)]
					if !isReader || pos >= len(c.Args) {
						return true
					}
					if id, ok := c.Args[pos].(*ast.Ident); ok {
						if k, ok := params[id.Name]; ok {
							if _, known := readers[fd.Name.Name]; !known {
								readers[fd.Name.Name] = k
								changed = true
							}
						}
					}
					return true
				})
			}
		}
	}
	consts := stringConsts(t, files)
	read := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				pos, ok := readers[calleeName(x)]
				if !ok || pos >= len(x.Args) {
					return true
				}
				switch a := x.Args[pos].(type) {
				case *ast.BasicLit:
					if v, err := strconv.Unquote(a.Value); err == nil {
						read[v] = fset.Position(a.Pos()).String()
					}
				case *ast.Ident:
					if v, ok := consts[a.Name]; ok {
						read[v] = fset.Position(a.Pos()).String()
					}
					// else a parameter passed on: its callers are scanned instead
				case *ast.SelectorExpr:
					pkg, ok := a.X.(*ast.Ident)
					v, known := consts[pkg.Name+"."+a.Sel.Name]
					if !ok || !known {
						t.Errorf("%s: input name %s is not a string constant of this module", fset.Position(a.Pos()), a.Sel.Name)
						return true
					}
					read[v] = fset.Position(a.Pos()).String()
				default:
					t.Errorf("%s: an input name computed at run time cannot be checked against action.yml", fset.Position(a.Pos()))
				}
			case *ast.BasicLit:
				if v, err := strconv.Unquote(x.Value); err == nil && strings.HasPrefix(v, "INPUT_") && v != "INPUT_" {
					read[strings.ToLower(strings.TrimPrefix(v, "INPUT_"))] = fset.Position(x.Pos()).String()
				}
			}
			return true
		})
	}
	return read
}

func TestActionInputsAreTheOnesTheCodeReads(t *testing.T) {
	m := loadAction(t)
	read := inputsRead(t)
	for name, where := range read {
		if _, ok := m.Inputs[name]; !ok {
			t.Errorf("%s reads input %q, which action.yml does not declare (the runner would never pass it)", where, name)
		}
	}
	for name := range m.Inputs {
		if _, ok := read[name]; !ok {
			t.Errorf("action.yml declares input %q, which the code never reads", name)
		}
	}
}

// outputsWritten finds every actionio.Output{Name: "…"} literal.
func outputsWritten(t *testing.T) map[string]string {
	fset, files := cliSources(t)
	written := map[string]string{}
	var visit func(lit *ast.CompositeLit, isOutput bool)
	visit = func(lit *ast.CompositeLit, isOutput bool) {
		elemIsOutput := false
		switch ty := lit.Type.(type) {
		case *ast.SelectorExpr:
			isOutput = ty.Sel.Name == "Output"
		case *ast.ArrayType:
			if s, ok := ty.Elt.(*ast.SelectorExpr); ok && s.Sel.Name == "Output" {
				elemIsOutput = true
			}
		}
		for _, e := range lit.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok && isOutput {
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
					bl, ok := kv.Value.(*ast.BasicLit)
					v, err := strconv.Unquote(bl.Value)
					if !ok || err != nil {
						t.Errorf("%s: an output name computed at run time cannot be checked against action.yml", fset.Position(kv.Pos()))
						continue
					}
					written[v] = fset.Position(kv.Pos()).String()
				}
			}
			if c, ok := e.(*ast.CompositeLit); ok {
				visit(c, elemIsOutput)
			}
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CompositeLit); ok {
				visit(c, false)
				return false
			}
			return true
		})
	}
	return written
}

func TestActionOutputsAreTheOnesTheCodeWrites(t *testing.T) {
	m := loadAction(t)
	written := outputsWritten(t)
	if len(written) == 0 {
		t.Fatal("found no output written: the scan is broken")
	}
	for name, where := range written {
		if _, ok := m.Outputs[name]; !ok {
			t.Errorf("%s writes output %q, which action.yml does not declare (a workflow cannot read it)", where, name)
		}
	}
	for name := range m.Outputs {
		if _, ok := written[name]; !ok {
			t.Errorf("action.yml declares output %q, which the code never writes", name)
		}
	}
}

// actionConfig parses every input of a run the way the action does, with
// what is created on disk (output folders) left out, so that two
// environments can be compared.
func actionConfig(getenv func(string) string) (any, error) {
	r := actionio.New(getenv, &bytes.Buffer{})
	mode, err := actionMode(r)
	if err != nil {
		return nil, err
	}
	cc, timeout, _, err := checkConfig(r, getenv, &bytes.Buffer{})
	if err != nil {
		return nil, err
	}
	engine, err := loadPolicy(context.Background(), inWorkspace(getenv, r.Input("policy")), getenv("GITHUB_WORKSPACE"))
	if err != nil {
		return nil, err
	}
	ac, err := attestConfig(r, getenv, engine, true)
	if err != nil {
		return nil, err
	}
	cc.ResolveCredentials = nil
	return []any{mode, cc, timeout, ac}, nil
}

// actionDefaults is the environment the runner gives the step when the
// workflow sets no input: every declared default as INPUT_*, expressions
// expanded.
func actionDefaults(t *testing.T, m *actionMeta, expand func(string) string) map[string]string {
	env := map[string]string{}
	for name, in := range m.Inputs {
		if in.Default != nil {
			env[inputVar(name)] = expand(*in.Default)
		}
	}
	return env
}

// inputVar is the variable the runner sets for an input: INPUT_ and the
// name upper-cased, spaces as underscores, hyphens kept.
func inputVar(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// TestActionDefaultsAgreeWithTheCode: for every input with a default in
// action.yml, the code configured with that default and the code with the
// input left out must agree, or the code must refuse the input left out
// (it has no default of its own). Otherwise the CLI and the action behave
// differently for the same workflow.
func TestActionDefaultsAgreeWithTheCode(t *testing.T) {
	m := loadAction(t)
	ws := t.TempDir()
	base := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(ws, "out"),
		"GITHUB_STEP_SUMMARY": filepath.Join(ws, "summary"),
		"GITHUB_WORKSPACE":    ws,
		"AIRLOCK_TUF_CACHE":   filepath.Join(ws, "tuf"),
		// Read, never called: parsing the configuration makes no request.
		"ACTIONS_ID_TOKEN_REQUEST_URL":   "http://127.0.0.1:1/token",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token",
	}
	expand := func(v string) string {
		if strings.Contains(v, "${{") {
			return "ghs_example" // the runner's expansion; the code has no default for it
		}
		return v
	}
	defaults := actionDefaults(t, m, expand)
	// What a step's `with:` must give for the check's configuration to parse.
	defaults[inputVar("qa-manifest")] = "agent/qa.yaml"
	defaults[inputVar("production-manifest")] = "agent/production.yaml"
	env := func(drop string) func(string) string {
		return func(k string) string {
			if k == drop {
				return ""
			}
			if v, ok := defaults[k]; ok {
				return v
			}
			return base[k]
		}
	}
	want, err := actionConfig(env(""))
	if err != nil {
		t.Fatalf("the action's own defaults are refused: %v", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range m.Inputs {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		in := m.Inputs[name]
		if in.Default == nil || strings.Contains(*in.Default, "${{") {
			continue
		}
		got, err := actionConfig(env(inputVar(name)))
		if err != nil {
			continue // no default of its own: the input left out is refused
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("input %s: action.yml's default %q and the code's default for an unset input differ", name, *in.Default)
		}
	}
}

// readmeTable returns the first column's `names` of the table under heading.
func readmeTable(t *testing.T, heading string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	i := slices.Index(lines, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	names := map[string]bool{}
	for _, l := range lines[i+1:] {
		if strings.HasPrefix(l, "#") {
			break
		}
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		first := strings.Split(l, "|")[1]
		for _, m := range regexp.MustCompile("`([a-z0-9-]+)`").FindAllStringSubmatch(first, -1) {
			names[m[1]] = true
		}
	}
	return names
}

func TestREADMEDocumentsEveryInputAndOutput(t *testing.T) {
	m := loadAction(t)
	for heading, declared := range map[string][]string{
		"### Inputs":  keysOf(m.Inputs),
		"### Outputs": keysOf(m.Outputs),
	} {
		table := readmeTable(t, heading)
		for _, name := range declared {
			if !table[name] {
				t.Errorf("README.md %s: %q is missing from the table", heading, name)
			}
			delete(table, name)
		}
		for name := range table {
			t.Errorf("README.md %s: %q is in the table but not in action.yml", heading, name)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
