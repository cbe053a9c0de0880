package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/fault"
)

const fullYAML = `
- name: qa-hydra
  kind: oauth2
  token-env: QA_TOKEN
  introspection-url: https://auth.qa.example.com/oauth2/introspect
  revocation-url: https://auth.qa.example.com/oauth2/revoke
  client-id-env: QA_CLIENT_ID
  client-secret-env: QA_CLIENT_SECRET
  issuer: https://auth.qa.example.com/
  revoke: true
- name: qa-bearer
  kind: oauth2
  token-env: QA_TOKEN2
  introspection-url: https://auth.qa.example.com/oauth2/introspect
  client-auth: bearer
  bearer-token-env: INTROSPECT_TOKEN
- name: qa-admin
  kind: oauth2
  token-env: QA_TOKEN3
  introspection-url: http://127.0.0.1:4445/admin/oauth2/introspect
- name: qa-gh
  kind: github-token
  token-env: QA_GH_TOKEN
- name: qa-ghes
  kind: github-token
  token-env: QA_GHES_TOKEN
  api-url: https://ghes.example.com/api/v3/
  revoke: true
- name: qa-vault
  kind: vault
  token-env: QA_VAULT_TOKEN
  api-url: https://vault.qa.example.com:8200
  revoke: false
  accessor: 2c84f488-c8f5-7ad0-4b7e-1a5ec4cd4bd1
  operator-token-env: QA_VAULT_OPERATOR
- name: qa-jwt
  kind: jwt
  token-env: QA_JWT
  jwks-url: https://auth.qa.example.com/.well-known/jwks.json
  deny-list: /etc/airlock/denied-jtis.txt
  issuer: https://auth.qa.example.com/
`

func TestParseCredentialsValid(t *testing.T) {
	d, err := ParseCredentials("qa-credentials", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	if d.None || len(d.Credentials) != 7 {
		t.Fatalf("expected 7 credentials, got none=%v len=%d", d.None, len(d.Credentials))
	}
	want := []struct {
		name       string
		kind       Kind
		clientAuth string
		api        string
		revoke     bool
	}{
		{"qa-hydra", KindOAuth2, ClientAuthBasic, "", true},
		{"qa-bearer", KindOAuth2, ClientAuthBearer, "", false},
		{"qa-admin", KindOAuth2, ClientAuthNone, "", false},
		{"qa-gh", KindGitHubToken, "", DefaultGitHubAPI, false},
		{"qa-ghes", KindGitHubToken, "", "https://ghes.example.com/api/v3", true},
		{"qa-vault", KindVault, "", "https://vault.qa.example.com:8200", false},
		{"qa-jwt", KindJWT, "", "", false},
	}
	for i, w := range want {
		c := d.Credentials[i]
		if c.Name != w.name || c.Kind != w.kind || c.ClientAuth != w.clientAuth || c.APIURL != w.api || c.Revoke != w.revoke {
			t.Errorf("[%d]: expected %+v, got name=%q kind=%q auth=%q api=%q revoke=%v", i, w, c.Name, c.Kind, c.ClientAuth, c.APIURL, c.Revoke)
		}
	}
	if d.Credentials[0].Line != 2 || d.Credentials[1].Line != 11 {
		t.Errorf("expected entry lines 2 and 11, got %d and %d", d.Credentials[0].Line, d.Credentials[1].Line)
	}
}

func TestParseCredentialsNone(t *testing.T) {
	for _, in := range []string{"none", "  none\n", "\nnone"} {
		d, err := ParseCredentials("qa-credentials", []byte(in))
		if err != nil || !d.None || len(d.Credentials) != 0 {
			t.Errorf("%q: expected declared none, got %+v, %v", in, d, err)
		}
	}
	d, err := ParseCredentials("qa-credentials", []byte("[]"))
	if err != nil || d.None || d.Credentials == nil || len(d.Credentials) != 0 {
		t.Errorf(`"[]": expected an empty list (not none), got %+v, %v`, d, err)
	}
}

func TestParseCredentialsErrors(t *testing.T) {
	oauth := "- name: a\n  kind: oauth2\n  token-env: T\n  introspection-url: https://x.example/i\n"
	vault := "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n"
	cases := []struct {
		name, in, want string
	}{
		{"empty", "  \n", "qa-credentials: empty"},
		{"not a list", "name: a\n", "qa-credentials: expected a YAML list of credentials or none, got a mapping (line 1)"},
		{"scalar", "nothing\n", `got str "nothing"`},
		{"bad yaml", "- name: [\n", "qa-credentials: "},
		{"two docs", oauth + "---\n- x\n", "more than one YAML document"},
		{"entry not a map", "- just-a-string\n", "qa-credentials[0]: expected a mapping"},
		{"unknown kind", oauth + strings.Replace(oauth, "name: a", "name: b", 1) + "- name: c\n  kind: oath2\n  token-env: T\n", `qa-credentials[2].kind: unknown kind "oath2" (expected oauth2, github-token, vault or jwt) (line 10)`},
		{"missing kind", "- name: a\n  token-env: T\n", "qa-credentials[0].kind: required"},
		{"unknown field", "- name: a\n  kind: vault\n  token: hunter2\n", `qa-credentials[0]: unknown field "token" (line 3)`},
		{"missing name", "- kind: vault\n  token-env: T\n  api-url: https://v.example\n", "qa-credentials[0].name: required"},
		{"bad name", "- name: 'a b'\n  kind: vault\n", `qa-credentials[0].name: "a b": use 1-64`},
		{"duplicate name", oauth + oauth, `qa-credentials[1].name: "a" already used by qa-credentials[0]`},
		{"duplicate field", "- name: a\n  name: b\n", "qa-credentials[0].name: set twice (line 2)"},
		{"missing token-env", "- name: a\n  kind: vault\n  api-url: https://v.example\n", "qa-credentials[0].token-env: required"},
		{"secret instead of env name", "- name: a\n  kind: vault\n  api-url: https://v.example\n  token-env: hvs.CAESIJ-value\n", `qa-credentials[0].token-env: "hvs.CAESIJ-value" is not an environment variable name`},
		{"field of another kind", oauth + "  api-url: https://x.example\n", "qa-credentials[0].api-url: not used by kind oauth2 (line 5)"},
		{"jwt revoke", "- name: a\n  kind: jwt\n  token-env: T\n  revoke: true\n", "qa-credentials[0].revoke: not supported for kind jwt"},
		{"revoke not bool", oauth + "  revoke: yes please\n", `qa-credentials[0].revoke: expected true or false, got "yes please"`},
		{"revoke quoted", oauth + "  revoke: 'true'\n", `qa-credentials[0].revoke: expected true or false`},
		{"list value", "- name: [a]\n", "qa-credentials[0].name: expected a string, got a list"},
		{"missing introspection", "- name: a\n  kind: oauth2\n  token-env: T\n", "qa-credentials[0].introspection-url: required for kind oauth2"},
		{"revoke needs revocation-url", oauth + "  revoke: true\n", "qa-credentials[0].revocation-url: required when revoke is true"},
		{"basic needs both", oauth + "  client-id-env: ID\n", "qa-credentials[0].client-auth: basic needs client-id-env and client-secret-env"},
		{"bearer needs env", oauth + "  client-auth: bearer\n", "qa-credentials[0].client-auth: bearer needs bearer-token-env"},
		{"unknown client-auth", oauth + "  client-auth: mtls\n", `qa-credentials[0].client-auth: unknown client-auth "mtls"`},
		{"none with creds", oauth + "  client-auth: none\n  bearer-token-env: B\n", "qa-credentials[0].client-auth: none does not use"},
		{"plain http remote", "- name: a\n  kind: oauth2\n  token-env: T\n  introspection-url: http://auth.example.com/i\n", `qa-credentials[0].introspection-url: expected https, got http to "auth.example.com"`},
		{"userinfo", "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://u:p@v.example\n", "qa-credentials[0].api-url: must not contain user:password"},
		{"relative url", "- name: a\n  kind: vault\n  token-env: T\n  api-url: /v1\n", "qa-credentials[0].api-url: expected an absolute https URL"},
		{"ftp", "- name: a\n  kind: vault\n  token-env: T\n  api-url: ftp://v.example\n", `qa-credentials[0].api-url: expected an https URL, got scheme "ftp"`},
		{"vault needs api", "- name: a\n  kind: vault\n  token-env: T\n", "qa-credentials[0].api-url: required for kind vault"},
		{"jwks both", "- name: a\n  kind: jwt\n  token-env: T\n  jwks-url: https://x.example/j\n  jwks-file: j.json\n", "qa-credentials[0].jwks-file: set jwks-url or jwks-file, not both"},
		{"deny-list http", "- name: a\n  kind: jwt\n  token-env: T\n  deny-list: http://x.example/deny\n", "qa-credentials[0].deny-list: expected https"},
		{"empty string", "- name: a\n  kind: ''\n", "qa-credentials[0].kind: empty"},
		{"accessor without operator", vault + "  accessor: 2c84f488\n", "qa-credentials[0].operator-token-env: required with accessor"},
		{"operator without accessor", vault + "  operator-token-env: OP\n", "qa-credentials[0].accessor: required with operator-token-env"},
		{"token as accessor", vault + "  accessor: hvs.CAESIJ\n  operator-token-env: OP\n", "qa-credentials[0].accessor: this looks like a Vault token"},
		{"odd accessor", vault + "  accessor: 'a b'\n  operator-token-env: OP\n", "qa-credentials[0].accessor: expected a Vault token accessor"},
		{"operator value not name", vault + "  accessor: a1\n  operator-token-env: hvs.x-y\n", "qa-credentials[0].operator-token-env: \"hvs.x-y\" is not an environment variable name"},
		{"empty declared subject", oauth + "  declared-subject: ''\n", "qa-credentials[0].declared-subject: empty"},
		{"accessor on github-token", "- name: a\n  kind: github-token\n  token-env: T\n  accessor: a1\n", "qa-credentials[0].accessor: not used by kind github-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCredentials("qa-credentials", []byte(tc.in))
			if err == nil {
				t.Fatalf("expected an error containing %q, got none", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("expected an error containing %q, got %q", tc.want, err)
			}
			if fault.KindOf(err) != fault.KindConfig {
				t.Errorf("expected a config error, got %v", fault.KindOf(err))
			}
		})
	}
}

func TestResolve(t *testing.T) {
	d, err := ParseCredentials("qa-credentials", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"QA_TOKEN": "tok-1-s3cr3t", "QA_CLIENT_ID": "qa-client", "QA_CLIENT_SECRET": "client-s3cr3t",
		"QA_TOKEN2": "tok-2-s3cr3t", "INTROSPECT_TOKEN": "bearer-s3cr3t", "QA_TOKEN3": "tok-3-s3cr3t",
		"QA_GH_TOKEN": "ghp_s3cr3t", "QA_GHES_TOKEN": "ghs_s3cr3t", "QA_VAULT_TOKEN": "hvs.s3cr3t", "QA_VAULT_OPERATOR": "hvs.operator-s3cr3t", "QA_JWT": "eyJ.s3cr3t.x",
	}
	var masked []string
	r, err := d.Resolve(func(k string) string { return env[k] }, func(s string) { masked = append(masked, s) })
	if err != nil {
		t.Fatal(err)
	}
	wantMasked := []string{"tok-1-s3cr3t", "client-s3cr3t", "tok-2-s3cr3t", "bearer-s3cr3t", "tok-3-s3cr3t", "ghp_s3cr3t", "ghs_s3cr3t", "hvs.s3cr3t", "hvs.operator-s3cr3t", "eyJ.s3cr3t.x"}
	if strings.Join(masked, ",") != strings.Join(wantMasked, ",") {
		t.Errorf("expected masked %v, got %v", wantMasked, masked)
	}
	if d.Credentials[0].sec != nil {
		t.Error("Resolve changed its receiver")
	}
	if r.Credentials[0].sec == nil || r.Credentials[0].sec.token.reveal() != "tok-1-s3cr3t" || r.Credentials[0].sec.clientID != "qa-client" {
		t.Error("resolved credential does not hold the values")
	}
	// No secret may show in any formatting of the resolved credentials.
	assertNoSecrets(t, wantMasked, r, r.Credentials[0])

	for _, missing := range []string{"QA_TOKEN", "QA_CLIENT_SECRET", "INTROSPECT_TOKEN", "QA_VAULT_OPERATOR", "QA_JWT"} {
		val := env[missing]
		_, err := d.Resolve(func(k string) string {
			if k == missing {
				return ""
			}
			return env[k]
		}, nil)
		if err == nil || !strings.Contains(err.Error(), "environment variable "+missing+" is not set") {
			t.Errorf("%s unset: expected an error naming it, got %v", missing, err)
			continue
		}
		if fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%s unset: expected a config error, got %v", missing, fault.KindOf(err))
		}
		assertNoSecrets(t, wantMasked, err.Error())
		_ = val
	}
}

func TestParseProductionIdentity(t *testing.T) {
	p, err := ParseProductionIdentity("production-identity", []byte("issuer: https://auth.example.com\nsubject: agent-prod\nclient-id: prod-client\nspiffe-id: spiffe://example.com/agent\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *p != (ProductionIdentity{Issuer: "https://auth.example.com", Subject: "agent-prod", ClientID: "prod-client", SPIFFEID: "spiffe://example.com/agent"}) {
		t.Errorf("unexpected %+v", *p)
	}
	p, err = ParseProductionIdentity("production-identity", []byte(`{"client_id": "prod-client", "issuer": "https://auth.example.com"}`))
	if err != nil || p.ClientID != "prod-client" {
		t.Fatalf("JSON form: %+v, %v", p, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"- a\n", "expected a map"},
		{"subject: a\nrole: admin\n", `unknown field "role" (line 2`},
		{"subject: 1\n", "production-identity.subject: expected a non-empty string, got int"},
		{"subject: ''\n", "expected a non-empty string"},
		{"issuer: https://x.example\n", "set at least one of subject, client-id, spiffe-id"},
		{"client-id: a\nclient_id: b\n", "production-identity.client_id: set twice"},
		{"{", "production-identity: "},
	} {
		_, err := ParseProductionIdentity("production-identity", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || fault.KindOf(err) != fault.KindConfig {
			t.Errorf("%q: expected a config error containing %q, got %v", tc.in, tc.want, err)
		}
	}
}

// TestSchemaAgreesWithParser checks schema/qa-credentials.schema.json against
// the parser: every case the parser accepts the schema accepts, and the
// structural mistakes the schema can express it rejects too. The schema is
// evaluated with OPA's json.match_schema, the validator already in go.mod.
func TestSchemaAgreesWithParser(t *testing.T) {
	schemaPath := filepath.Join(repoRoot(t), "schema", "qa-credentials.schema.json")
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var schemaDoc any
	if err := json.Unmarshal(schema, &schemaDoc); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	q, err := rego.New(rego.Query("[ok, errs] := json.match_schema(input.doc, input.schema)")).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	matches := func(t *testing.T, in string) bool {
		var v any
		if strings.TrimSpace(in) == "none" {
			v = "none"
		} else if err := yaml.Unmarshal([]byte(in), &v); err != nil {
			t.Fatalf("yaml: %v", err)
		}
		// match_schema parses a string document as JSON: hand it JSON text.
		doc, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := q.Eval(context.Background(), rego.EvalInput(map[string]any{"doc": string(doc), "schema": schemaDoc}))
		if err != nil || len(rs) != 1 {
			t.Fatalf("match_schema: %v %v", rs, err)
		}
		return rs[0].Bindings["ok"] == true
	}
	oauth := "- name: a\n  kind: oauth2\n  token-env: T\n  introspection-url: https://x.example/i\n"
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"full", fullYAML, true},
		{"none", "none", true},
		{"empty list", "[]", true},
		{"oauth2", oauth, true},
		{"unknown kind", "- name: c\n  kind: oath2\n  token-env: T\n", false},
		{"unknown field", oauth + "  token: x\n", false},
		{"missing token-env", "- name: a\n  kind: vault\n  api-url: https://v.example\n", false},
		{"jwt revoke", "- name: a\n  kind: jwt\n  token-env: T\n  revoke: true\n", false},
		{"oauth2 api-url", oauth + "  api-url: https://x.example\n", false},
		{"vault without api-url", "- name: a\n  kind: vault\n  token-env: T\n", false},
		{"oauth2 without introspection", "- name: a\n  kind: oauth2\n  token-env: T\n", false},
		{"revoke without revocation-url", oauth + "  revoke: true\n", false},
		{"revoke string", oauth + "  revoke: 'true'\n", false},
		{"not a list", "name: a\n", false},
		{"env with value", "- name: a\n  kind: vault\n  token-env: hvs.x-y\n  api-url: https://v.example\n", false},
		{"vault accessor", "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n  accessor: 2c84f488-c8f5\n  operator-token-env: OP\n", true},
		{"vault accessor alone", "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n  accessor: 2c84f488-c8f5\n", false},
		{"vault operator alone", "- name: a\n  kind: vault\n  token-env: T\n  api-url: https://v.example\n  operator-token-env: OP\n", false},
		{"accessor on oauth2", oauth + "  accessor: a1\n  operator-token-env: OP\n", false},
		{"declared identity", oauth + "  declared-subject: agent-qa\n  declared-client-id: qa-client\n", true},
		{"declared subject not a string", oauth + "  declared-subject: [a]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := ParseCredentials("qa-credentials", []byte(tc.in))
			if got := matches(t, tc.in); got != tc.ok {
				t.Errorf("schema: expected valid=%v, got %v", tc.ok, got)
			}
			if (perr == nil) != tc.ok {
				t.Errorf("parser: expected valid=%v, got error %v", tc.ok, perr)
			}
		})
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// assertNoSecrets fails when any secret appears in the JSON, %v or %+v
// rendering of any value, or in any error's message.
func assertNoSecrets(t *testing.T, secrets []string, values ...any) {
	t.Helper()
	for i, v := range values {
		var renderings []string
		if err, ok := v.(error); ok {
			renderings = append(renderings, err.Error())
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				renderings = append(renderings, e.Error())
			}
		}
		if s, ok := v.(string); ok {
			renderings = append(renderings, s)
		}
		if b, err := json.Marshal(v); err == nil {
			renderings = append(renderings, string(b))
		}
		renderings = append(renderings, sprint("%v", v), sprint("%+v", v), sprint("%#v", v))
		for _, r := range renderings {
			for _, s := range secrets {
				if s != "" && strings.Contains(r, s) {
					t.Errorf("value %d leaks a secret (%d bytes) in: %.200s", i, len(s), r)
				}
			}
		}
	}
}
