package revocation

import (
	"strings"
	"testing"
)

// FuzzParseInputs: qa-credentials and production-identity are workflow
// YAML. Whatever the bytes, each parses or fails with an error that names
// the input, and never panics; a parsed declaration lists nothing or names
// every credential.
func FuzzParseInputs(f *testing.F) {
	for _, s := range []string{
		"none",
		"- name: qa-deploy-token\n  kind: github-token\n  token-env: QA_DEPLOY_TOKEN\n",
		"- name: hydra\n  kind: oauth2\n  token-env: T\n  introspection-url: https://idp.example.com/introspect\n",
		"- name: j\n  kind: jwt\n  token-env: T\n  deny-list: [a, b]\n",
		"issuer: https://idp.example.com\nsubject: agent:prod\nclient-id: prod",
		"{issuer: 1}",
		"- &a [*a]",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseCredentials("qa-credentials", []byte(s))
		if err != nil && !strings.Contains(err.Error(), "qa-credentials") {
			t.Fatalf("ParseCredentials(%q): error does not name the input: %v", s, err)
		}
		if err == nil {
			for i, c := range d.Credentials {
				if c.Name == "" {
					t.Fatalf("ParseCredentials(%q): credential %d has no name", s, i)
				}
			}
		}
		if _, err := ParseProductionIdentity("production-identity", []byte(s)); err != nil && !strings.Contains(err.Error(), "production-identity") {
			t.Fatalf("ParseProductionIdentity(%q): error does not name the input: %v", s, err)
		}
	})
}
