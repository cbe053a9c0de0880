package opa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strings"
	"sync"

	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/policies"
)

// The params schema. Its keys are the embedded defaults' (policies/params/
// *.json): a topic or key the defaults do not have is one no default rule
// reads, and a user's value for it would be dropped without a word — a
// typo that leaves the gate on a looser default. Types come from the
// defaults' values; paramRules narrows them (whole numbers, minimums,
// array elements) in this one place.
//
// The schema is airlock's, not the policy directory's: a directory with its
// own main.rego, which replaces the defaults, is held to it too. Letting its
// own params files define the schema would accept every typo in them, the
// very mistake this check exists for; new thresholds of a complete policy
// set belong in its Rego, where review sees them.

type paramKind int

const (
	kindBool paramKind = iota
	kindNumber
	kindInteger
	kindString
	kindArray
	kindObject
)

func (k paramKind) String() string {
	return [...]string{"a boolean", "a number", "a whole number", "a string", "an array", "an object"}[k]
}

type paramSpec struct {
	kind   paramKind
	min    *float64
	elem   *paramSpec            // kindArray
	keys   map[string]*paramSpec // kindObject
	closed bool                  // kindObject: only keys may appear (all objects derived from the defaults are)
}

func atLeast(n float64) *float64 { return &n }

// paramRules refines the types derived from the defaults, by
// "topic.key[.key]". Every path must exist in the defaults (TestParamRules).
var paramRules = map[string]paramSpec{
	"agent.approvals_on_change":         {kind: kindInteger, min: atLeast(0)},
	"agent.approvals_on_escalation":     {kind: kindInteger, min: atLeast(0)},
	"agent.approvals_when_qa_live":      {kind: kindInteger, min: atLeast(0)},
	"agent.max_credential_ttl_seconds":  {kind: kindInteger, min: atLeast(1)},
	"agent.allowed_scopes.synthetic":    {kind: kindArray, elem: &paramSpec{kind: kindString}},
	"agent.allowed_scopes.internal":     {kind: kindArray, elem: &paramSpec{kind: kindString}},
	"agent.allowed_scopes.confidential": {kind: kindArray, elem: &paramSpec{kind: kindString}},
	"agent.allowed_scopes.customer":     {kind: kindArray, elem: &paramSpec{kind: kindString}},
	// The fields agent_identity.rego compares (agent_identity_fields).
	"agent.former_qa_identities": {kind: kindArray, elem: &paramSpec{kind: kindObject, closed: true, keys: map[string]*paramSpec{
		"subject": {kind: kindString}, "client_id": {kind: kindString}, "spiffe_id": {kind: kindString},
	}}},
	"approvals.min_approvals":                {kind: kindInteger, min: atLeast(1)},
	"approvals.max_age_seconds":              {kind: kindInteger, min: atLeast(1)},
	"attest.max_decision_ttl_seconds":        {kind: kindInteger, min: atLeast(1)},
	"revocation.shared_issuer_min_approvers": {kind: kindInteger, min: atLeast(1)},
}

var (
	schemaOnce sync.Once
	schema     map[string]*paramSpec // topic → object spec
	schemaErr  error
)

// paramsSchema is built once from the embedded defaults and paramRules.
func paramsSchema() (map[string]*paramSpec, error) {
	schemaOnce.Do(func() { schema, schemaErr = buildSchema(policies.FS, paramRules) })
	return schema, schemaErr
}

func buildSchema(fsys fs.FS, rules map[string]paramSpec) (map[string]*paramSpec, error) {
	files, err := fs.Glob(fsys, "params/*.json")
	if err != nil {
		return nil, err
	}
	out := map[string]*paramSpec{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("default %s: %w", f, err)
		}
		out[strings.TrimSuffix(path.Base(f), ".json")] = deriveSpec(v)
	}
	for p, r := range rules {
		parts := strings.Split(p, ".")
		parent, ok := out[parts[0]], true
		for _, k := range parts[1 : len(parts)-1] {
			if parent, ok = parent.keys[k]; !ok {
				break
			}
		}
		last := parts[len(parts)-1]
		if !ok || parent == nil || parent.keys[last] == nil {
			return nil, fmt.Errorf("params rule %s: no such key in the default params", p)
		}
		r := r
		if r.kind == kindObject && r.keys == nil {
			r.keys, r.closed = parent.keys[last].keys, true
		}
		parent.keys[last] = &r
	}
	return out, nil
}

func deriveSpec(v any) *paramSpec {
	switch x := v.(type) {
	case bool:
		return &paramSpec{kind: kindBool}
	case float64:
		return &paramSpec{kind: kindNumber}
	case string:
		return &paramSpec{kind: kindString}
	case []any:
		s := &paramSpec{kind: kindArray}
		if len(x) > 0 {
			s.elem = deriveSpec(x[0])
		}
		return s
	case map[string]any:
		s := &paramSpec{kind: kindObject, closed: true, keys: map[string]*paramSpec{}}
		for k, e := range x {
			s.keys[k] = deriveSpec(e)
		}
		return s
	}
	return &paramSpec{kind: kindString} // null in a default: nothing but a string fits
}

// jsonNode is a decoded JSON value with the line it starts on.
type jsonNode struct {
	line  int
	value any // bool, float64, string, nil, []*jsonNode, []jsonMember
}

type jsonMember struct {
	key string
	val *jsonNode
}

// decodeParams decodes one params file keeping each key's line, and refuses
// what encoding/json would accept silently: a repeated key (the last one
// would win) and anything after the top-level value.
func decodeParams(b []byte) (*jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(int(off), len(b))], []byte("\n")) }
	// tokenLine is the line of the token just read: skip the separators
	// before it (the decoder's offset is after the token).
	var node func() (*jsonNode, error)
	start := func() int {
		off := dec.InputOffset()
		for off < int64(len(b)) && strings.ContainsRune(" \t\r\n,:", rune(b[off])) {
			off++
		}
		return lineAt(off)
	}
	node = func() (*jsonNode, error) {
		line := start()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n := &jsonNode{line: line}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				var members []jsonMember
				seen := map[string]int{}
				for dec.More() {
					kline := start()
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					k := kt.(string)
					if first, dup := seen[k]; dup {
						return nil, &lineError{kline, fmt.Sprintf("%s: appears twice (first on line %d): only one value can apply", k, first)}
					}
					seen[k] = kline
					v, err := node()
					if err != nil {
						return nil, err
					}
					members = append(members, jsonMember{key: k, val: &jsonNode{line: kline, value: v.value}})
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				n.value = members
			case '[':
				var elems []*jsonNode
				for dec.More() {
					e, err := node()
					if err != nil {
						return nil, err
					}
					elems = append(elems, e)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				n.value = elems
			}
		case json.Number:
			f, err := t.Float64()
			if err != nil {
				return nil, &lineError{line, fmt.Sprintf("number %s: %v", t, err)}
			}
			n.value = f
		default:
			n.value = t
		}
		return n, nil
	}
	root, err := node()
	var syn *json.SyntaxError
	var le *lineError
	switch {
	case errors.As(err, &le):
		return nil, le
	case errors.As(err, &syn):
		return nil, &lineError{lineAt(syn.Offset), syn.Error()}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &lineError{lineAt(int64(len(b))), "unexpected end of JSON"}
	case err != nil:
		return nil, &lineError{lineAt(dec.InputOffset()), err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &lineError{start(), "more after the top-level object"}
	}
	return root, nil
}

// lineError is a problem at a line of a params file.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("%d: %s", e.line, e.msg) }

// plain turns a decoded node into the values encoding/json would give.
func (n *jsonNode) plain() any {
	switch v := n.value.(type) {
	case []jsonMember:
		m := make(map[string]any, len(v))
		for _, e := range v {
			m[e.key] = e.val.plain()
		}
		return m
	case []*jsonNode:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = e.plain()
		}
		return a
	}
	return n.value
}

// parseParamsFile decodes params/<topic>.json and checks it against the
// schema. Every problem is named "file:line: key: what is wrong".
func parseParamsFile(name, topic string, b []byte) (map[string]any, []string) {
	sch, err := paramsSchema()
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: params schema: %v", name, err)}
	}
	spec, ok := sch[topic]
	if !ok {
		return nil, []string{fmt.Sprintf("%s: unknown params topic %q%s (known topics: %s)", name, topic, policy.DidYouMean(topic, sortedKeys(sch)), strings.Join(sortedKeys(sch), ", "))}
	}
	root, err := decodeParams(b)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s:%v", name, err)}
	}
	if _, isObj := root.value.([]jsonMember); !isObj {
		return nil, []string{fmt.Sprintf("%s:%d: expected an object of %s thresholds, got %s", name, root.line, topic, jsonType(root.value))}
	}
	var probs []string
	checkParam(name, "", spec, root, &probs)
	if len(probs) > 0 {
		return nil, probs
	}
	return root.plain().(map[string]any), nil
}

func checkParam(file, key string, s *paramSpec, n *jsonNode, probs *[]string) {
	bad := func(format string, a ...any) {
		*probs = append(*probs, fmt.Sprintf("%s:%d: %s: ", file, n.line, key)+fmt.Sprintf(format, a...))
	}
	switch s.kind {
	case kindBool:
		if _, ok := n.value.(bool); !ok {
			bad("expected %s, got %s", s.kind, jsonType(n.value))
		}
	case kindString:
		if _, ok := n.value.(string); !ok {
			bad("expected %s, got %s", s.kind, jsonType(n.value))
		}
	case kindNumber, kindInteger:
		f, ok := n.value.(float64)
		switch {
		case !ok:
			bad("expected %s, got %s", s.kind, jsonType(n.value))
		case s.kind == kindInteger && f != math.Trunc(f):
			bad("expected %s, got %v", s.kind, f)
		case s.min != nil && f < *s.min:
			bad("expected at least %v, got %v", *s.min, f)
		}
	case kindArray:
		elems, ok := n.value.([]*jsonNode)
		if !ok {
			bad("expected %s, got %s", s.kind, jsonType(n.value))
			return
		}
		if s.elem == nil {
			return
		}
		for i, e := range elems {
			checkParam(file, fmt.Sprintf("%s[%d]", key, i), s.elem, e, probs)
		}
	case kindObject:
		members, ok := n.value.([]jsonMember)
		if !ok {
			bad("expected %s, got %s", s.kind, jsonType(n.value))
			return
		}
		known := sortedKeys(s.keys)
		for _, m := range members {
			sub := m.key
			if key != "" {
				sub = key + "." + m.key
			}
			ks, ok := s.keys[m.key]
			if !ok {
				if s.closed {
					hint := policy.DidYouMean(m.key, known)
					if hint == "" {
						hint = " (known keys: " + strings.Join(known, ", ") + ")"
						if len(known) == 0 {
							hint = " (this topic has no keys)"
						}
					}
					*probs = append(*probs, fmt.Sprintf("%s:%d: %s: unknown key%s", file, m.val.line, sub, hint))
				}
				continue
			}
			checkParam(file, sub, ks, m.val, probs)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []*jsonNode:
		return "an array"
	case []jsonMember:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
