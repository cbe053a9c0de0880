package revocation

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Declared values of Report.Declared.
const (
	DeclaredNone = "none"
	DeclaredList = "list"
)

// ProductionIdentity is the production workload's identity (the
// production-identity input), compared with every QA identity for C3.
type ProductionIdentity struct {
	Issuer   string `json:"issuer,omitempty"`
	Subject  string `json:"subject,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	SPIFFEID string `json:"spiffe_id,omitempty"`
}

// Report is the revocation evidence, the gate's `revocation` key. It records
// facts; policies/revocation.rego decides.
type Report struct {
	// Declared is "none" when the input was the literal none (QA had no
	// credentials), "list" otherwise — an empty list stays "list".
	Declared    string   `json:"declared"`
	Credentials []Result `json:"credentials"`
	// ProductionIdentity is nil when the production-identity input was not given.
	ProductionIdentity *ProductionIdentity `json:"production_identity"`
	// IdentityReuse is true when the production subject, client id or SPIFFE
	// ID equals a QA credential's subject or client id; IdentityReuseWith
	// names each match as "credential.field=production.field".
	IdentityReuse     bool     `json:"identity_reuse"`
	IdentityReuseWith []string `json:"identity_reuse_with"`
	// SharedIssuer is true when the production issuer equals a QA
	// credential's issuer; SharedIssuerWith names those credentials.
	SharedIssuer     bool     `json:"shared_issuer"`
	SharedIssuerWith []string `json:"shared_issuer_with"`
	// IdentityUnknownFor names credentials whose QA identity nobody told
	// airlock (a dead opaque token introspects to {"active":false} only):
	// C3 could not compare them.
	IdentityUnknownFor []string `json:"identity_unknown_for"`
	// IdentityDeclaredFor names credentials whose QA identity only their
	// entry declared (the issuer did not say): compared, but not verified.
	IdentityDeclaredFor []string `json:"identity_declared_for"`
}

// CheckAll probes every credential concurrently, under one deadline, and
// returns the results in input order. A credential whose checker is missing,
// panics or does not answer by the deadline is StatusUnknown. CheckAll never
// fails: "could not tell" is a result.
func CheckAll(ctx context.Context, d Declaration, prod *ProductionIdentity, checkers Checkers, deadline time.Time) Report {
	now := checkers.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	rep := Report{Declared: DeclaredList, Credentials: make([]Result, len(d.Credentials)), ProductionIdentity: prod,
		IdentityReuseWith: []string{}, SharedIssuerWith: []string{}, IdentityUnknownFor: []string{}, IdentityDeclaredFor: []string{}}
	if d.None {
		rep.Declared = DeclaredNone
	}
	type answer struct {
		i int
		r Result
	}
	ch := make(chan answer, len(d.Credentials)) // buffered: a late checker never blocks
	for i, c := range d.Credentials {
		chk := checkers.ByKind[c.Kind]
		if chk == nil {
			ch <- answer{i, Result{Name: c.Name, Kind: c.Kind, Status: StatusUnknown, CheckedAt: now().UTC(),
				Detail: fmt.Sprintf("no checker for kind %q", c.Kind)}}
			continue
		}
		go func() {
			defer func() {
				if p := recover(); p != nil {
					ch <- answer{i, Result{Name: c.Name, Kind: c.Kind, Status: StatusUnknown, CheckedAt: now().UTC(),
						Detail: "the checker failed unexpectedly"}}
				}
			}()
			ch <- answer{i, chk.Check(ctx, c)}
		}()
	}
	got := make([]bool, len(d.Credentials))
wait:
	for n := 0; n < len(d.Credentials); n++ {
		select {
		case a := <-ch:
			rep.Credentials[a.i], got[a.i] = a.r, true
		case <-ctx.Done():
			break wait
		}
	}
	for i, c := range d.Credentials {
		if !got[i] {
			rep.Credentials[i] = Result{Name: c.Name, Kind: c.Kind, Status: StatusUnknown, CheckedAt: now().UTC(),
				Detail: "no answer before the overall deadline"}
			continue
		}
		rep.Credentials[i] = sanitize(rep.Credentials[i], c, now)
	}
	for i, c := range d.Credentials {
		rep.Credentials[i] = withDeclaredIdentity(rep.Credentials[i], c)
	}
	rep.compareIdentity()
	return rep
}

// sanitize holds a checker to the Result contract whatever it returned:
// name and kind are the credential's, the status is one of three, and no
// secret survives in any field.
func sanitize(r Result, c Credential, now func() time.Time) Result {
	r.Name, r.Kind = c.Name, c.Kind
	switch r.Status {
	case StatusRevoked, StatusActive, StatusUnknown:
	default:
		r.Detail = fmt.Sprintf("the checker returned status %q", r.Status)
		r.Status = StatusUnknown
	}
	if r.CheckedAt.IsZero() {
		r.CheckedAt = now().UTC()
	}
	for _, s := range c.secrets() {
		for _, f := range []*string{&r.Detail, &r.Subject, &r.ClientID, &r.Issuer, &r.IssuerHost} {
			if strings.Contains(*f, s) {
				*f = strings.ReplaceAll(*f, s, "[redacted]")
			}
		}
	}
	return r
}

// withDeclaredIdentity marks where the result's QA identity comes from, and
// takes the entry's declared identity when the issuer said none. What the
// issuer said is never replaced by what the workflow declares.
func withDeclaredIdentity(r Result, c Credential) Result {
	switch {
	case r.Subject != "" || r.ClientID != "":
		r.IdentitySource = "issuer"
	case c.DeclaredSubject != "" || c.DeclaredClientID != "":
		r.Subject, r.ClientID, r.IdentitySource = c.DeclaredSubject, c.DeclaredClientID, "declared"
	default:
		r.IdentitySource = ""
	}
	return r
}

func (rep *Report) compareIdentity() {
	for _, r := range rep.Credentials {
		switch {
		case r.Subject == "" && r.ClientID == "":
			rep.IdentityUnknownFor = append(rep.IdentityUnknownFor, r.Name)
		case r.IdentitySource == "declared":
			rep.IdentityDeclaredFor = append(rep.IdentityDeclaredFor, r.Name)
		}
	}
	p := rep.ProductionIdentity
	if p == nil {
		return
	}
	for _, r := range rep.Credentials {
		for _, qa := range []struct{ field, v string }{{"subject", r.Subject}, {"client_id", r.ClientID}} {
			if qa.v == "" {
				continue
			}
			for _, pr := range []struct{ field, v string }{{"subject", p.Subject}, {"client_id", p.ClientID}, {"spiffe_id", p.SPIFFEID}} {
				if pr.v != "" && pr.v == qa.v {
					rep.IdentityReuse = true
					rep.IdentityReuseWith = append(rep.IdentityReuseWith, fmt.Sprintf("%s.%s=production.%s", r.Name, qa.field, pr.field))
				}
			}
		}
		if p.Issuer != "" && r.Issuer != "" && normIssuer(p.Issuer) == normIssuer(r.Issuer) {
			rep.SharedIssuer = true
			rep.SharedIssuerWith = append(rep.SharedIssuerWith, r.Name)
		}
	}
}

// normIssuer compares issuers as OIDC does (exact string), forgiving only a
// trailing slash and the case of scheme and host.
func normIssuer(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		return strings.ToLower(s[:i+3+j]) + rest[j:]
	}
	return s
}

// ParseProductionIdentity parses the production-identity input, a YAML (or
// JSON) map with the keys issuer, subject, client-id and spiffe-id (snake
// case accepted too). Unknown keys and non-string values are errors; at
// least one of subject, client-id and spiffe-id must be set. Errors are
// fault.Config.
func ParseProductionIdentity(name string, data []byte) (*ProductionIdentity, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fault.Configf("%s: %s", name, yamlErr(err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fault.Configf("%s: expected a map with issuer, subject, client-id, spiffe-id; got %s (line %d)", name, nodeKind(root), root.Line)
	}
	p := &ProductionIdentity{}
	fields := map[string]*string{
		"issuer": &p.Issuer, "subject": &p.Subject,
		"client-id": &p.ClientID, "client_id": &p.ClientID,
		"spiffe-id": &p.SPIFFEID, "spiffe_id": &p.SPIFFEID,
	}
	seen := map[*string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		dst, ok := fields[k.Value]
		if k.Kind != yaml.ScalarNode || !ok {
			return nil, fault.Configf("%s: unknown field %q (line %d; expected issuer, subject, client-id, spiffe-id)", name, k.Value, k.Line)
		}
		if seen[dst] {
			return nil, fault.Configf("%s.%s: set twice (line %d)", name, k.Value, k.Line)
		}
		seen[dst] = true
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || strings.TrimSpace(v.Value) == "" {
			return nil, fault.Configf("%s.%s: expected a non-empty string, got %s (line %d)", name, k.Value, nodeKind(v), v.Line)
		}
		*dst = strings.TrimSpace(v.Value)
	}
	if p.Subject == "" && p.ClientID == "" && p.SPIFFEID == "" {
		return nil, fault.Configf("%s: set at least one of subject, client-id, spiffe-id", name)
	}
	return p, nil
}
