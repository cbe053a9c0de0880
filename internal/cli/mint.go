package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/actionio"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/mint"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// mintInputs are the inputs of the mint step; mint-token-url turns it on.
var mintInputs = []string{
	mint.InputGrant, mint.InputClientID, mint.InputClientSecret, mint.InputAuthMethod,
	mint.InputAudience, mint.InputIntrospectURL, mint.InputRevokeURL, mint.InputIssuer,
}

// mintConfig reads the mint-* inputs: nil when mint-token-url is not set
// (and then any other mint input is a mistake, refused). The client secret
// comes from the environment variable mint-client-secret-env names, masked
// at once.
func mintConfig(r *actionio.Runner, getenv func(string) string, gc gate.Config) (*mint.Config, error) {
	if r.Input(mint.InputTokenURL) == "" {
		for _, name := range mintInputs {
			if r.Input(name) != "" {
				return nil, fault.Configf("input %s is set, but %s is not: airlock mints only when the production issuer's token endpoint is given", name, mint.InputTokenURL)
			}
		}
		return nil, nil
	}
	cfg := mint.Config{
		TokenURL:      r.Input(mint.InputTokenURL),
		IntrospectURL: r.Input(mint.InputIntrospectURL),
		RevokeURL:     r.Input(mint.InputRevokeURL),
		Issuer:        r.Input(mint.InputIssuer),
		Grant:         mint.Grant(r.Input(mint.InputGrant)),
		ClientID:      r.Input(mint.InputClientID),
		AuthMethod:    r.Input(mint.InputAuthMethod),
		Audience:      r.Input(mint.InputAudience),
	}
	if name := r.Input(mint.InputClientSecret); name != "" {
		cfg.ClientSecret = getenv(name)
		if cfg.ClientSecret == "" {
			return nil, fault.Configf("input %s: environment variable %s is empty or unset", mint.InputClientSecret, name)
		}
		r.Mask(cfg.ClientSecret)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if gc.ProductionManifest == "" {
		// The scopes to request are the decision's grants, which come
		// from the agent manifests.
		return nil, fault.Configf("input %s: minting requests the decision's granted scopes, which come from the agent manifests: set qa-manifest and production-manifest", mint.InputTokenURL)
	}
	return &cfg, nil
}

// mintStep is the gate's mint step: after an allow, request the production
// credential for exactly the granted scopes, living no longer than the
// decision, with the job's OIDC token; check what came back. A refusal
// turns the allow into a deny (what was issued is already revoked); the
// returned undo revokes an issued credential if a later step fails.
func mintStep(runner *actionio.Runner, rc *runConfig, hc *http.Client) func(context.Context, *gateState) (*gateState, gate.Undo, error) {
	m := &mint.Minter{HTTP: hc, Now: time.Now, Mask: runner.Mask}
	return func(ctx context.Context, s *gateState) (*gateState, gate.Undo, error) {
		if rc.mint == nil {
			return s, nil, nil
		}
		validity, err := gate.DecisionValidity(rc.attest, time.Now())
		if err != nil {
			return s, nil, err
		}
		s.res.Validity = &validity
		scopes, err := grantedScopes(s.res.Decision.Grants)
		if err != nil {
			return s, nil, err
		}
		job, err := identity.Fetch(ctx, hc, rc.gate.TokenRequestURL, rc.gate.TokenRequestToken, rc.mint.Audience)
		if err != nil {
			return s, nil, fmt.Errorf("mint: request the job's OIDC token for %s: %w", mint.InputAudience, err)
		}
		runner.Mask(job)
		var qa []revocation.Result
		if rep := s.res.Evidence.Revocation; rep != nil {
			qa = rep.Credentials
		}
		out, err := m.Mint(ctx, *rc.mint, job, scopes, validity.NotAfter, qa)
		if err != nil {
			return s, nil, err
		}
		rec := out.Record
		s.res.Credential = &rec
		if out.Denied() {
			control := "C6"
			if strings.HasPrefix(rec.Reason, "C3:") {
				control = "C3"
			}
			s.res.Decision = s.res.Decision.Refuse(control, "the production credential was not accepted: "+strings.TrimPrefix(rec.Reason, "C3: ")+" (it was revoked: "+revocationDetail(rec.Revocation)+")")
			return s, nil, nil
		}
		s.cred = out.Credential
		undo := func(ctx context.Context) error {
			rr, err := m.Revoke(ctx, *rc.mint, s.cred)
			s.revoked = &rr
			if err != nil {
				return err
			}
			if !rr.ConfirmedInactive {
				return fault.Operationalf("the production credential (sha256 %s) may still be active: %s", rec.TokenSHA256, rr.Detail)
			}
			return nil
		}
		return s, undo, nil
	}
}

func revocationDetail(rr *mint.RevocationResult) string {
	if rr == nil {
		return "not revoked"
	}
	return rr.Detail
}

// grantedScopes reads grants.scopes of an allow: the scopes to request.
func grantedScopes(grants map[string]any) ([]string, error) {
	raw, ok := grants["scopes"].([]any)
	if !ok || len(raw) == 0 {
		return nil, fault.Configf("mint: the allow grants no scopes (grants.scopes is empty): nothing to request; the production manifest names the scopes")
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fault.Configf("mint: grants.scopes holds %v, not a scope name", v)
		}
		out = append(out, s)
	}
	return out, nil
}

// mintOutputs are the mint step's outputs and summary section: the token
// (masked; for the next step only) and the record (never the token).
func mintOutputs(s *gateState) ([]actionio.Output, string, error) {
	if s.res.Credential == nil {
		return nil, "", nil
	}
	rec := *s.res.Credential
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, "", fault.Operationalf("encode the credential record: %w", err)
	}
	token := ""
	if s.cred != nil && s.revoked == nil {
		token = s.cred.Token
	}
	outs := []actionio.Output{
		{Name: "production-token", Value: token},
		{Name: "production-credential", Value: string(b)},
	}
	var sum strings.Builder
	sum.WriteString("\n### Production credential\n\n")
	switch {
	case rec.Status != mint.StatusIssued:
		fmt.Fprintf(&sum, "Not issued: %s. %s.\n", rec.Reason, revocationDetail(rec.Revocation))
	case s.revoked != nil:
		fmt.Fprintf(&sum, "Issued, then revoked because the run did not end in a published allow: %s.\n", s.revoked.Detail)
	default:
		exp := "unknown"
		if rec.ExpiresAt != nil {
			exp = rec.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(&sum, "Issued by `%s` (%s) to subject `%s`, client `%s`: scopes `%s`, expires %s (decision notAfter %s), token sha256 `%s`. The token is the masked output `production-token`.\n",
			rec.Issuer, rec.Grant, rec.Subject, rec.ClientID, strings.Join(rec.Scopes, " "), exp, rec.NotAfter.Format(time.RFC3339), rec.TokenSHA256)
	}
	return outs, sum.String(), nil
}
