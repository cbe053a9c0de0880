package cli

import opaengine "github.com/airlock-dev/airlock/internal/engine"

// The tests run the command line as airlock-rego does, with the engine
// linked; dispatch_test.go runs the binaries as installed.
func init() { UseEngine(opaengine.OPA{}) }
