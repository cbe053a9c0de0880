package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/identity"
)

func newTokenCmd(e *env) *cobra.Command {
	return groupCmd("token", "verify a GitHub Actions OIDC token and print its claims",
		"usage: airlock token verify --token FILE|- --audience AUD [--issuer URL] [--jwks FILE] [--at RFC3339]",
		newTokenVerifyCmd(e))
}

// tokenVerifyFlags are the flags of `airlock token verify`.
type tokenVerifyFlags struct {
	tokenPath, issuer, audience, jwksPath, at string
}

func newTokenVerifyCmd(e *env) *cobra.Command {
	f := &tokenVerifyFlags{}
	c := &cobra.Command{
		Use:   "verify --token FILE|- --audience AUD",
		Short: "verify a GitHub Actions OIDC token and print its claims",
		Long: `For the day a claim rule denies you: verifies a job's OIDC token exactly as the gate does
(signature against the issuer's keys, exact issuer, audience, expiry) and prints its claims as
JSON, or says why it is not valid (expired at …, audience …, unknown kid …). The token is never
printed.`,
		Example: `  # in a job with permissions: id-token: write
  curl -sH "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=airlock" |
    jq -r .value | airlock token verify --token - --audience airlock
  airlock token verify --token job.jwt --audience airlock --jwks jwks.json --at 2026-06-13T19:03:00Z`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runTokenVerify(c.Context(), f, e.stdio)
		},
	}
	fs := c.Flags()
	fs.StringVar(&f.tokenPath, "token", "", "`FILE` holding the JWT, or - for standard input (required)")
	fs.StringVar(&f.audience, "audience", "", "the audience `AUD` the token must carry (required)")
	fs.StringVar(&f.issuer, "issuer", "https://token.actions.githubusercontent.com", "exact issuer `URL` the token must name")
	fs.StringVar(&f.jwksPath, "jwks", "", "JWKS `FILE` to verify with instead of the issuer's discovery document")
	fs.StringVar(&f.at, "at", "", "verify as of this `RFC3339` time instead of now")
	setExitCodes(c,
		"0  the token verified; its claims are printed",
		"1  the token is not valid (the reason is printed)",
		"2  usage: a flag missing or malformed, an unreadable file",
		"3  the issuer's keys could not be fetched")
	return c
}

// runTokenVerify is the debugging command for people whose run a claim rule
// denied: it shows exactly which claims a token carries once verified, or why
// it does not verify.
func runTokenVerify(ctx context.Context, f *tokenVerifyFlags, stdio Stdio) error {
	if f.tokenPath == "" || f.audience == "" {
		return fault.Usagef("token verify: --token and --audience are required")
	}
	now := time.Now
	if f.at != "" {
		t, err := time.Parse(time.RFC3339, f.at)
		if err != nil {
			return fault.Usagef("token verify: --at: %q is not an RFC 3339 time", f.at)
		}
		now = func() time.Time { return t }
	}
	raw, err := readFileOrStdin(f.tokenPath, stdio, 64<<10)
	if err != nil {
		return err
	}
	cfg := identity.Config{Issuer: f.issuer, Audience: f.audience, Now: now, HTTPClient: httpClient()}
	if f.jwksPath != "" {
		if cfg.JWKS, err = os.ReadFile(f.jwksPath); err != nil {
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
