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
// /v1/auth/token/lookup-self, /v1/auth/token/revoke-self and
// /v1/auth/token/lookup-accessor (the same API OpenBao serves), and of its
// error responses: a revoked, expired or unknown token gets 403 with the
// errors "permission denied" and "invalid token" (Vault 1.16 and later;
// SetLegacyErrors: "permission denied" only, as before), a live token whose
// policy does not grant the path gets 403 "permission denied", an unknown
// accessor 400 "invalid accessor". It stands in for a real Vault server,
// which cannot be built from the module proxy here (see TEST-INFRA.md).
type Vault struct {
	URL string

	mu        sync.Mutex
	tokens    map[string]VaultToken
	accessors map[string]string // accessor → token
	sealed    bool
	legacy    bool
	calls     map[string]int
}

// VaultToken is what lookup-self reports about a token, and what its policy
// grants.
type VaultToken struct {
	DisplayName string
	EntityID    string
	Policies    []string
	// NoLookupSelf: the token's policy does not grant
	// auth/token/lookup-self (Vault's default policy does).
	NoLookupSelf bool
	// LookupAccessor: the policy grants auth/token/lookup-accessor (an
	// operator's token; the default policy does not).
	LookupAccessor bool

	accessor string
}

// StartVault starts the simulator; it closes when the test ends.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	v := &Vault{tokens: map[string]VaultToken{}, accessors: map[string]string{}, calls: map[string]int{}}
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
	info.accessor = randomHex(12)
	v.tokens[tok] = info
	v.accessors[info.accessor] = tok
	return tok
}

// Accessor is tok's accessor (what `vault token create` prints next to it);
// it outlives the token, so a test can ask about a revoked one.
func (v *Vault) Accessor(tok string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	for a, t := range v.accessors {
		if t == tok {
			return a
		}
	}
	return ""
}

// RevokeToken revokes tok as an operator would.
func (v *Vault) RevokeToken(tok string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.revoke(tok)
}

func (v *Vault) revoke(tok string) {
	if info, ok := v.tokens[tok]; ok {
		delete(v.accessors, info.accessor)
	}
	delete(v.tokens, tok)
}

// SetLegacyErrors makes a bad token's 403 say only "permission denied", as
// Vault did before it added "invalid token": then a revoked token and a
// live one without lookup-self answer alike.
func (v *Vault) SetLegacyErrors(legacy bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.legacy = legacy
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
	case "/v1/auth/token/lookup-self", "/v1/auth/token/revoke-self", "/v1/auth/token/lookup-accessor":
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
		if v.legacy {
			vaultErrors(w, http.StatusForbidden, "permission denied")
		} else {
			vaultErrors(w, http.StatusForbidden, "permission denied", "invalid token")
		}
		return
	}
	switch {
	case r.URL.Path == "/v1/auth/token/lookup-self" && r.Method == http.MethodGet:
		if info.NoLookupSelf {
			vaultErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		writeVaultToken(w, tok, info)
	case r.URL.Path == "/v1/auth/token/revoke-self" && r.Method == http.MethodPost:
		v.revoke(tok)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v1/auth/token/lookup-accessor" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		if !info.LookupAccessor {
			vaultErrors(w, http.StatusForbidden, "permission denied")
			return
		}
		var body struct {
			Accessor string `json:"accessor"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			vaultErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
		if body.Accessor == "" {
			vaultErrors(w, http.StatusBadRequest, "missing accessor")
			return
		}
		target, ok := v.accessors[body.Accessor]
		if !ok {
			vaultErrors(w, http.StatusBadRequest, "invalid accessor")
			return
		}
		// Vault blanks the token's id in a lookup by accessor.
		writeVaultToken(w, "", v.tokens[target])
	default:
		vaultErrors(w, http.StatusMethodNotAllowed)
	}
}

func writeVaultToken(w http.ResponseWriter, id string, info VaultToken) {
	now := time.Now().UTC()
	policies := info.Policies
	if policies == nil {
		policies = []string{"default"}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"request_id": randomHex(8), "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": map[string]any{
			"accessor": info.accessor, "creation_time": now.Unix(), "creation_ttl": 2764800,
			"display_name": info.DisplayName, "entity_id": info.EntityID, "expire_time": now.Add(768 * time.Hour).Format(time.RFC3339Nano),
			"explicit_max_ttl": 0, "id": id, "issue_time": now.Format(time.RFC3339Nano), "meta": nil, "num_uses": 0,
			"orphan": false, "path": "auth/token/create", "policies": policies, "renewable": true, "ttl": 2764800, "type": "service",
		},
		"wrap_info": nil, "warnings": nil, "auth": nil,
	})
}

func vaultErrors(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}
