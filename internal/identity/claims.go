package identity

import (
	"encoding/json"
	"errors"
)

// Claims are the facts about a GitHub Actions run that airlock trusts. They are
// filled ONLY from a token whose signature, issuer, audience and validity window
// were verified; GITHUB_* variables are hints that are cross-checked against
// them, never a source.
//
// GitHub encodes every numeric-looking claim except exp/iat/nbf as a JSON
// string, so they are strings here too.
type Claims struct {
	Issuer               string   `json:"iss"`
	Subject              string   `json:"sub"`
	Audience             Audience `json:"aud"`
	IssuedAt             int64    `json:"iat"`
	NotBefore            int64    `json:"nbf"`
	Expiry               int64    `json:"exp"`
	JTI                  string   `json:"jti,omitempty"`
	Repository           string   `json:"repository"`
	RepositoryID         string   `json:"repository_id"`
	RepositoryOwner      string   `json:"repository_owner"`
	RepositoryOwnerID    string   `json:"repository_owner_id"`
	RepositoryVisibility string   `json:"repository_visibility,omitempty"`
	Ref                  string   `json:"ref"`
	RefType              string   `json:"ref_type"`
	RefProtected         string   `json:"ref_protected,omitempty"`
	SHA                  string   `json:"sha"`
	Environment          string   `json:"environment,omitempty"`
	Workflow             string   `json:"workflow,omitempty"`
	WorkflowRef          string   `json:"workflow_ref"`
	WorkflowSHA          string   `json:"workflow_sha,omitempty"`
	JobWorkflowRef       string   `json:"job_workflow_ref"`
	JobWorkflowSHA       string   `json:"job_workflow_sha"`
	EventName            string   `json:"event_name"`
	RunID                string   `json:"run_id"`
	RunNumber            string   `json:"run_number,omitempty"`
	RunAttempt           string   `json:"run_attempt"`
	Actor                string   `json:"actor"`
	ActorID              string   `json:"actor_id"`
	RunnerEnvironment    string   `json:"runner_environment"`
	CheckRunID           string   `json:"check_run_id,omitempty"`
	BaseRef              string   `json:"base_ref,omitempty"`
	HeadRef              string   `json:"head_ref,omitempty"`
	EnvironmentNodeID    string   `json:"environment_node_id,omitempty"`
	Enterprise           string   `json:"enterprise,omitempty"`
	EnterpriseID         string   `json:"enterprise_id,omitempty"`
	IssuerScope          string   `json:"issuer_scope,omitempty"`
	// ParsedSubject is derived from Subject by ParseSubject; both the classic
	// "repo:owner/repo:…" and the immutable "repo:owner@ID/repo@ID:…" forms parse.
	ParsedSubject *Subject `json:"parsed_sub,omitempty"`
}

// Subject is the structure of a GitHub Actions `sub` claim.
type Subject struct {
	Owner   string `json:"owner"`
	OwnerID string `json:"owner_id,omitempty"` // only in the immutable form
	Repo    string `json:"repo"`
	RepoID  string `json:"repo_id,omitempty"` // only in the immutable form
	// Context is the part after the repository: "environment", "ref",
	// "pull_request", or the first key of a customised template.
	Context string `json:"context"`
	// Value is the decoded value of Context (environment name, ref), "%3A"
	// decoded to ":". Empty for pull_request.
	Value string `json:"value,omitempty"`
	// Immutable is true for the "owner@ID/repo@ID" form.
	Immutable bool `json:"immutable"`
	// Customized is true when sub does not have GitHub's default shape
	// (repo, then exactly one of environment/ref/pull_request). Such a subject
	// was parsed on a best-effort basis: policy should match the raw claim.
	Customized bool `json:"customized,omitempty"`
}

// Audience is the `aud` claim. RFC 7519 allows a single string or an array of
// strings; GitHub sends a string. It always marshals as an array.
type Audience []string

// UnmarshalJSON accepts a string or an array of strings and nothing else, so
// a number or object in `aud` makes the whole token malformed.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // absent, as encoding/json does for other types
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud: expected a string or an array of strings")
	}
	*a = Audience(many)
	return nil
}
