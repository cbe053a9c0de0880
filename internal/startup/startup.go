// Package startup runs airlock's package initialisation on one processor.
//
// Before main runs, the packages airlock links (OPA, sigstore-go and what
// they pull in) allocate about 3 MB of package-level state: enough to start
// a garbage collection whose workers, on a second processor, cost more wall
// time than they save. For a short command (`airlock verify` on one bundle)
// that is a measurable part of the run: see docs/BENCHMARKS.md.
//
// Go initialises packages in import-path order among those whose imports are
// done. This package imports only runtime, so it runs before every heavy
// dependency (github.com/airlock-dev sorts before them). cmd/airlock and
// cmd/airlock-rego call Done first thing in main; nothing else imports this
// package.
package startup

import "runtime"

// procs is what the runtime chose (GOMAXPROCS, else the CPUs it may use).
var procs = runtime.GOMAXPROCS(1)

// Done gives the program its processors back. Without a GOMAXPROCS
// variable, the runtime's default (which follows CPU limits) is restored
// rather than a fixed number.
func Done(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.SetDefaultGOMAXPROCS()
		return
	}
	runtime.GOMAXPROCS(procs)
}
