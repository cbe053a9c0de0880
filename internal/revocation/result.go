package revocation

import (
	"context"
	"time"
)

// Status is what an issuer said about a credential.
type Status string

// Only StatusRevoked is good news. StatusUnknown covers every answer that is
// not an explicit, well-formed "dead" or "alive".
const (
	StatusRevoked Status = "revoked"
	StatusActive  Status = "active"
	StatusUnknown Status = "unknown"
)

// Checker probes one kind of credential at its issuer. Implementations never
// return an error: a probe that cannot tell returns StatusUnknown with a
// Detail saying why, so that a failure can never be mistaken for a result.
type Checker interface {
	Check(ctx context.Context, c Credential) Result
}

// Checkers selects the Checker for each Kind; Now stamps results CheckAll
// makes itself (nil means time.Now).
type Checkers struct {
	ByKind map[Kind]Checker
	Now    func() time.Time
}

// Result is the evidence for one credential. It never contains a secret or a
// response body.
type Result struct {
	Name       string    `json:"name"`
	Kind       Kind      `json:"kind"`
	Status     Status    `json:"status"`
	CheckedAt  time.Time `json:"checked_at"`
	IssuerHost string    `json:"issuer_host,omitempty"`
	// HTTPStatus is the status of the answer the result rests on (the last
	// introspection/lookup), 0 when there was none.
	HTTPStatus int `json:"http_status,omitempty"`
	// Detail says, for people, what was asked and what came back.
	Detail string `json:"detail"`
	// Subject, ClientID and Issuer identify the QA identity behind the
	// credential (from introspection, a token lookup or JWT claims), for C3.
	// Empty when the issuer did not say: RFC 7662 returns only
	// {"active":false} for a dead token, so with revoke:true airlock
	// introspects once before revoking to learn them.
	Subject  string `json:"subject,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// IdentitySource says where Subject and ClientID come from: "issuer"
	// (its answer said), "declared" (the credential entry's
	// declared-subject/declared-client-id: the workflow's word, not
	// verified), or empty when nobody said.
	IdentitySource string `json:"identity_source,omitempty"`
	// Revoked is true when airlock revoked the credential itself (revoke:
	// true) and the issuer accepted the request. Status still rests on the
	// check made afterwards.
	Revoked bool `json:"revoked_by_airlock"`
	// RevokeHTTPStatus is the status of the revocation request, if one was made.
	RevokeHTTPStatus int `json:"revoke_http_status,omitempty"`
}

func newResult(c Credential, now func() time.Time) Result {
	return Result{Name: c.Name, Kind: c.Kind, Status: StatusUnknown, CheckedAt: now().UTC(), Issuer: c.Issuer}
}
