package testsvc

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TokenURL is Hydra's token endpoint; a JWT-bearer assertion's aud must
// name it.
func (h *Hydra) TokenURL() string { return h.PublicURL + "/oauth2/token" }

// JWTBearerURN is RFC 7523's grant type.
const JWTBearerURN = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// TrustJWTBearerIssuer registers issuer as a trusted RFC 7523 issuer at
// Hydra's admin API: assertions signed by jwk (one key of the issuer's
// JWKS, with kid) for subject may be exchanged for at most scopes, until
// expiresAt.
func (h *Hydra) TrustJWTBearerIssuer(t testing.TB, issuer, subject string, scopes []string, jwk map[string]any, expiresAt time.Time) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"issuer":     issuer,
		"subject":    subject,
		"scope":      scopes,
		"jwk":        jwk,
		"expires_at": expiresAt.UTC().Format(time.RFC3339),
	})
	h.call(t, http.MethodPost, h.AdminURL+"/admin/trust/grants/jwt-bearer/issuers", "application/json", bytes.NewReader(body), nil, http.StatusCreated, nil)
}

// FetchJWK returns the key with kid from the JWKS at jwksURL (the
// simulator's), in the form TrustJWTBearerIssuer takes.
func FetchJWK(t testing.TB, jwksURL, kid string) map[string]any {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(jwksURL)
	if err != nil {
		t.Fatalf("fetch jwks %s: %v", jwksURL, err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("jwks %s: %v", jwksURL, err)
	}
	for _, k := range set.Keys {
		if k["kid"] == kid {
			return k
		}
	}
	t.Fatalf("jwks %s has no key %q", jwksURL, kid)
	return nil
}

// CreateJWTBearerClient registers a confidential client (client_secret_basic)
// allowed only the JWT-bearer grant for scopes; a lifespan > 0 sets the
// client's jwt_bearer_grant_access_token_lifespan (/admin/clients/{id}/lifespans).
func (h *Hydra) CreateJWTBearerClient(t testing.TB, scopes []string, lifespan time.Duration) HydraClient {
	t.Helper()
	secret := randomHex(16)
	body, _ := json.Marshal(map[string]any{
		"client_secret":              secret,
		"grant_types":                []string{JWTBearerURN},
		"token_endpoint_auth_method": "client_secret_basic",
		"scope":                      strings.Join(scopes, " "),
	})
	var out struct {
		ClientID string `json:"client_id"`
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/clients", "application/json", bytes.NewReader(body), nil, http.StatusCreated, &out)
	if out.ClientID == "" {
		t.Fatal("hydra created a client without client_id")
	}
	if lifespan > 0 {
		ls, _ := json.Marshal(map[string]string{"jwt_bearer_grant_access_token_lifespan": lifespan.String()})
		h.call(t, http.MethodPut, h.AdminURL+"/admin/clients/"+url.PathEscape(out.ClientID)+"/lifespans", "application/json", bytes.NewReader(ls), nil, http.StatusOK, nil)
	}
	return HydraClient{ID: out.ClientID, Secret: secret}
}
