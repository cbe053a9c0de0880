package cli

import (
	"errors"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

// Exit codes. This file is the only place that decides them.
const (
	ExitAllow       = 0 // allow, verified
	ExitDeny        = 1 // deny, verification failed
	ExitUsage       = 2 // usage, configuration or policy error
	ExitOperational = 3 // network, API, signing: airlock could not decide
)

// deniedError is returned by a command whose decision was a deny, or whose
// verification failed. It is a decision, not a malfunction.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

func denied(msg string) error { return &deniedError{msg: msg} }

// exitCode maps an error to the process exit code. nil is the only way to 0.
// An error nobody classified is an operational failure: never success, and
// never mistaken for a considered deny.
func exitCode(err error) int {
	if err == nil {
		return ExitAllow
	}
	var d *deniedError
	var v *identity.VerificationError
	switch {
	case errors.As(err, &d), errors.As(err, &v):
		return ExitDeny
	}
	switch fault.KindOf(err) {
	case fault.KindUsage, fault.KindConfig:
		return ExitUsage
	default:
		return ExitOperational
	}
}
