package policy

import (
	"fmt"
	"slices"
	"sort"
)

// Reason is one finding of a policy, tagged with the control it belongs to.
type Reason struct {
	Control string `json:"control"`
	Message string `json:"message"`
}

// Result of one control in a decision.
const (
	ResultPass       = "pass"
	ResultFail       = "fail"
	ResultNotChecked = "not-checked"
)

// ControlResult is one row of the controls table shown to people and signed.
type ControlResult struct {
	Control
	Result string `json:"result"`
}

// Decision is the outcome of policy evaluation. A deny is a Decision with
// Allow false and at least one reason; it is not an error.
type Decision struct {
	Allow         bool            `json:"allow"`
	Reasons       []Reason        `json:"reasons"`
	Warnings      []Reason        `json:"warnings"`
	Requirements  []Reason        `json:"requirements"`
	Controls      []ControlResult `json:"controls"`
	Grants        map[string]any  `json:"grants"`
	PolicyDigest  string          `json:"policy_digest"`
	PolicySources []string        `json:"policy_sources"`
}

// Verdict is "allow" or "deny".
func (d Decision) Verdict() string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

// Refuse turns d into a deny for control, whatever the policy concluded:
// for the checks the gate makes again in Go after the policy. Controls the
// policy passed stay passed; the grants go (they mean "approved" only in an
// allow).
func (d Decision) Refuse(control, msg string) Decision {
	var passed []string
	for _, c := range d.Controls {
		if c.Result == ResultPass && c.ID != control {
			passed = append(passed, c.ID)
		}
	}
	d.Allow = false
	d.Grants = map[string]any{}
	d.Reasons = append(slices.Clone(d.Reasons), Reason{Control: control, Message: msg})
	return d.withControls(passed)
}

// FailClosed is d as a deny under C5 for msg: what the engine returns when
// evaluation itself failed.
func (d Decision) FailClosed(msg string) Decision {
	d.Allow = false
	d.Reasons = append(d.Reasons, Reason{Control: "C5", Message: msg})
	return d.withControls(nil)
}

// FromDocument reads the policy's decision document (Query) into d. Anything unexpected is
// turned into a C5 deny reason rather than ignored.
func (d Decision) FromDocument(v any) Decision {
	doc, ok := v.(map[string]any)
	if !ok {
		return d.FailClosed(fmt.Sprintf("%s is malformed: expected an object, got %T", Query, v))
	}
	var problems []string
	allow, ok := doc["allow"].(bool)
	if !ok {
		problems = append(problems, fmt.Sprintf("allow: expected a boolean, got %T", doc["allow"]))
	}
	d.Reasons = readReasons(doc, "deny", &problems)
	d.Warnings = readReasons(doc, "warn", &problems)
	d.Requirements = readReasons(doc, "requirements", &problems)
	var checked []string
	if raw, ok := doc["checked"].([]any); ok {
		for i, c := range raw {
			id, ok := c.(string)
			if !ok || !knownControl(id) {
				problems = append(problems, fmt.Sprintf("checked[%d]: unknown control %v", i, c))
				continue
			}
			checked = append(checked, id)
		}
	} else {
		problems = append(problems, "checked: expected an array")
	}
	if g, ok := doc["grants"].(map[string]any); ok {
		d.Grants = g
	} else if doc["grants"] != nil {
		problems = append(problems, fmt.Sprintf("grants: expected an object, got %T", doc["grants"]))
	}
	for _, p := range problems {
		d.Reasons = append(d.Reasons, Reason{Control: "C5", Message: fmt.Sprintf("%s is malformed: %s", Query, p)})
	}
	// Belt and braces: the Rego says allow only without deny reasons; Go
	// says it again so that a user module defining allow cannot override a deny.
	d.Allow = ok && allow && len(d.Reasons) == 0
	if !d.Allow && len(d.Reasons) == 0 {
		d.Reasons = append(d.Reasons, Reason{Control: "C5", Message: "the policy did not allow this promotion and gave no reason"})
	}
	return d.withControls(checked)
}

func readReasons(doc map[string]any, key string, problems *[]string) []Reason {
	raw, ok := doc[key].([]any)
	if !ok {
		*problems = append(*problems, fmt.Sprintf("%s: expected an array, got %T", key, doc[key]))
		return nil
	}
	out := make([]Reason, 0, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		control, _ := m["control"].(string)
		message, _ := m["message"].(string)
		if !ok || !knownControl(control) || message == "" {
			*problems = append(*problems, fmt.Sprintf("%s[%d]: expected {\"control\": \"C1\"..\"C13\", \"message\": non-empty}, got %v", key, i, r))
			continue
		}
		out = append(out, Reason{Control: control, Message: message})
	}
	sortReasons(out)
	return out
}

func sortReasons(rs []Reason) {
	sort.SliceStable(rs, func(i, j int) bool {
		ci, cj := controlIndex(rs[i].Control), controlIndex(rs[j].Control)
		if ci != cj {
			return ci < cj
		}
		return rs[i].Message < rs[j].Message
	})
}

func controlIndex(id string) int {
	for i, c := range Controls {
		if c.ID == id {
			return i
		}
	}
	return len(Controls)
}

func (d Decision) withControls(checked []string) Decision {
	failed := map[string]bool{}
	for _, r := range d.Reasons {
		failed[r.Control] = true
	}
	isChecked := map[string]bool{}
	for _, c := range checked {
		isChecked[c] = true
	}
	d.Controls = make([]ControlResult, 0, len(Controls))
	for _, c := range Controls {
		res := ResultNotChecked
		switch {
		case failed[c.ID]:
			res = ResultFail
		case isChecked[c.ID]:
			res = ResultPass
		}
		d.Controls = append(d.Controls, ControlResult{Control: c, Result: res})
	}
	if d.Warnings == nil {
		d.Warnings = []Reason{}
	}
	if d.Requirements == nil {
		d.Requirements = []Reason{}
	}
	if d.Grants == nil {
		d.Grants = map[string]any{}
	}
	sortReasons(d.Reasons)
	return d
}
