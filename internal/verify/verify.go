// Package verify is the auditor's path: Sigstore bundle → sigstore-go (against
// the trusted roots given, with thresholds that follow each root) → signer
// identity → subject/artifact → predicate checks → a record per bundle.
//
// Trust boundary: everything in a bundle is attacker-controlled until
// sigstore-go has verified it against trusted material the operator named
// (trusted roots, a public key). Unverified content is used only as an index
// (which artifact to try), never as a result. Every record that is not fully
// verified carries at least one error, and a report is OK only when every
// bundle verified and every artifact has an attestation. Nothing here touches
// the network.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/airlock-dev/airlock/internal/fault"
)

// MaxBundleBytes caps one bundle (a file, or a JSONL line). Decision bundles
// are a few KiB; provenance with large predicates stays well below.
const MaxBundleBytes = 16 << 20

// Config is what the auditor asked for. New rejects illegal combinations.
type Config struct {
	// TrustedRoots is one trusted root (JSON) or several (JSONL). Parsed once.
	TrustedRoots []byte
	// Key is a PEM public key for key-signed bundles; identity flags do not
	// apply to them.
	Key []byte

	Identity Identity

	// PredicateType is required of every bundle unless Any is set.
	// Empty means DecisionPredicateType.
	PredicateType string
	// Any accepts any signed content: any predicate type, and plain message
	// signatures. Checks registered for a bundle's predicate type still run.
	Any bool
	// IncludeDeny lists authentic refusals as verified records instead of
	// failures. A refusal never counts as an artifact's attestation.
	IncludeDeny bool
	// PolicyDigests are the policy sets ("sha256:HEX") a decision must have
	// been made under; empty accepts any. Only airlock decisions record one:
	// any other content fails when this is set.
	PolicyDigests []string

	// At is the time predicates must hold at (auditing a past date); zero
	// means Now().
	At  time.Time
	Now func() time.Time

	// Policy, when set, re-evaluates the evidence recorded in each authentic
	// decision under the auditor's policy (--policy): would it pass today?
	Policy Reevaluator
	// RequirePolicyPass makes a decision that would now be denied a failure;
	// without it the re-evaluation is only reported.
	RequirePolicyPass bool

	// Revocations are files, JSONL files or directories of revocation
	// bundles looked up for every decision verified, besides the
	// revocations found among the bundles themselves (--revocations).
	Revocations []string
	// Revoker is who may revoke a decision; zero means the decision's own
	// signer (the same certificate identity and issuer, or the same --key).
	Revoker Identity
	// RevokedAnyTime counts a revocation whenever it was made, also after
	// At: an auditor looking at a past deployment asks what it ran on that
	// has since been revoked.
	RevokedAnyTime bool
	// Latest fails every allow that a newer verified allow for the same
	// subject and environment supersedes (--latest); without it
	// supersession is only reported.
	Latest bool

	// Workers bounds concurrent verifications; 0 means GOMAXPROCS.
	Workers int
	// MaxBundleBytes overrides the per-bundle cap (tests); 0 means the default.
	MaxBundleBytes int64
}

// Verifier holds the parsed trust material and compiled policy; it is safe
// for concurrent use and meant to be built once per run.
type Verifier struct {
	domains       []trustDomain
	keyed         bool
	keyID         string
	identity      *identityPolicy
	predicateType string
	any           bool
	includeDeny   bool
	checks        map[string]PredicateCheck
	// decisionOnly names the flag (--policy-digest, --require-policy-pass)
	// that only an airlock decision can satisfy; empty when none was given.
	decisionOnly string
	at           time.Time
	workers      int
	maxBundle    int64
	policy       Reevaluator
	requirePass  bool
	revocations  []string
	revoker      *identityPolicy // nil: the decision's own signer
	latest       bool
	revokedAny   bool
}

// New parses the trust material once and compiles the policy. Its errors
// are usage or configuration errors (exit 2).
func New(cfg Config) (*Verifier, error) {
	v, err := build(cfg)
	if err != nil {
		return nil, err
	}
	if v.domains, v.keyID, err = newTrustDomains(cfg.TrustedRoots, cfg.Key); err != nil {
		return nil, err
	}
	return v, nil
}

// Check checks everything of cfg that New does but the trust material: a
// caller that reads trust over the network refuses a mistyped identity or
// digest first.
func Check(cfg Config) error {
	_, err := build(cfg)
	return err
}

func build(cfg Config) (*Verifier, error) {
	v := &Verifier{
		any:         cfg.Any,
		includeDeny: cfg.IncludeDeny,
		workers:     cfg.Workers,
		maxBundle:   cfg.MaxBundleBytes,
		keyed:       len(cfg.Key) > 0,
		policy:      cfg.Policy,
		requirePass: cfg.RequirePolicyPass,
		revocations: slices.Clone(cfg.Revocations),
		latest:      cfg.Latest,
		revokedAny:  cfg.RevokedAnyTime,
	}
	if cfg.RequirePolicyPass && cfg.Policy == nil {
		return nil, fault.Usagef("--require-policy-pass needs --policy DIR")
	}
	if cfg.Any && cfg.PredicateType != "" {
		return nil, fault.Usagef("give --predicate-type or --any, not both")
	}
	v.predicateType = cfg.PredicateType
	if !cfg.Any && v.predicateType == "" {
		v.predicateType = DecisionPredicateType
	}
	for _, d := range cfg.PolicyDigests {
		if !isPolicyDigest(d) {
			return nil, fault.Usagef("--policy-digest: expected sha256: and 64 lower-case hex digits (as `airlock policy digest` prints), got %q", d)
		}
	}
	v.checks = map[string]PredicateCheck{DecisionPredicateType: DecisionCheck{PolicyDigests: slices.Clone(cfg.PolicyDigests)}}
	switch {
	case len(cfg.PolicyDigests) > 0:
		v.decisionOnly = "--policy-digest"
	case cfg.RequirePolicyPass:
		v.decisionOnly = "--require-policy-pass"
	}
	if v.decisionOnly != "" && v.predicateType != "" && v.predicateType != DecisionPredicateType {
		return nil, fault.Usagef("%s applies to airlock decisions, not to --predicate-type %s", v.decisionOnly, v.predicateType)
	}
	if v.workers <= 0 {
		v.workers = runtime.GOMAXPROCS(0)
	}
	if v.maxBundle <= 0 {
		v.maxBundle = MaxBundleBytes
	}
	v.at = cfg.At
	if v.at.IsZero() {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		v.at = now()
	}
	if v.keyed {
		if cfg.Identity.any() {
			return nil, fault.Usagef("identity flags apply to certificates: not with --key")
		}
	} else {
		var err error
		if v.identity, err = compileIdentity(cfg.Identity); err != nil {
			return nil, err
		}
	}
	if cfg.Revoker.any() {
		if v.keyed {
			return nil, fault.Usagef("--revoker-identity and --revoker-workflow apply to certificates: with --key only that key may revoke")
		}
		var err error
		if v.revoker, err = compileIdentity(cfg.Revoker); err != nil {
			return nil, fmt.Errorf("revoker %w", err)
		}
	}
	return v, nil
}

// AtTime returns a verifier that checks predicates at at, sharing v's
// parsed trust material: an audit checks each deployment at its own time.
func (v *Verifier) AtTime(at time.Time) *Verifier {
	cp := *v
	cp.at = at
	return &cp
}

// Subject is one in-toto subject, or the digest a message signature covers.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// Signer is the verified identity behind a bundle.
type Signer struct {
	SAN               string `json:"san,omitempty"`
	Issuer            string `json:"issuer,omitempty"`
	SourceRepository  string `json:"sourceRepository,omitempty"`
	SourceRef         string `json:"sourceRef,omitempty"`
	SignerWorkflow    string `json:"signerWorkflow,omitempty"`
	RunnerEnvironment string `json:"runnerEnvironment,omitempty"`
	RunInvocation     string `json:"runInvocation,omitempty"`
	// PublicKey is the SHA-256 fingerprint (PKIX DER) of the --key that
	// verified a key-signed bundle.
	PublicKey string `json:"publicKey,omitempty"`
}

// Record is the result for one bundle. Verified is true only if nothing
// failed; every unverified record has at least one error.
type Record struct {
	Bundle        string     `json:"bundle"`
	Subjects      []Subject  `json:"subjects"`
	Verified      bool       `json:"verified"`
	Identity      *Signer    `json:"identity"`
	PredicateType string     `json:"predicateType"`
	Decision      string     `json:"decision,omitempty"`
	Reasons       []Reason   `json:"reasons"`
	NotAfter      *time.Time `json:"notAfter,omitempty"`
	SignedAt      *time.Time `json:"signedAt,omitempty"`
	// Policy is the policy set a decision records it was made under.
	Policy *PolicyRef `json:"policy,omitempty"`
	// Reevaluation is the recorded evidence decided again under --policy.
	Reevaluation *Reevaluation `json:"reevaluation,omitempty"`
	// PayloadDigest is "sha256:HEX" of the verified DSSE payload: what a
	// revocation names.
	PayloadDigest string `json:"payloadDigest,omitempty"`
	// Environment and IssuedAt are a decision's, for supersession.
	Environment string     `json:"environment,omitempty"`
	IssuedAt    *time.Time `json:"issuedAt,omitempty"`
	// Revoked is the revocation that counted against this decision.
	Revoked *Revocation `json:"revoked,omitempty"`
	// SupersededBy names the newer allow(s) for the same subject and
	// environment; with Config.Latest the record fails.
	SupersededBy string   `json:"supersededBy,omitempty"`
	Errors       []string `json:"errors"`

	// Predicate is the predicate of a verified record, for callers that act
	// on a verified decision (`airlock grants export`); nil unless Verified.
	Predicate json.RawMessage `json:"-"`
	// BundleDigest is "sha256:HEX" of the bundle bytes that were verified
	// (a file, or one JSONL line).
	BundleDigest string `json:"-"`

	// covers lists the artifacts this record attests (verified, not a refusal).
	covers []int
	// opErr is an operational failure that makes the whole run undecided
	// (a --policy evaluation that could not run): never a verdict.
	opErr error
	// revocation is set when the bundle is a revocation: it is not a
	// record of the report but a candidate checked against the decisions.
	revocation *revCandidate
}

func (r *Record) fail(format string, a ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
}

// ArtifactResult says whether an artifact has at least one verified
// attestation among the bundles.
type ArtifactResult struct {
	Artifact string   `json:"artifact"`
	Digest   string   `json:"digest"`
	Verified bool     `json:"verified"`
	Bundles  []string `json:"bundles"`
	Errors   []string `json:"errors"`
}

// Report is the result of one run.
type Report struct {
	Verified  bool             `json:"verified"`
	Bundles   []Record         `json:"bundles"`
	Artifacts []ArtifactResult `json:"artifacts"`
	// Revocations are the revocations that name a decision of this run
	// (counted or ignored, and why), and those that could not be read.
	Revocations []RevocationResult `json:"revocations"`
	// RevocationsRead counts every revocation bundle looked at.
	RevocationsRead int `json:"revocationsRead"`
	// Errors are run-level failures (no bundle found).
	Errors []string `json:"errors"`
}

// Failures counts unverified bundles and artifacts without an attestation.
func (r *Report) Failures() (bundles, artifacts int) {
	for _, b := range r.Bundles {
		if !b.Verified {
			bundles++
		}
	}
	for _, a := range r.Artifacts {
		if !a.Verified {
			artifacts++
		}
	}
	return bundles, artifacts
}

// Verify verifies every bundle found at paths (files, JSONL files,
// directories) against the artifacts. A bad bundle is a failed record, not
// an error: the batch keeps going. The error is for what stops the run: a
// path that does not exist (usage), cancellation (operational).
func (v *Verifier) Verify(ctx context.Context, paths []string, artifacts []Artifact) (*Report, error) {
	if len(artifacts) == 0 {
		return nil, fault.Usagef("no artifact: name ARTIFACT files or --digest ALG:HEX")
	}
	if len(paths) == 0 {
		return nil, fault.Usagef("no bundle: give --bundle PATH")
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fault.Usagef("bundle: %w", err)
		}
	}
	if err := v.checkRevocationPaths(); err != nil {
		return nil, err
	}
	return v.run(ctx, func(ctx context.Context, out chan<- item) { enumerate(ctx, paths, v.maxBundle, out) },
		"no bundle in "+strings.Join(paths, ", "), artifacts)
}

// Bundle is a bundle already in memory (downloaded from a release or from
// GitHub's attestation store), named by where it came from.
type Bundle struct {
	Name string
	Data []byte
	// Err, when set, is why the bundle could not be read (a blob that does
	// not decompress): it becomes a failed record carrying Err, and Data is
	// ignored.
	Err error
}

// VerifyBundles is Verify for bundles in memory. source names where they
// came from, for the "no attestation found" error when there are none.
func (v *Verifier) VerifyBundles(ctx context.Context, source string, bundles []Bundle, artifacts []Artifact) (*Report, error) {
	if len(artifacts) == 0 {
		return nil, fault.Usagef("no artifact: name ARTIFACT files or --digest ALG:HEX")
	}
	if err := v.checkRevocationPaths(); err != nil {
		return nil, err
	}
	return v.run(ctx, func(ctx context.Context, out chan<- item) {
		for i, b := range bundles {
			it := item{seq: i, name: b.Name, data: b.Data}
			if b.Err != nil {
				it.data, it.err = nil, b.Err
			} else if int64(len(b.Data)) > v.maxBundle {
				it.data, it.err = nil, fmt.Errorf("read bundle: larger than %d bytes", v.maxBundle)
			} else if b.Data == nil {
				it.data = []byte{}
			}
			select {
			case out <- it:
			case <-ctx.Done():
				return
			}
		}
	}, "no bundle in "+source, artifacts)
}

func (v *Verifier) checkRevocationPaths() error {
	for _, p := range v.revocations {
		if _, err := os.Stat(p); err != nil {
			return fault.Usagef("revocations: %w", err)
		}
	}
	return nil
}

func (v *Verifier) run(ctx context.Context, produce func(context.Context, chan<- item), none string, artifacts []Artifact) (*Report, error) {
	ix := newDigestIndex(artifacts)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The --revocations directory is read and indexed while the batch
	// verifies: most of its records name decisions of other runs and cost
	// only this.
	loaded := make(chan []*revCandidate, 1)
	go func() { loaded <- v.loadRevocations(ctx, v.revocations) }()
	items := make(chan item, v.workers)
	type result struct {
		seq int
		rec Record
	}
	results := make(chan result, v.workers)
	var wg sync.WaitGroup
	for range v.workers {
		wg.Go(func() {
			for it := range items {
				results <- result{it.seq, v.verifyItem(ctx, it, artifacts, ix)}
			}
		})
	}
	go func() {
		produce(ctx, items)
		close(items)
		wg.Wait()
		close(results)
	}()
	var records []Record
	for r := range results {
		for len(records) <= r.seq {
			records = append(records, Record{})
		}
		records[r.seq] = r.rec
	}
	if err := ctx.Err(); err != nil {
		return nil, fault.Operationalf("verify: %w", err)
	}
	for _, r := range records {
		if r.opErr != nil {
			return nil, fmt.Errorf("verify: %w", r.opErr)
		}
	}

	// Revocations found among the bundles are candidates, not records.
	var cands []*revCandidate
	kept := records[:0]
	for _, r := range records {
		if r.revocation != nil {
			cands = append(cands, r.revocation)
			continue
		}
		kept = append(kept, r)
	}
	records = kept
	cands = append(cands, <-loaded...)
	if err := ctx.Err(); err != nil {
		return nil, fault.Operationalf("verify: revocations: %w", err)
	}
	revs := v.applyRevocations(records, cands)
	v.applySupersession(records)

	rep := &Report{Bundles: records, Errors: []string{}, Revocations: revs, RevocationsRead: len(cands)}
	if len(records) == 0 {
		rep.Errors = append(rep.Errors, "no attestation found: "+none)
	}
	covered := make([][]string, len(artifacts))
	for i, r := range records {
		if r.Bundle == "" && len(r.Errors) == 0 { // a sequence number without a result
			records[i].fail("internal error: no verification result")
		}
		if !r.Verified {
			continue
		}
		for _, i := range r.covers {
			covered[i] = append(covered[i], r.Bundle)
		}
	}
	rep.Verified = len(records) > 0
	for _, r := range records {
		rep.Verified = rep.Verified && r.Verified
	}
	for i, a := range artifacts {
		ar := ArtifactResult{Artifact: a.Name, Bundles: covered[i], Verified: len(covered[i]) > 0 && a.Failure == "", Errors: []string{}}
		if len(a.Digests) > 0 {
			ar.Digest = a.String()
		}
		if ar.Bundles == nil {
			ar.Bundles = []string{}
		}
		if a.Failure != "" {
			ar.Errors = append(ar.Errors, a.Failure)
			rep.Verified = false
		} else if !ar.Verified {
			what := "attestation"
			if v.predicateType == DecisionPredicateType {
				what = "allow decision"
			}
			ar.Errors = append(ar.Errors, fmt.Sprintf("no attestation found: no verified %s for %s", what, a.String()))
			rep.Verified = false
		}
		rep.Artifacts = append(rep.Artifacts, ar)
	}
	return rep, nil
}

func (v *Verifier) verifyItem(ctx context.Context, it item, artifacts []Artifact, ix digestIndex) Record {
	if it.err != nil {
		return Record{Bundle: it.name, Subjects: []Subject{}, Reasons: []Reason{}, Errors: []string{it.err.Error()}}
	}
	data := it.data
	if data == nil {
		var err error
		if data, err = readCapped(it.path, v.maxBundle); err != nil {
			return Record{Bundle: it.name, Subjects: []Subject{}, Reasons: []Reason{}, Errors: []string{err.Error()}}
		}
	}
	return v.verifyBundle(ctx, it.name, data, artifacts, ix)
}

// verifyBundle runs one bundle through the whole path. It never panics on
// bad input: anything sigstore-go or the JSON decoder rejects is an error in
// the record.
func (v *Verifier) verifyBundle(ctx context.Context, name string, data []byte, artifacts []Artifact, ix digestIndex) (rec Record) {
	rec = Record{Bundle: name, Subjects: []Subject{}, Reasons: []Reason{}, Errors: []string{}}
	defer func() {
		// sigstore-go is not ours; a panic inside it on hostile input must
		// become a failed record, not a crashed audit or, worse, a success.
		if p := recover(); p != nil {
			rec.Verified = false
			rec.covers = nil
			rec.fail("internal error while verifying: %v", p)
		}
		if len(rec.Errors) > 0 {
			rec.Verified = false
			rec.covers = nil
		}
		if !rec.Verified {
			rec.Predicate = nil
		}
	}()
	bsum := sha256.Sum256(data)
	rec.BundleDigest = "sha256:" + hex.EncodeToString(bsum[:])

	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		rec.fail("parse bundle: %v", err)
		return rec
	}
	sig, err := b.SignatureContent()
	if err != nil {
		rec.fail("parse bundle: %v", err)
		return rec
	}
	env, msg := sig.EnvelopeContent(), sig.MessageSignatureContent()
	var peek *peeked
	if env != nil {
		peek = peekStatement(env)
		// A revocation is checked against the decisions it names, after
		// the batch, unless revocations are what the auditor verifies.
		if peek.err == nil && peek.st.PredicateType == RevocationPredicateType && v.predicateType != RevocationPredicateType {
			rec.revocation = indexRevocation(name, data)
			return rec
		}
	}
	if msg != nil && !v.any {
		rec.Subjects = []Subject{{Digest: map[string]string{normalizeOr(msg.DigestAlgorithm()): fmt.Sprintf("%x", msg.Digest())}}}
		rec.fail("bundle holds a message signature, not an attestation of type %q (use --any to accept any signed content)", v.predicateType)
		return rec
	}

	// Choose what to verify against. Unverified content only picks the
	// candidate; sigstore-go then checks it.
	target, candidates, pickErr := v.pickArtifact(peek, msg, artifacts, ix)
	if pickErr != nil {
		rec.fail("%v", pickErr)
		if msg != nil {
			rec.Subjects = []Subject{{Digest: map[string]string{normalizeOr(msg.DigestAlgorithm()): fmt.Sprintf("%x", msg.Digest())}}}
			return rec
		}
		// Still verify the signature, so the record tells a forged bundle
		// from an authentic one about something else.
		target = withoutArtifact
	}

	res, err := v.verifyCrypto(&b, target)
	if err != nil {
		rec.fail("%v", err)
		return rec
	}
	if sum := res.Signature; sum != nil && sum.Certificate != nil {
		c := sum.Certificate
		rec.Identity = &Signer{SAN: c.SubjectAlternativeName, Issuer: c.Issuer, SourceRepository: c.SourceRepositoryURI,
			SourceRef: c.SourceRepositoryRef, SignerWorkflow: c.BuildSignerURI, RunnerEnvironment: c.RunnerEnvironment,
			RunInvocation: c.RunInvocationURI}
		if v.identity != nil {
			for _, e := range v.identity.checkExtensions(*c) {
				rec.fail("identity: %s", e)
			}
		}
	} else if sum != nil && sum.PublicKeyID != nil {
		rec.Identity = &Signer{PublicKey: v.keyID}
	}
	for _, ts := range res.VerifiedTimestamps {
		if t := ts.Timestamp; rec.SignedAt == nil || t.Before(*rec.SignedAt) {
			rec.SignedAt = &t
		}
	}

	if msg != nil {
		rec.Subjects = []Subject{{Digest: map[string]string{normalizeOr(msg.DigestAlgorithm()): fmt.Sprintf("%x", msg.Digest())}}}
		rec.covers = candidates
		if v.decisionOnly != "" {
			rec.fail("%s: a message signature is not an airlock decision", v.decisionOnly)
		}
		rec.Verified = len(rec.Errors) == 0
		return rec
	}

	st := res.Statement
	if st == nil {
		rec.fail("verified envelope has no in-toto statement")
		return rec
	}
	if peek != nil && peek.err == nil {
		// The bytes sigstore-go has just verified.
		rec.PayloadDigest = payloadDigest(peek.payload)
	}
	rec.PredicateType = st.PredicateType
	for _, s := range st.Subject {
		rec.Subjects = append(rec.Subjects, Subject{Name: s.Name, Digest: s.Digest})
	}
	switch st.Type {
	case "https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1":
	default:
		rec.fail("statement type: expected %q, got %q", "https://in-toto.io/Statement/v1", st.Type)
	}
	if v.predicateType != "" && st.PredicateType != v.predicateType {
		rec.fail("predicate type: expected %q, got %q", v.predicateType, st.PredicateType)
		return rec
	}
	if v.decisionOnly != "" && st.PredicateType != DecisionPredicateType {
		rec.fail("%s: predicate type %q is not an airlock decision", v.decisionOnly, st.PredicateType)
	}
	// Which artifacts this authenticated statement is about.
	rec.covers = rec.covers[:0]
	seen := map[int]bool{}
	for _, s := range st.Subject {
		for alg, hx := range s.Digest {
			for _, i := range ix.lookup(alg, hx) {
				if !seen[i] && consistent(s.Digest, artifacts[i]) {
					seen[i] = true
					rec.covers = append(rec.covers, i)
				}
			}
		}
	}
	// A predicate is read only from a bundle that passed everything else:
	// an "allow" shown next to a forged or misdirected bundle reads as a
	// pass to a hurried reader.
	if check, ok := v.checks[st.PredicateType]; ok && len(rec.Errors) == 0 {
		pred, err := predicateOf(peek)
		if err != nil {
			rec.fail("%v", err)
			return rec
		}
		o := check.CheckPredicate(pred, v.at)
		rec.Decision, rec.NotAfter, rec.Policy = o.Decision, o.NotAfter, o.Policy
		rec.Environment, rec.IssuedAt = o.Environment, o.IssuedAt
		if o.Reasons != nil {
			rec.Reasons = o.Reasons
		}
		rec.Errors = append(rec.Errors, o.Errors...)
		rec.Predicate = pred
		if v.policy != nil && st.PredicateType == DecisionPredicateType && len(rec.Errors) == 0 {
			re, err := v.reevaluate(ctx, pred)
			if err != nil {
				rec.opErr = fmt.Errorf("%s: %w", name, err)
				rec.fail("%v", err)
				return rec
			}
			rec.Reevaluation = re
			if v.requirePass && !rec.Reevaluation.Allow {
				rec.fail("re-evaluated under --policy %s: the recorded evidence would now be denied", rec.Reevaluation.PolicyDigest)
			}
		}
		if o.Refusal {
			if !v.includeDeny {
				rec.fail("decision is %q: the promotion was refused (--include-deny lists refusals)", o.Decision)
			} else {
				rec.covers = nil
			}
		}
	}
	rec.Verified = len(rec.Errors) == 0
	return rec
}

// isPolicyDigest: the form internal/policy writes, sha256: and 64
// lower-case hex digits.
func isPolicyDigest(d string) bool {
	hx, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hx) != 64 {
		return false
	}
	for _, c := range []byte(hx) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// verifyCrypto tries each trust domain; the first that verifies wins. With
// several roots a bundle belongs to at most one of them in practice, so the
// errors of all are reported when none does.
func (v *Verifier) verifyCrypto(b *bundle.Bundle, target artifactTarget) (*sgverify.VerificationResult, error) {
	var policy []sgverify.PolicyOption
	if v.keyed {
		policy = append(policy, sgverify.WithKey())
	} else {
		policy = append(policy, sgverify.WithCertificateIdentity(v.identity.cert))
	}
	return v.verifyCryptoWith(b, target, policy)
}

func (v *Verifier) verifyCryptoWith(b *bundle.Bundle, target artifactTarget, policy []sgverify.PolicyOption) (*sgverify.VerificationResult, error) {
	// Read from the protobuf rather than VerificationContent(), which would
	// parse the certificate once more only to say it is not a key.
	byKey := b.GetVerificationMaterial().GetPublicKey() != nil
	var errs []error
	for _, d := range v.domains {
		sv := d.forCert
		if byKey {
			sv = d.forKey
		}
		res, err := verifyWith(sv, b, target, policy)
		if err == nil {
			return res, nil
		}
		if len(v.domains) > 1 {
			err = fmt.Errorf("%s (%s): %w", d.name, d.profile, err)
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// predicateOf is the predicate of the envelope sigstore-go has just
// verified: the payload decoded once, before verification, from the same
// envelope (the same bytes, read by the same JSON decoder it used for the
// subjects).
func predicateOf(peek *peeked) (json.RawMessage, error) {
	if peek == nil {
		return nil, errors.New("bundle has no DSSE envelope")
	}
	if peek.err != nil {
		return nil, peek.err
	}
	if p := peek.st.Predicate; len(p) == 0 || string(p) == "null" {
		return nil, errors.New("statement has no predicate")
	}
	return peek.st.Predicate, nil
}

func normalizeOr(alg string) string {
	if n := normalizeAlg(alg); n != "" {
		return n
	}
	return strings.ToLower(alg)
}

// artifactTarget opens what a bundle is verified against, once per attempt
// (a file reader is consumed by an attempt).
type artifactTarget func() (opt sgverify.ArtifactPolicyOption, done func(), err error)

func withoutArtifact() (sgverify.ArtifactPolicyOption, func(), error) {
	return sgverify.WithoutArtifactUnsafe(), func() {}, nil
}

func verifyWith(sv *sgverify.Verifier, b *bundle.Bundle, target artifactTarget, policy []sgverify.PolicyOption) (*sgverify.VerificationResult, error) {
	opt, done, err := target()
	if err != nil {
		return nil, err
	}
	defer done()
	return sv.Verify(b, sgverify.NewPolicy(opt, policy...))
}

// pickArtifact finds the given artifact a bundle claims to be about, by the
// digests in its (not yet verified) content, and returns how to verify
// against it and which artifacts it may cover.
//
// For an attestation, the subject whose digest matched must not contradict
// the artifact under any other algorithm it lists: sigstore-go compares one
// algorithm per subject, and a subject whose sha256 and sha512 name two
// different files is not about either.
func (v *Verifier) pickArtifact(peek *peeked, msg sgverify.MessageSignatureContent, artifacts []Artifact, ix digestIndex) (artifactTarget, []int, error) {
	if msg != nil {
		alg := normalizeAlg(msg.DigestAlgorithm())
		if _, sha := digestSizes[alg]; !sha || !sizeOK(alg, msg.Digest()) {
			return nil, nil, fmt.Errorf("message signature: unsupported digest %q", msg.DigestAlgorithm())
		}
		hits := ix[indexKey(alg, msg.Digest())]
		if len(hits) == 0 {
			return nil, nil, fmt.Errorf("message signature over %s: matches none of the given artifacts", describeDigest(alg, msg.Digest()))
		}
		a := artifacts[hits[0]]
		if a.Path != "" {
			path := a.Path
			return func() (sgverify.ArtifactPolicyOption, func(), error) {
				f, err := os.Open(path)
				if err != nil {
					return nil, nil, fmt.Errorf("artifact: %w", err)
				}
				return sgverify.WithArtifact(f), func() { f.Close() }, nil
			}, hits, nil
		}
		d := a.Digests[alg]
		return func() (sgverify.ArtifactPolicyOption, func(), error) {
			return sgverify.WithArtifactDigest(alg, d), func() {}, nil
		}, hits, nil
	}

	if peek == nil {
		return nil, nil, errors.New("bundle has no DSSE envelope")
	}
	if peek.err != nil {
		return nil, nil, peek.err
	}
	for _, s := range peek.st.Subject {
		for alg, hx := range s.Digest {
			for _, i := range ix.lookup(alg, hx) {
				if !consistent(s.Digest, artifacts[i]) {
					continue
				}
				n := normalizeAlg(alg)
				// sigstore-go matches the subject's algorithm name as
				// written; pass it unchanged.
				d := artifacts[i].Digests[n]
				return func() (sgverify.ArtifactPolicyOption, func(), error) {
					return sgverify.WithArtifactDigest(alg, d), func() {}, nil
				}, nil, nil
			}
		}
	}
	return nil, nil, errors.New("subject: no subject of the statement matches the given artifacts")
}

// consistent reports whether every supported digest a subject lists agrees
// with the artifact wherever the artifact's digest under it is known.
func consistent(subject map[string]string, a Artifact) bool {
	for alg, hx := range subject {
		n := normalizeAlg(alg)
		if n == "" {
			continue
		}
		d, ok := a.Digests[n]
		if !ok {
			continue
		}
		if fmt.Sprintf("%x", d) != strings.ToLower(hx) {
			return false
		}
	}
	return true
}

type lightSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// peeked is a DSSE payload read before its signature is checked, only to
// pick which artifact to verify against and to tell revocations apart.
type peeked struct {
	payload []byte
	st      lightStatement
	err     error
}

func peekStatement(env sgverify.EnvelopeContent) *peeked {
	p := &peeked{}
	raw := env.RawEnvelope()
	if raw == nil {
		p.err = errors.New("bundle has no DSSE envelope")
		return p
	}
	var err error
	if p.payload, err = raw.DecodeB64Payload(); err != nil {
		p.err = fmt.Errorf("decode payload: %w", err)
		return p
	}
	if err := json.Unmarshal(p.payload, &p.st); err != nil {
		p.err = fmt.Errorf("decode statement: %w", err)
	}
	return p
}
