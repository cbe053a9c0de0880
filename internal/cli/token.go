package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

// runTokenVerify is the debugging command for people whose run a claim rule
// denied: it shows exactly which claims a token carries once verified, or why
// it does not verify.
func runTokenVerify(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("token verify", stdio)
	tokenPath := fs.String("token", "", "file holding the JWT, or - for standard input (required)")
	issuer := fs.String("issuer", "https://token.actions.githubusercontent.com", "exact issuer the token must name")
	audience := fs.String("audience", "", "audience the token must carry (required)")
	jwksPath := fs.String("jwks", "", "JWKS file to verify with instead of the issuer's discovery document")
	at := fs.String("at", "", "verify as of this RFC 3339 time instead of now")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tokenPath == "" || *audience == "" {
		return fault.Usagef("token verify: --token and --audience are required")
	}
	now := time.Now
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fault.Usagef("token verify: --at: %q is not an RFC 3339 time", *at)
		}
		now = func() time.Time { return t }
	}
	raw, err := readFileOrStdin(*tokenPath, stdio, 64<<10)
	if err != nil {
		return err
	}
	cfg := identity.Config{Issuer: *issuer, Audience: *audience, Now: now, HTTPClient: httpClient()}
	if *jwksPath != "" {
		if cfg.JWKS, err = os.ReadFile(*jwksPath); err != nil {
			return fault.Configf("token verify: --jwks: %w", err)
		}
	}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		return err
	}
	claims, err := v.Verify(ctx, string(raw))
	var verr *identity.VerificationError
	if errors.As(err, &verr) {
		return fmt.Errorf("token is not valid: %w", err)
	}
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(claims, "", "  ")
	if err != nil {
		return fault.Operationalf("encode claims: %w", err)
	}
	fmt.Fprintf(stdio.Out, "%s\n", out)
	return nil
}
