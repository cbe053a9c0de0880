package identity_test

import (
	"context"
	"testing"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

// FuzzVerifyRealToken: against GitHub's real key set, the one input that
// verifies is the real token, byte for byte. Any other string (a flipped
// bit, a re-encoded segment, unused base64 bits changed, junk) is refused
// with a verification error, never a panic and never another kind of
// failure: a token cannot be made malleable.
func FuzzVerifyRealToken(f *testing.F) {
	token := realToken(f)
	v := staticVerifier(f, readData(f, jwksCurrent), githubIssuer, "sigstore", fixedNow(beaconIat), 0)
	f.Add(token)
	f.Add(token + "=")
	f.Add(token[:len(token)-1])
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := v.Verify(context.Background(), s)
		switch {
		case s == token:
			if err != nil {
				t.Fatalf("the real token does not verify: %v", err)
			}
		case err == nil:
			t.Fatalf("a token other than the real one verifies: %q", s)
		case !identity.IsVerificationError(err):
			t.Fatalf("refused as %v, not as a verification failure: %v", fault.KindOf(err), err)
		}
	})
}
