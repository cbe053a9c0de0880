package report

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/policy"
)

// A claim or a policy message cannot change the structure of what people read.
func TestHostileTextIsEscaped(t *testing.T) {
	hostile := "main|evil\n## fake heading <img src=x onerror=alert(1)> `code` [link](http://x)\x1b[2J"
	res := &gate.Result{
		Evidence: evidence.Evidence{
			Request:  evidence.Request{Environment: "production"},
			Identity: evidence.Identity{Verified: true, Claims: &identity.Claims{Repository: "acme/x", Ref: hostile}},
		},
		Decision: policy.Decision{Reasons: []policy.Reason{{Control: "C1", Message: hostile}}},
	}
	var md strings.Builder
	if err := Markdown(&md, res); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, bad := range []string{"<img", "\n## fake", "main|evil", "[link](http", "\x1b"} {
		if strings.Contains(out, bad) {
			t.Errorf("markdown carries %q unescaped:\n%s", bad, out)
		}
	}
	var term strings.Builder
	if err := Terminal(&term, res); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(term.String(), "\x1b") || strings.Contains(term.String(), "\n## fake") {
		t.Errorf("terminal report carries control characters:\n%q", term.String())
	}
}

func TestUnverifiedShowsWhy(t *testing.T) {
	res := &gate.Result{Evidence: evidence.Evidence{Identity: evidence.Identity{Error: "expired at 2026-06-13T19:06:04Z"}}}
	var md strings.Builder
	if err := Markdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "not verified (expired at 2026-06-13T19:06:04Z)") || !strings.Contains(md.String(), "DENY") {
		t.Fatalf("%s", md.String())
	}
}
