package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/airlock-dev/airlock/internal/attest"
)

// RevocationPredicateType is airlock's revocation record (internal/attest).
const RevocationPredicateType = attest.RevocationPredicateType

// Revocation is a revocation that counted against a decision.
type Revocation struct {
	Bundle    string    `json:"bundle"`
	RevokedAt time.Time `json:"revokedAt"`
	// By is the revoker as its verified certificate (SAN) or key names it.
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// RevocationResult is what became of one revocation that names a decision
// of this run. Counted is true only when it verified, its signer is an
// accepted revoker and it applies at the time checked; otherwise Errors say
// why it was ignored.
type RevocationResult struct {
	Bundle string `json:"bundle"`
	// Decision is the payload digest it names ("sha256:HEX").
	Decision string `json:"decision"`
	// Revokes lists the decision records it revoked.
	Revokes []string `json:"revokes"`
	Counted bool     `json:"counted"`
	Errors  []string `json:"errors"`
}

// revCandidate is a revocation bundle read but not yet verified: its
// unverified subjects only decide which decisions it is checked against.
type revCandidate struct {
	name    string
	data    []byte
	payload string // the decision payload digest it names, "sha256:HEX"
	err     error  // why it could not be read

	once sync.Once
	res  *revCrypto
}

// revCrypto is the signature half of a candidate's verification, shared by
// every decision it names.
type revCrypto struct {
	signer *Signer
	cert   *certificate.Summary
	pred   *attest.RevocationPredicate
	err    error
}

// lightBundle is the least of a bundle needed to index it: the DSSE
// payload, decoded by encoding/json (base64 for []byte).
type lightBundle struct {
	DSSE *struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
	} `json:"dsseEnvelope"`
}

type lightStatement struct {
	PredicateType string          `json:"predicateType"`
	Subject       []lightSubject  `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// scanPayload finds the DSSE payload of a bundle without decoding the rest
// of it (certificates and timestamps are most of its bytes): the index of a
// directory of many revocations must cost little. Anything unusual (an
// escape in the string, no such key) reports !ok and the caller decodes
// the JSON properly. What it finds only indexes: the revocation is counted
// only after sigstore-go has verified it and its verified subject names
// the decision, so a bundle that fools the scan fools only itself.
func scanPayload(data []byte) ([]byte, bool) {
	i := bytes.Index(data, []byte(`"dsseEnvelope"`))
	if i < 0 {
		return nil, false
	}
	rest := data[i:]
	j := bytes.Index(rest, []byte(`"payload"`))
	if j < 0 {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[j+len(`"payload"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	rest = rest[1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(end))
	n, err := base64.StdEncoding.Decode(out, rest[:end])
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// indexRevocation reads which decision a revocation bundle names, without
// verifying anything.
func indexRevocation(name string, data []byte) *revCandidate {
	c := &revCandidate{name: name, data: data}
	payload, ok := scanPayload(data)
	if !ok {
		var lb lightBundle
		if err := json.Unmarshal(data, &lb); err != nil || lb.DSSE == nil {
			c.err = fmt.Errorf("not a revocation bundle: expected a DSSE envelope")
			return c
		}
		payload = lb.DSSE.Payload
	}
	var st lightStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		c.err = fmt.Errorf("not a revocation bundle: %v", err)
		return c
	}
	if st.PredicateType != RevocationPredicateType {
		c.err = fmt.Errorf("predicate type: expected %q, got %q", RevocationPredicateType, st.PredicateType)
		return c
	}
	for _, s := range st.Subject {
		if s.Name == attest.PayloadSubjectName && len(s.Digest["sha256"]) == 64 {
			c.payload = "sha256:" + strings.ToLower(s.Digest["sha256"])
			return c
		}
	}
	c.err = fmt.Errorf("revocation names no decision: no %q subject with a sha256 digest", attest.PayloadSubjectName)
	return c
}

// loadRevocations reads every bundle under paths (--revocations) and
// indexes it. Reading is parallel; nothing is verified yet.
func (v *Verifier) loadRevocations(ctx context.Context, paths []string) []*revCandidate {
	if len(paths) == 0 {
		return nil
	}
	items := make(chan item, v.workers)
	go func() {
		enumerate(ctx, paths, v.maxBundle, items)
		close(items)
	}()
	var mu sync.Mutex
	var out []*revCandidate
	var wg sync.WaitGroup
	for range v.workers {
		wg.Go(func() {
			for it := range items {
				c := &revCandidate{name: it.name, err: it.err}
				if it.err == nil {
					data := it.data
					if data == nil {
						data, c.err = readCapped(it.path, v.maxBundle)
					}
					if c.err == nil {
						c = indexRevocation(it.name, data)
					}
				}
				mu.Lock()
				out = append(out, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// applyRevocations checks every revocation that names a decision of this
// run against it. A revocation counts only when it verifies against the
// trusted material, is signed by an accepted revoker (Config.Revoker, or
// else the decision's own signer), names this decision in its verified
// content, and applies at the time checked. Anything else is reported and
// ignored: a bad revocation never crashes the run and never allows.
func (v *Verifier) applyRevocations(records []Record, cands []*revCandidate) []RevocationResult {
	out := []RevocationResult{}
	byPayload := map[string][]*revCandidate{}
	for _, c := range cands {
		if c.err != nil {
			out = append(out, RevocationResult{Bundle: c.name, Revokes: []string{}, Errors: []string{"ignored: " + c.err.Error()}})
			continue
		}
		byPayload[c.payload] = append(byPayload[c.payload], c)
	}
	if len(byPayload) == 0 {
		return out
	}
	results := map[*revCandidate]*RevocationResult{}
	var order []*revCandidate
	for i := range records {
		rec := &records[i]
		if rec.PayloadDigest == "" || rec.Identity == nil {
			continue
		}
		for _, c := range byPayload[rec.PayloadDigest] {
			res := results[c]
			if res == nil {
				res = &RevocationResult{Bundle: c.name, Decision: c.payload, Revokes: []string{}, Errors: []string{}}
				results[c] = res
				order = append(order, c)
			}
			r, why := v.checkRevocation(c, rec)
			if why != "" {
				res.Errors = append(res.Errors, fmt.Sprintf("ignored for %s: %s", rec.Bundle, why))
				continue
			}
			res.Counted = true
			res.Revokes = append(res.Revokes, rec.Bundle)
			if rec.Revoked == nil || r.RevokedAt.Before(rec.Revoked.RevokedAt) {
				rec.Revoked = r
			}
		}
	}
	for i := range records {
		if r := records[i].Revoked; r != nil {
			records[i].fail("revoked at %s by %s: %s", stamp(r.RevokedAt), r.By, r.Reason)
			records[i].Verified = false
			records[i].covers = nil
			records[i].Predicate = nil
		}
	}
	for _, c := range order {
		out = append(out, *results[c])
	}
	return out
}

// checkRevocation verifies c as a revocation of rec. It returns the
// revocation, or why it does not count.
func (v *Verifier) checkRevocation(c *revCandidate, rec *Record) (*Revocation, string) {
	c.once.Do(func() { c.res = v.verifyRevocationCrypto(c) })
	cr := c.res
	if cr.err != nil {
		return nil, cr.err.Error()
	}
	// Who may revoke.
	switch {
	case v.keyed:
		// Only the auditor's --key verifies here: the decision's own signer.
	case cr.cert == nil:
		return nil, "signed with a key, not by a certificate"
	case v.revoker != nil:
		if err := v.revoker.cert.Verify(*cr.cert); err != nil {
			return nil, fmt.Sprintf("signer %q is not an accepted revoker (--revoker-identity, --revoker-workflow): %v", cr.signer.SAN, err)
		}
		if errs := v.revoker.checkExtensions(*cr.cert); len(errs) > 0 {
			return nil, fmt.Sprintf("signer %q is not an accepted revoker: %s", cr.signer.SAN, strings.Join(errs, "; "))
		}
	default:
		if cr.signer.SAN != rec.Identity.SAN || cr.signer.Issuer != rec.Identity.Issuer {
			return nil, fmt.Sprintf("signer %q (issuer %q) is not the decision's signer %q (issuer %q): name other revokers with --revoker-identity or --revoker-workflow",
				cr.signer.SAN, cr.signer.Issuer, rec.Identity.SAN, rec.Identity.Issuer)
		}
	}
	p := cr.pred
	if p.Revoked.PayloadDigest != rec.PayloadDigest {
		return nil, fmt.Sprintf("predicate names decision %q, not %q", p.Revoked.PayloadDigest, rec.PayloadDigest)
	}
	if p.RevokedAt.After(v.at) && !v.revokedAny {
		return nil, fmt.Sprintf("revoked from %s, after the time checked %s", stamp(p.RevokedAt), stamp(v.at))
	}
	by := cr.signer.SAN
	if by == "" {
		by = "key " + cr.signer.PublicKey
	}
	return &Revocation{Bundle: c.name, RevokedAt: p.RevokedAt, By: by, Reason: p.Reason}, ""
}

// verifyRevocationCrypto verifies a candidate's signature against the
// trusted material, its subject against the decision payload it names, and
// decodes its predicate. The signer is checked per decision.
func (v *Verifier) verifyRevocationCrypto(c *revCandidate) (out *revCrypto) {
	out = &revCrypto{}
	defer func() {
		if p := recover(); p != nil {
			out = &revCrypto{err: fmt.Errorf("internal error while verifying: %v", p)}
		}
	}()
	var b bundle.Bundle
	if err := b.UnmarshalJSON(c.data); err != nil {
		out.err = fmt.Errorf("parse bundle: %v", err)
		return out
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(c.payload, "sha256:"))
	if err != nil {
		out.err = fmt.Errorf("decision digest: %v", err)
		return out
	}
	target := func() (sgverify.ArtifactPolicyOption, func(), error) {
		return sgverify.WithArtifactDigest("sha256", raw), func() {}, nil
	}
	policy := []sgverify.PolicyOption{sgverify.WithKey()}
	if !v.keyed {
		// Which certificates may revoke is decided per decision (its own
		// signer by default); the chain, time and signature are checked here.
		policy = []sgverify.PolicyOption{sgverify.WithoutIdentitiesUnsafe()}
	}
	res, err := v.verifyCryptoWith(&b, target, policy)
	if err != nil {
		out.err = fmt.Errorf("does not verify: %v", err)
		return out
	}
	if sum := res.Signature; sum != nil && sum.Certificate != nil {
		cs := sum.Certificate
		out.cert = cs
		out.signer = &Signer{SAN: cs.SubjectAlternativeName, Issuer: cs.Issuer, SourceRepository: cs.SourceRepositoryURI,
			SourceRef: cs.SourceRepositoryRef, SignerWorkflow: cs.BuildSignerURI, RunnerEnvironment: cs.RunnerEnvironment, RunInvocation: cs.RunInvocationURI}
	} else {
		out.signer = &Signer{PublicKey: v.keyID}
	}
	if res.Statement == nil || res.Statement.PredicateType != RevocationPredicateType {
		out.err = fmt.Errorf("predicate type: expected %q", RevocationPredicateType)
		return out
	}
	named := false
	for _, s := range res.Statement.Subject {
		if s.Name == attest.PayloadSubjectName && strings.ToLower(s.Digest["sha256"]) == strings.TrimPrefix(c.payload, "sha256:") {
			named = true
		}
	}
	if !named {
		out.err = fmt.Errorf("verified content names no decision %s", c.payload)
		return out
	}
	env := b.GetDsseEnvelope()
	var st struct {
		Predicate *attest.RevocationPredicate `json:"predicate"`
	}
	if env == nil || json.Unmarshal(env.GetPayload(), &st) != nil || st.Predicate == nil {
		out.err = fmt.Errorf("revocation predicate: not readable")
		return out
	}
	p := st.Predicate
	switch {
	case attest.CheckReason(p.Reason) != nil:
		out.err = fmt.Errorf("revocation predicate: %v", attest.CheckReason(p.Reason))
	case p.RevokedAt.IsZero():
		out.err = fmt.Errorf("revocation predicate: no revokedAt")
	}
	out.pred = p
	return out
}

// applySupersession marks every verified allow that a newer verified
// allow for the same subject and environment supersedes; with latest, the
// superseded fail. Newer is a later validity.issuedAt; equal times
// supersede neither. A revoked or failed decision supersedes nothing.
func (v *Verifier) applySupersession(records []Record) {
	type key struct{ env, digest string }
	newest := map[key]int{}
	for i, r := range records {
		if !r.Verified || r.Decision != "allow" || r.IssuedAt == nil || r.Environment == "" {
			continue
		}
		for _, s := range r.Subjects {
			for alg, hx := range s.Digest {
				k := key{r.Environment, normalizeOr(alg) + ":" + strings.ToLower(hx)}
				if j, ok := newest[k]; !ok || r.IssuedAt.After(*records[j].IssuedAt) {
					newest[k] = i
				}
			}
		}
	}
	for i := range records {
		r := &records[i]
		if !r.Verified || r.Decision != "allow" || r.IssuedAt == nil || r.Environment == "" {
			continue
		}
		var by []string
		for _, s := range r.Subjects {
			for alg, hx := range s.Digest {
				j := newest[key{r.Environment, normalizeOr(alg) + ":" + strings.ToLower(hx)}]
				if j != i && records[j].IssuedAt.After(*r.IssuedAt) && !slices.Contains(by, records[j].Bundle) {
					by = append(by, records[j].Bundle)
				}
			}
		}
		if len(by) == 0 {
			continue
		}
		sort.Strings(by)
		r.SupersededBy = strings.Join(by, ", ")
		if v.latest {
			r.fail("superseded by %s: --latest accepts only the newest allow for each subject and environment", r.SupersededBy)
			r.Verified = false
			r.covers = nil
			r.Predicate = nil
		}
	}
}

// payloadDigest is "sha256:HEX" of a DSSE payload.
func payloadDigest(payload []byte) string {
	sum := sha256.Sum256(payload)
	return "sha256:" + hex.EncodeToString(sum[:])
}
