package opa

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
)

// RunTests runs every test_* rule in the sources' *_test.rego files with
// OPA's own test runner, against the same params the gate would load.
func RunTests(ctx context.Context, sources ...policy.Source) ([]policy.TestResult, error) {
	l, err := load(sources, true)
	if err != nil {
		return nil, err
	}
	// The checks Load makes, on the modules the gate would load.
	c := newCompiler()
	gateModules := map[string]*ast.Module{}
	for name, m := range l.modules {
		if !isTestFile(name) {
			gateModules[name] = m
		}
	}
	if c.Compile(gateModules); c.Failed() {
		return nil, fault.Config(fmt.Errorf("compile policies: %w", describeASTErrors(c.Errors)))
	}
	if probs := checkReachable(c, isTestFile); len(probs) > 0 {
		return nil, problems("load policies", probs)
	}
	store := inmem.NewFromObject(map[string]any{"airlock": map[string]any{"params": l.params}})
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fault.Operational(fmt.Errorf("run policy tests: %w", err))
	}
	defer store.Abort(ctx, txn)
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(l.modules).
		SetDefaultRegoVersion(ast.RegoV1).
		RaiseBuiltinErrors(true).
		RunTests(ctx, txn)
	if err != nil {
		return nil, fault.Config(fmt.Errorf("run policy tests: %w", describeASTErrors(err)))
	}
	var out []policy.TestResult
	for r := range ch {
		tr := policy.TestResult{Name: strings.TrimPrefix(r.Package, "data.") + "." + r.Name, Pass: r.Pass()}
		if r.Location != nil {
			tr.File = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		switch {
		case r.Error != nil:
			tr.Message = describeASTErrors(r.Error).Error()
		case r.Fail:
			tr.Message = "test rule was false or undefined"
		}
		out = append(out, tr)
	}
	slices.SortFunc(out, func(a, b policy.TestResult) int {
		if a.File < b.File {
			return -1
		}
		if a.File > b.File {
			return 1
		}
		return 0
	})
	return out, nil
}
