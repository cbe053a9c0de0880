package identity_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/identity"
)

func TestParseSubject(t *testing.T) {
	tests := []struct {
		sub  string
		want *identity.Subject // nil = error
	}{
		{"repo:octo-org/octo-repo:environment:prod",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "prod"}},
		{"repo:octo-org/octo-repo:environment:Production%3AV1",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "Production:V1"}},
		{"repo:octo-org/octo-repo:environment:a%3ab%3Ac",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "a:b:c"}},
		{"repo:octo-org/octo-repo:environment:100%25",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "100%25"}},
		{"repo:octo-org/octo-repo:ref:refs/heads/main",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "ref", Value: "refs/heads/main"}},
		{"repo:octo-org/octo-repo:ref:refs/tags/v1.2.3",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "ref", Value: "refs/tags/v1.2.3"}},
		{"repo:octo-org/octo-repo:pull_request",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "pull_request"}},
		{"repo:octo-org@65/octo-repo@74:ref:refs/heads/main",
			&identity.Subject{Owner: "octo-org", OwnerID: "65", Repo: "octo-repo", RepoID: "74", Context: "ref", Value: "refs/heads/main", Immutable: true}},
		{"repo:owner@123/repo@456:environment:prod%3Aeu",
			&identity.Subject{Owner: "owner", OwnerID: "123", Repo: "repo", RepoID: "456", Context: "environment", Value: "prod:eu", Immutable: true}},
		{"repo:owner@123/repo@456:pull_request",
			&identity.Subject{Owner: "owner", OwnerID: "123", Repo: "repo", RepoID: "456", Context: "pull_request", Immutable: true}},
		{"repo:sigstore-conformance/extremely-dangerous-public-oidc-beacon:ref:refs/heads/main",
			&identity.Subject{Owner: "sigstore-conformance", Repo: "extremely-dangerous-public-oidc-beacon", Context: "ref", Value: "refs/heads/main"}},
		// Customised templates: best effort.
		{"repo:octo-org/octo-repo:environment:prod:job_workflow_ref:octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "prod", Customized: true}},
		{"repository_owner_id:65:repository_id:74:environment:prod",
			&identity.Subject{OwnerID: "65", RepoID: "74", Context: "repository_owner_id", Value: "65", Customized: true}},
		{"repository:octo-org/octo-repo:pull_request",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "repository", Value: "octo-org/octo-repo", Customized: true}},
		{"repo:octo-org/octo-repo:context_less_key:x",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "context_less_key", Value: "x", Customized: true}},
		{"environment:prod:repo:octo-org/octo-repo",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Context: "environment", Value: "prod", Customized: true}},
		{"repo:octo-org/octo-repo",
			&identity.Subject{Owner: "octo-org", Repo: "octo-repo", Customized: true}},
		// Garbage.
		{"", nil},
		{"repo", nil},
		{"repo:", nil},
		{"repo:octo-org:ref:refs/heads/main", nil},
		{"repo:octo-org/octo-repo/extra:ref:refs/heads/main", nil},
		{"repo:/octo-repo:ref:refs/heads/main", nil},
		{"repo:octo-org/:ref:refs/heads/main", nil},
		{"repo:octo-org/octo-repo:environment", nil},
		{"repo:octo-org/octo-repo:environment:", nil},
		{"repo:octo-org/octo-repo:ref:", nil},
		{"repo:octo-org/octo-repo::prod", nil},
		{"repo:octo-org/octo-repo:ref:refs/heads/main:", nil},
		{"repo:octo-org@65/octo-repo:ref:refs/heads/main", nil},
		{"repo:octo-org/octo-repo@74:ref:refs/heads/main", nil},
		{"repo:octo-org@x/octo-repo@74:ref:refs/heads/main", nil},
		{"repo:octo-org@/octo-repo@74:ref:refs/heads/main", nil},
		{"repo:a/b:repo:c/d:ref:refs/heads/main", nil},
		{"repo:a/b:ref:refs/heads/main:ref:refs/heads/evil", nil},
		{":::", nil},
		{strings.Repeat("a", 9000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			got, err := identity.ParseSubject(tt.sub)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ParseSubject(%q) = %+v, want error", tt.sub, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubject(%q): %v", tt.sub, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSubject(%q)\n got %+v\nwant %+v", tt.sub, got, tt.want)
			}
		})
	}
}

// The docs example token (illustrative, unsigned) carries the one real
// environment subject; its parsed form must agree with its own claims.
func TestParseSubjectDocsExample(t *testing.T) {
	var c identity.Claims
	if err := json.Unmarshal(readData(t, "docs/docs-example-token.payload.json"), &c); err != nil {
		t.Fatal(err)
	}
	s, err := identity.ParseSubject(c.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if s.Owner+"/"+s.Repo != c.Repository || s.Context != "environment" || s.Value != c.Environment || s.Customized {
		t.Errorf("sub %q parsed as %+v; claims repository %q environment %q", c.Subject, s, c.Repository, c.Environment)
	}
	if len(c.Audience) != 1 || c.Audience[0] != "https://github.com/octo-org" {
		t.Errorf("Audience = %q", c.Audience)
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{
		"repo:octo-org/octo-repo:environment:prod",
		"repo:octo-org/octo-repo:environment:Production%3AV1",
		"repo:owner@123/repo@456:ref:refs/heads/main",
		"repo:octo-org/octo-repo:pull_request",
		"repository_owner_id:65:environment:prod",
		"repo:a/b:repo:c/d",
		":",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sub string) {
		s, err := identity.ParseSubject(sub)
		if err != nil {
			if s != nil {
				t.Fatal("partial subject returned with an error")
			}
			return
		}
		if strings.ContainsAny(s.Owner+s.Repo, "/:") {
			t.Fatalf("owner/repo %q/%q carry separators", s.Owner, s.Repo)
		}
		if s.Immutable && (s.OwnerID == "" || s.RepoID == "") {
			t.Fatalf("immutable subject without ids: %+v", s)
		}
		if !s.Customized {
			if !strings.HasPrefix(sub, "repo:") {
				t.Fatalf("default-shape subject not starting with repo: %q", sub)
			}
			if s.Owner == "" || s.Repo == "" {
				t.Fatalf("default-shape subject without owner/repo: %+v", s)
			}
			switch s.Context {
			case "environment", "ref":
				if s.Value == "" {
					t.Fatalf("%s without value", s.Context)
				}
			case "pull_request":
				if s.Value != "" {
					t.Fatalf("pull_request with value %q", s.Value)
				}
			default:
				t.Fatalf("default-shape subject with context %q", s.Context)
			}
		}
	})
}
