package opa

import (
	"fmt"
	"strings"
	"sync"

	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/open-policy-agent/opa/v1/ast"
)

// The engine reads one document, data.airlock.decision (policy.Query). A rule that
// neither it nor any rule it reads refers to decides nothing: `denny
// contains …`, a deny in `package airlock_custom`, a helper whose caller was
// renamed. OPA compiles such rules without a word, so a policy author
// believes a control is in force that never runs. checkReachable finds them
// on the compiler's dependency graph (the refs and calls of every rule,
// across modules and imports, dynamic refs over-approximated) and makes each
// one a configuration error naming file:line.

// The refs are parsed on first use: OPA's parser at package
// initialisation costs every airlock process, `airlock verify` included.
var (
	decisionRef = sync.OnceValue(func() ast.Ref { return ast.MustParseRef(policy.Query) })
	airlockPath = sync.OnceValue(func() ast.Ref { return ast.MustParseRef("data.airlock") })
)

// decidingSets are the rules main.rego collects reasons from; only package
// airlock's count.
var decidingSets = map[string]bool{"deny": true, "warn": true, "requirement": true}

// checkReachable reports every rule of a non-test module that the decision
// does not read, and every deny/warn/requirement outside package airlock.
func checkReachable(c *ast.Compiler, isTest func(file string) bool) []string {
	roots := c.GetRules(decisionRef())
	if len(roots) == 0 {
		return []string{fmt.Sprintf("no module defines %s: airlock reads nothing else (the defaults' main.rego defines it; a directory with its own main.rego replaces them and must define it too)", policy.Query)}
	}
	reached := map[*ast.Rule]bool{}
	stack := append([]*ast.Rule(nil), roots...)
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for n := r; n != nil; n = n.Else {
			if reached[n] {
				continue
			}
			reached[n] = true
			for dep := range c.Graph.Dependencies(n) {
				if d, ok := dep.(*ast.Rule); ok && !reached[d] {
					stack = append(stack, d)
				}
			}
		}
	}

	// Names the decision does read in package airlock, for "did you mean".
	readNames := map[string]bool{}
	for r := range reached {
		if r.Module != nil && r.Module.Package.Path.Equal(airlockPath()) {
			readNames[ruleName(r)] = true
		}
	}
	names := sortedKeys(readNames)

	var probs []string
	for _, file := range sortedKeys(c.Modules) {
		if isTest(file) {
			continue
		}
		m := c.Modules[file]
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		inAirlock := m.Package.Path.Equal(airlockPath())
		underAirlock := m.Package.Path.HasPrefix(airlockPath())
		anyRead := false
		for _, r := range m.Rules {
			anyRead = anyRead || reached[r]
		}
		if !underAirlock && !anyRead && len(m.Rules) > 0 {
			probs = append(probs, fmt.Sprintf("%s: package %s is not read: airlock evaluates %s, and no rule it reads refers to this package, so none of its rules apply%s",
				loc(m.Package.Location, file), pkg, policy.Query, didYouMeanPackage(pkg)))
		}
		for _, r := range m.Rules {
			name := ruleName(r)
			switch {
			case decidingSets[name] && !inAirlock:
				probs = append(probs, fmt.Sprintf("%s: %s is defined in package %s, but only package airlock's %s is read: move the rule to package airlock",
					loc(r.Location, file), name, pkg, name))
			case reached[r]:
			case !underAirlock && !anyRead:
				// reported once for the package
			default:
				probs = append(probs, fmt.Sprintf("%s: rule %s in package %s is never read: airlock evaluates %s, and neither it nor any rule it reads refers to %s%s",
					loc(r.Location, file), name, pkg, policy.Query, name, didYouMeanRule(name, names, inAirlock)))
			}
		}
	}
	return probs
}

func ruleName(r *ast.Rule) string {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return string(r.Head.Name)
	}
	return ref.String()
}

func loc(l *ast.Location, file string) string {
	if l == nil {
		return file
	}
	if l.File != "" {
		file = l.File
	}
	return fmt.Sprintf("%s:%d", file, l.Row)
}

func didYouMeanRule(name string, read []string, inAirlock bool) string {
	if !inAirlock {
		return ""
	}
	return policy.DidYouMean(name, append(read, "deny", "warn", "requirement"))
}

func didYouMeanPackage(pkg string) string {
	if s := policy.DidYouMean(pkg, []string{"airlock"}); s != "" {
		return strings.Replace(s, "mean airlock", "mean package airlock", 1)
	}
	return " (airlock's rules are in package airlock)"
}
