package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Fetch asks the Actions runtime for this job's OIDC token, the way
// core.getIDToken does: GET requestURL with audience added to its query and
// "Authorization: Bearer requestToken" (ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN, present only with `permissions: id-token: write`).
//
// The returned token is unverified: only Verifier.Verify makes it evidence.
// Missing inputs are fault.Usage; anything the endpoint does wrong is
// fault.Operational. No error ever contains requestToken or the token.
func Fetch(ctx context.Context, hc *http.Client, requestURL, requestToken, audience string) (string, error) {
	switch {
	case hc == nil:
		return "", fault.Usagef("request oidc token: no http client")
	case requestURL == "" || requestToken == "":
		return "", fault.Usagef("request oidc token: ACTIONS_ID_TOKEN_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_TOKEN is empty: the job needs `permissions: id-token: write`")
	case audience == "":
		return "", fault.Usagef("request oidc token: empty audience")
	}
	u, err := url.Parse(requestURL)
	if err != nil {
		// url.Parse errors quote the input; the URL is not secret but keep
		// the message independent of it.
		return "", fault.Usagef("request oidc token: malformed request url")
	}
	if err := checkTransportURL(u); err != nil {
		return "", fault.Usagef("request oidc token: request url %s: %w", redactURL(u), err)
	}

	// Appending (not re-encoding the query) keeps the runtime's own
	// parameters byte for byte, as the Actions toolkit does.
	sep := "&"
	switch {
	case !strings.Contains(requestURL, "?"):
		sep = "?"
	case strings.HasSuffix(requestURL, "?") || strings.HasSuffix(requestURL, "&"):
		sep = ""
	}
	full := requestURL + sep + "audience=" + url.QueryEscape(audience)
	redacted := redactURL(u)

	body, err := get(ctx, hc, full, redacted, http.Header{"Authorization": {"Bearer " + requestToken}})
	if err != nil {
		return "", fault.Operationalf("request oidc token: %w", err)
	}
	var resp struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		// json errors quote at most a type name or an offset, not the body.
		return "", fault.Operationalf("request oidc token from %s: malformed response: %w", redacted, jsonErrorWithoutInput(err))
	}
	if resp.Value == nil || *resp.Value == "" {
		return "", fault.Operationalf("request oidc token from %s: response has no value", redacted)
	}
	if strings.Count(*resp.Value, ".") != 2 {
		return "", fault.Operationalf("request oidc token from %s: value is not a compact JWT", redacted)
	}
	return *resp.Value, nil
}

// jsonErrorWithoutInput keeps the useful part of a decoding error without
// any bytes of the input. encoding/json's SyntaxError quotes the offending
// character, which could be the first byte of a secret.
func jsonErrorWithoutInput(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid json at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: expected %s, got %s", te.Field, te.Type, te.Value)
	}
	return errors.New("invalid json")
}
