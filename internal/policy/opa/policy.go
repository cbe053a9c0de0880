// Package opa is airlock's policy engine: it evaluates evidence with OPA's Rego and
// returns a policy.Decision. Only airlock-rego links it (README, "Install").
//
// Trust boundary: only policy decides. Modules are compiled once; a module
// that does not parse or compile is a configuration error naming file:line.
// At evaluation time anything other than a well-formed decision document
// with allow=true and no deny reasons is a deny: undefined results, runtime
// errors and malformed output become deny reasons under control C5, never an
// error that a caller might mistake for "no objection".
package opa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
)

// Engine is a compiled policy set, safe for concurrent use: a policy.Engine.
var _ policy.Engine = (*Engine)(nil)

type Engine struct {
	prepared rego.PreparedEvalQuery
	digest   string
	sources  []string
	params   map[string]any
}

type loaded struct {
	modules map[string]*ast.Module
	raw     map[string][]byte // file name → bytes, for the digest
	params  map[string]any
	// problems are configuration mistakes found while loading, reported
	// together rather than one per run.
	problems []string
}

// Load reads, parses and compiles every source, later sources extending
// earlier ones: modules are added; params files deep-merge over earlier ones
// key by key, so a user directory can change one threshold and keep the rest.
func Load(ctx context.Context, sources ...policy.Source) (*Engine, error) {
	l, err := load(sources, false)
	if err != nil {
		return nil, err
	}
	// Our compiler, so that after compiling, checkReachable reads the
	// same dependency graph the evaluation runs on.
	c := newCompiler()
	opts := []func(*rego.Rego){
		rego.Compiler(c),
		rego.Query(policy.Query),
		rego.Store(inmem.NewFromObject(map[string]any{"airlock": map[string]any{"params": l.params}})),
		rego.StrictBuiltinErrors(true),
		rego.SetRegoVersion(ast.RegoV1),
	}
	for _, name := range sortedKeys(l.modules) {
		opts = append(opts, rego.ParsedModule(l.modules[name]))
	}
	prepared, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fault.Config(fmt.Errorf("compile policies: %w", describeASTErrors(err)))
	}
	if probs := checkReachable(c, isTestFile); len(probs) > 0 {
		return nil, problems("load policies", probs)
	}
	names := make([]string, 0, len(sources))
	for _, s := range sources {
		names = append(names, s.Name)
	}
	return &Engine{prepared: prepared, digest: digest(l.raw), sources: names, params: l.params}, nil
}

func load(sources []policy.Source, withTests bool) (*loaded, error) {
	l := &loaded{modules: map[string]*ast.Module{}, raw: map[string][]byte{}, params: map[string]any{}}
	if len(sources) == 0 {
		return nil, fault.Configf("load policies: no policy source")
	}
	for _, src := range sources {
		regoCount, paramsCount := 0, 0
		err := fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			name := path.Join(src.Name, p)
			switch {
			case strings.HasSuffix(p, ".rego"):
				if isTestFile(p) && !withTests {
					return nil
				}
				b, err := fs.ReadFile(src.FS, p)
				if err != nil {
					return err
				}
				m, err := ast.ParseModuleWithOpts(name, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
				if err != nil {
					return describeASTErrors(err)
				}
				if _, dup := l.modules[name]; dup {
					return fmt.Errorf("%s: defined twice", name)
				}
				l.modules[name] = m
				l.raw[name] = b
				regoCount++
			case path.Dir(p) == "params" && strings.HasSuffix(p, ".json"):
				b, err := fs.ReadFile(src.FS, p)
				if err != nil {
					return err
				}
				topic := strings.TrimSuffix(path.Base(p), ".json")
				paramsCount++
				v, probs := parseParamsFile(name, topic, b)
				if len(probs) > 0 {
					l.problems = append(l.problems, probs...)
					return nil
				}
				prev, _ := l.params[topic].(map[string]any)
				l.params[topic] = mergeParams(prev, v)
				l.raw[name] = b
			case strings.HasPrefix(p, "params/") && !strings.HasPrefix(path.Base(p), "."):
				// Not read: a threshold in params/agent.yaml or
				// params/v2/agent.json would be dropped without a word.
				l.problems = append(l.problems, fmt.Sprintf("%s: not a params file: airlock reads params/<topic>.json and nothing else under params/", name))
			}
			return nil
		})
		if err != nil {
			return nil, fault.Config(fmt.Errorf("load policies from %s: %w", src.Name, err))
		}
		if regoCount+paramsCount == 0 {
			return nil, fault.Configf("load policies from %s: no .rego files and no params/*.json: is this the policy directory?", src.Name)
		}
	}
	if len(l.problems) > 0 {
		return nil, problems("load policies", l.problems)
	}
	return l, nil
}

// newCompiler is configured as rego.New configures its own.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithUseTypeCheckAnnotations(true)
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// problems is one configuration error listing every problem found.
func problems(op string, probs []string) error {
	return fault.Configf("%s: %s", op, strings.Join(probs, "; "))
}

// mergeParams overlays b on a: objects merge key by key, anything else replaces.
func mergeParams(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeParams(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// digest is sha256 over the sorted file names and contents, so any change to
// any module or threshold changes it.
func digest(raw map[string][]byte) string {
	h := sha256.New()
	for _, name := range sortedKeys(raw) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(raw[name]))
		h.Write(raw[name])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describeASTErrors turns OPA's error lists into "file:line:col: message" lines.
func describeASTErrors(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return err
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		if e.Location != nil {
			lines = append(lines, fmt.Sprintf("%s:%d:%d: %s", e.Location.File, e.Location.Row, e.Location.Col, e.Message))
		} else {
			lines = append(lines, e.Message)
		}
	}
	return errors.New(strings.Join(lines, "; "))
}

// Digest identifies the exact policy set: "sha256:HEX".
func (e *Engine) Digest() string { return e.digest }

// Param returns data.airlock.params.<topic>.<key> as loaded (JSON types),
// for limits Go enforces outside Rego (the decision TTL cap).
func (e *Engine) Param(topic, key string) (any, bool) {
	m, ok := e.params[topic].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[key]
	return v, ok
}

// Sources names the policy sources in load order.
func (e *Engine) Sources() []string { return slices.Clone(e.sources) }

// Evaluate decides on input (any JSON-marshalable value). It returns an error
// only when the input cannot be encoded or ctx ends; every policy failure is
// a deny inside the policy.Decision.
func (e *Engine) Evaluate(ctx context.Context, input any) (policy.Decision, error) {
	b, err := json.Marshal(input)
	if err != nil {
		return policy.Decision{}, fault.Config(fmt.Errorf("encode policy input: %w", err))
	}
	v, err := ast.ValueFromReader(strings.NewReader(string(b)))
	if err != nil {
		return policy.Decision{}, fault.Config(fmt.Errorf("encode policy input: %w", err))
	}
	d := policy.Decision{PolicyDigest: e.digest, PolicySources: e.Sources()}
	rs, err := e.prepared.Eval(ctx, rego.EvalParsedInput(v))
	if ctxErr := ctx.Err(); ctxErr != nil {
		return policy.Decision{}, fault.Operational(fmt.Errorf("evaluate policy: %w", ctxErr))
	}
	if err != nil {
		return d.FailClosed(fmt.Sprintf("policy evaluation failed: %v", describeASTErrors(err))), nil
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return d.FailClosed(policy.Query + " is undefined: no policy produced a decision"), nil
	}
	return d.FromDocument(rs[0].Expressions[0].Value), nil
}
