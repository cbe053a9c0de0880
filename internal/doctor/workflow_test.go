package doctor

import "testing"

func TestParseWorkflowFindsTheGateStep(t *testing.T) {
	wf, err := parseWorkflow([]byte(`
permissions: write-all
jobs:
  check:
    steps:
      - uses: airlock-dev/airlock@abc
        with: {mode: check}
  deploy:
    environment: {name: production, url: https://x}
    steps:
      - uses: actions/checkout@v4
      - uses: acme/airlock@0123456789abcdef0123456789abcdef01234567
        with:
          approvers: |
            1 of acme/security
            1 of acme/release
          min-approvals: 2
`))
	if err != nil || wf == nil {
		t.Fatalf("%v %v", wf, err)
	}
	if wf.job != "deploy" || wf.with["min-approvals"] != "2" || wf.with["approvers"] != "1 of acme/security\n1 of acme/release" {
		t.Errorf("%+v", wf)
	}
	if !idTokenWrite(wf.perms) {
		t.Error("write-all at the workflow's level grants id-token: write")
	}
	if m, ok := wf.env.(map[string]any); !ok || m["name"] != "production" {
		t.Errorf("environment %v", wf.env)
	}
}

func TestIDTokenWrite(t *testing.T) {
	for _, tc := range []struct {
		perms any
		want  bool
	}{
		{nil, false},
		{"read-all", false},
		{"write-all", true},
		{map[string]any{"id-token": "write"}, true},
		{map[string]any{"id-token": "read"}, false},
		{map[string]any{"contents": "write"}, false},
	} {
		if got := idTokenWrite(tc.perms); got != tc.want {
			t.Errorf("%v: %v", tc.perms, got)
		}
	}
}

func TestNoGateStep(t *testing.T) {
	for _, src := range []string{
		"jobs:\n  t:\n    steps:\n      - run: make\n",
		"jobs:\n  c:\n    steps:\n      - uses: airlock-dev/airlock@x\n        with:\n          mode: check\n",
	} {
		if wf, err := parseWorkflow([]byte(src)); err != nil || wf != nil {
			t.Errorf("%q: %+v %v", src, wf, err)
		}
	}
	if _, err := parseWorkflow([]byte("jobs: [\n")); err == nil {
		t.Error("malformed YAML parsed")
	}
}

func TestScopeAllowed(t *testing.T) {
	p := []string{"kb:read", "tickets:*"}
	for s, want := range map[string]bool{"kb:read": true, "kb:write": false, "tickets:write": true, "ticket": false} {
		if scopeAllowed(s, p) != want {
			t.Errorf("%s", s)
		}
	}
}
