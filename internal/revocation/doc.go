// Package revocation proves, by asking each issuer, that the credentials used
// in QA are dead before production activates (control C2), and records facts
// about the QA identities so that policy can check the production identity is
// a new one (control C3).
//
// Trust boundary: the issuers' answers are untrusted input. Only a
// well-formed, explicit answer counts: RFC 7662 `{"active": false}`, a GitHub
// 401 with GitHub's error shape, a Vault 403 with Vault's error shape, or a
// JWT that is expired or on a deny list. Everything else — network errors,
// timeouts, 5xx after bounded retries, redirects, unexpected statuses or
// bodies — is recorded as StatusUnknown, never StatusRevoked. The package
// records facts and never decides: policy (policies/revocation.rego) does.
//
// Secrets: the YAML configuration names environment variables, never
// values. Values are read once through an injected getenv (Declaration.Resolve)
// and kept in a type that formats as "[redacted]"; they are never put into a
// Result, an error or a log line, and CheckAll scrubs any Detail that would
// contain one. Response bodies are parsed, never recorded.
package revocation
