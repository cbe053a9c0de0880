package testsvc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Vault is a loopback simulator of the part of Vault's token API that
// airlock uses, written to HashiCorp's documentation of
// /v1/auth/token/lookup-self and /v1/auth/token/revoke-self (the same API
// OpenBao serves). It stands in for a real Vault server, which cannot be
// built from the module proxy here (see TEST-INFRA.md).
type Vault struct {
	URL string

	mu     sync.Mutex
	tokens map[string]VaultToken
	sealed bool
	calls  map[string]int
}

// VaultToken is what lookup-self reports about a token.
type VaultToken struct {
	DisplayName string
	EntityID    string
	Policies    []string
}

// StartVault starts the simulator; it closes when the test ends.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	v := &Vault{tokens: map[string]VaultToken{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(srv.Close)
	v.URL = srv.URL
	return v
}

// CreateToken issues a new service token ("hvs." + random, as Vault does).
func (v *Vault) CreateToken(info VaultToken) string {
	tok := "hvs." + randomHex(12)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokens[tok] = info
	return tok
}

// RevokeToken revokes tok as an operator would.
func (v *Vault) RevokeToken(tok string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.tokens, tok)
}

// SetSealed seals or unseals the simulated Vault; sealed, every call gets 503.
func (v *Vault) SetSealed(sealed bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sealed = sealed
}

// Calls reports how many requests reached path.
func (v *Vault) Calls(path string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls[path]
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls[r.URL.Path]++
	if v.sealed {
		vaultErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	switch r.URL.Path {
	case "/v1/auth/token/lookup-self", "/v1/auth/token/revoke-self":
	default:
		vaultErrors(w, http.StatusNotFound)
		return
	}
	if tok == "" {
		vaultErrors(w, http.StatusBadRequest, "missing client token")
		return
	}
	info, ok := v.tokens[tok]
	if !ok {
		vaultErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	switch {
	case r.URL.Path == "/v1/auth/token/lookup-self" && r.Method == http.MethodGet:
		now := time.Now().UTC()
		policies := info.Policies
		if policies == nil {
			policies = []string{"default"}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"request_id": randomHex(8), "lease_id": "", "renewable": false, "lease_duration": 0,
			"data": map[string]any{
				"accessor": randomHex(12), "creation_time": now.Unix(), "creation_ttl": 2764800,
				"display_name": info.DisplayName, "entity_id": info.EntityID, "expire_time": now.Add(768 * time.Hour).Format(time.RFC3339Nano),
				"explicit_max_ttl": 0, "id": tok, "issue_time": now.Format(time.RFC3339Nano), "meta": nil, "num_uses": 0,
				"orphan": false, "path": "auth/token/create", "policies": policies, "renewable": true, "ttl": 2764800, "type": "service",
			},
			"wrap_info": nil, "warnings": nil, "auth": nil,
		})
	case r.URL.Path == "/v1/auth/token/revoke-self" && r.Method == http.MethodPost:
		delete(v.tokens, tok)
		w.WriteHeader(http.StatusNoContent)
	default:
		vaultErrors(w, http.StatusMethodNotAllowed)
	}
}

func vaultErrors(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}
