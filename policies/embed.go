// Package policies holds airlock's default Rego policies. They are embedded in
// the binary so that a gate run never depends on files it did not ship with;
// go:embed cannot reach outside its package directory, hence this file here.
package policies

import "embed"

// FS holds every default policy module (*.rego), their tests (*_test.rego)
// and the default thresholds (params/*.json).
//
//go:embed *.rego params/*.json
var FS embed.FS
