//go:build floor_opa

package main

// Built with -tags floor_opa, the floor also links OPA's rego package, as
// airlock does, and so runs OPA's package initialisation and maps its code:
// BenchmarkVerifyProcess's floor+opa, what OPA alone adds to a verifying
// process that never evaluates a policy.
import _ "github.com/open-policy-agent/opa/v1/rego"
