package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"nil is the only allow", nil, ExitAllow},
		{"deny", denied("promotion denied"), ExitDeny},
		{"wrapped deny", fmt.Errorf("gate: %w", denied("x")), ExitDeny},
		{"invalid token", &identity.VerificationError{Reason: "expired"}, ExitDeny},
		{"usage", fault.Usagef("no command"), ExitUsage},
		{"config", fault.Configf("bad input"), ExitUsage},
		{"wrapped config", fmt.Errorf("load: %w", fault.Configf("x")), ExitUsage},
		{"operational", fault.Operationalf("jwks: 500"), ExitOperational},
		{"unclassified is never success nor a deny", errors.New("surprise"), ExitOperational},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}
