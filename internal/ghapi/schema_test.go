package ghapi_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// checkSchema is a small, lenient OpenAPI 3.0 schema checker for the contract
// test: type, nullable, properties, required, items, enum, allOf; oneOf and
// anyOf pass when at least one branch matches (GitHub's own examples match
// several oneOf branches); unknown keywords and formats are ignored. v must be
// decoded with json.Decoder.UseNumber. It returns one line per violation.
func checkSchema(path string, schema map[string]any, v any) []string {
	if schema == nil {
		return nil
	}
	if v == nil {
		if schema["nullable"] == true || enumHas(schema, nil) {
			return nil
		}
		// A schema without any type constraint admits null.
		if _, typed := schema["type"]; !typed && schema["allOf"] == nil && schema["oneOf"] == nil && schema["anyOf"] == nil {
			return nil
		}
		return []string{path + ": null where the schema is not nullable"}
	}
	var errs []string
	if all, ok := schema["allOf"].([]any); ok {
		for i, s := range all {
			errs = append(errs, checkSchema(fmt.Sprintf("%s(allOf %d)", path, i), asMap(s), v)...)
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		branches, ok := schema[kw].([]any)
		if !ok {
			continue
		}
		var best []string
		matched := false
		for _, b := range branches {
			e := checkSchema(path, asMap(b), v)
			if len(e) == 0 {
				matched = true
				break
			}
			if best == nil || len(e) < len(best) {
				best = e
			}
		}
		if !matched {
			errs = append(errs, fmt.Sprintf("%s: matches no %s branch; closest fails with: %s", path, kw, strings.Join(best, "; ")))
		}
	}
	if t, ok := schema["type"].(string); ok && !hasType(t, v) {
		return append(errs, fmt.Sprintf("%s: expected %s, got %s", path, t, jsonKind(v)))
	}
	if enum, ok := schema["enum"].([]any); ok && !enumHas(schema, v) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, v, enum))
	}
	switch val := v.(type) {
	case map[string]any:
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if _, present := val[r.(string)]; !present {
					errs = append(errs, fmt.Sprintf("%s: required property %q missing", path, r))
				}
			}
		}
		if props, ok := schema["properties"].(map[string]any); ok {
			keys := make([]string, 0, len(props))
			for k := range props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if pv, present := val[k]; present {
					errs = append(errs, checkSchema(path+"."+k, asMap(props[k]), pv)...)
				}
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, it := range val {
				errs = append(errs, checkSchema(fmt.Sprintf("%s[%d]", path, i), items, it)...)
			}
		}
	}
	return errs
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func hasType(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		return ok && !strings.ContainsAny(n.String(), ".eE")
	default:
		return true // unknown type keyword: lenient
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number " + v.(json.Number).String()
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func enumHas(schema map[string]any, v any) bool {
	enum, ok := schema["enum"].([]any)
	if !ok {
		return false
	}
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) && (e == nil) == (v == nil) {
			return true
		}
	}
	return false
}
