// Package fault classifies errors by who must act on them, so that exactly one
// place (internal/cli/exitcode.go) turns them into exit codes.
//
// A deny is never an error: it is a policy.Decision value. Errors here mean
// airlock could not decide, and so they can never end in exit 0.
package fault

import (
	"errors"
	"fmt"
)

// Kind says who must act on a failure.
type Kind int

const (
	// KindUnclassified is any error nobody classified. It maps to an
	// operational failure: never to success, never to a deny.
	KindUnclassified Kind = iota
	// KindUsage is a bad flag, argument or missing runner variable.
	KindUsage
	// KindConfig is a malformed input, unreadable file or broken policy.
	KindConfig
	// KindOperational is a failure of something airlock depends on
	// (network, API, issuer, signing service).
	KindOperational
)

func (k Kind) String() string {
	switch k {
	case KindUsage:
		return "usage"
	case KindConfig:
		return "config"
	case KindOperational:
		return "operational"
	default:
		return "unclassified"
	}
}

// Error carries a Kind and wraps the underlying error unchanged.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Usage marks err as a usage error (exit 2).
func Usage(err error) error { return wrap(KindUsage, err) }

// Config marks err as a configuration or policy error (exit 2).
func Config(err error) error { return wrap(KindConfig, err) }

// Operational marks err as an operational failure (exit 3).
func Operational(err error) error { return wrap(KindOperational, err) }

// Usagef formats a usage error; %w wraps as in fmt.Errorf.
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// Configf formats a configuration error; %w wraps as in fmt.Errorf.
func Configf(format string, a ...any) error { return Config(fmt.Errorf(format, a...)) }

// Operationalf formats an operational error; %w wraps as in fmt.Errorf.
func Operationalf(format string, a ...any) error { return Operational(fmt.Errorf(format, a...)) }

// KindOf reports the outermost classification of err.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return KindUnclassified
}
