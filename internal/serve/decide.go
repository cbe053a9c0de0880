package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/airlock-dev/airlock/internal/audit"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/verify"
)

// Request is what one deployment_protection_rule delivery asks: may run
// RunID of the repository deploy commit SHA to Environment?
type Request struct {
	Owner, Repo  string
	RepositoryID int64
	Environment  string
	RunID        int64
	SHA          string
	// Ref is the deployment's ref: a release tagged so holds decisions too.
	Ref string
}

// Verdict is serve's answer to one request. Approved only when a verified
// allow for exactly this request was found; every other verdict carries
// the reasons why not.
type Verdict struct {
	Approved bool
	// Decision names the bundle that decided (approved, or the deny that
	// was the newest decision).
	Decision string
	Reasons  []string
}

// State is the review state the verdict asks GitHub for.
func (v Verdict) State() string {
	if v.Approved {
		return ghapi.ReviewApproved
	}
	return ghapi.ReviewRejected
}

// maxReasons bounds the reasons a comment names.
const maxReasons = 3

// Comment is the review's comment: the decision, or the first reasons, on
// one line. Reasons may quote what a bundle or GitHub said: control
// characters are dropped so that they cannot shape the comment.
func (v Verdict) Comment() string {
	if v.Approved {
		return oneLine("airlock: approved by " + v.Decision)
	}
	rs := v.Reasons
	more := ""
	if len(rs) > maxReasons {
		more = fmt.Sprintf(" (and %d more)", len(rs)-maxReasons)
		rs = rs[:maxReasons]
	}
	return oneLine("airlock: rejected: " + strings.Join(rs, "; ") + more)
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func reject(format string, a ...any) Verdict {
	return Verdict{Reasons: []string{fmt.Sprintf(format, a...)}}
}

// decisionScope is what serve reads of a verified decision's predicate,
// beyond what internal/verify already checked (signature, signer, subject,
// validity, policy digest, revocation).
type decisionScope struct {
	Decision string `json:"decision"`
	Issuer   struct {
		RepositoryID string `json:"repository_id"`
		Environment  string `json:"environment"`
	} `json:"issuer"`
	Run struct {
		RunID string `json:"run_id"`
		SHA   string `json:"sha"`
	} `json:"run"`
	Validity struct {
		IssuedAt time.Time `json:"issuedAt"`
	} `json:"validity"`
	Reasons []struct {
		Message string `json:"message"`
	} `json:"reasons"`
}

// Decisions are found where `airlock verify` finds them: the repository's
// attestation store, indexed by the commit's gitCommit digest, and the
// release the deployment's ref names, if any (its *.sigstore.json assets).

// releaseBundles returns the decision bundles of the release tagged ref
// and the release's other assets as artifacts (audit.AssetArtifact: the
// sha256 GitHub reports, else the asset hashed as it streams): a decision
// the gate made about release assets is about them. No release by that tag
// is no bundle.
func releaseBundles(ctx context.Context, src *ghapi.Client, req Request) ([]verify.Bundle, []verify.Artifact, error) {
	if req.Ref == "" || strings.HasPrefix(req.Ref, "refs/heads/") {
		return nil, nil, nil
	}
	tag := strings.TrimPrefix(req.Ref, "refs/tags/")
	rel, err := src.ReleaseByTag(ctx, req.Owner, req.Repo, tag)
	if ghapi.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	assets, err := src.ReleaseAssets(ctx, req.Owner, req.Repo, rel.ID)
	if err != nil {
		return nil, nil, err
	}
	var bundles []verify.Bundle
	var arts []verify.Artifact
	for _, a := range assets {
		if strings.HasSuffix(strings.ToLower(a.Name), ".sigstore.json") {
			data, err := src.DownloadReleaseAsset(ctx, req.Owner, req.Repo, a.ID)
			if err != nil {
				return nil, nil, err
			}
			bundles = append(bundles, verify.Bundle{Name: "release " + tag + "/" + a.Name, Data: data})
			continue
		}
		if a.Name == audit.TrustedRootAsset {
			continue
		}
		art, err := audit.AssetArtifact(ctx, src, req.Owner, req.Repo, a)
		if err != nil {
			return nil, nil, err
		}
		arts = append(arts, art)
	}
	return bundles, arts, nil
}

// decide verifies every decision the store holds for the request's commit
// with the rule's verify path and approves only if the newest verified
// decision in scope (this repository id, the rule's decision environment,
// this run unless the rule matches by commit, issued within max_age) is an
// allow. It never returns an error: anything it cannot establish is a
// rejection that says why.
func decide(ctx context.Context, rule Rule, req Request, src *ghapi.Client, now func() time.Time) Verdict {
	digest := "gitCommit:" + req.SHA
	found, err := src.Attestations(ctx, req.Owner, req.Repo, digest)
	if ghapi.IsNotFound(err) {
		found, err = nil, nil
	}
	if err != nil {
		return reject("could not read the attestation store: %v", err)
	}
	bundles := make([]verify.Bundle, 0, len(found))
	for i, a := range found {
		bundles = append(bundles, verify.Bundle{Name: fmt.Sprintf("attestation %s #%d", digest, i+1), Data: a.Bundle, Err: a.Err})
	}
	fromRelease, assets, err := releaseBundles(ctx, src, req)
	if err != nil {
		return reject("could not read release %s: %v", req.Ref, err)
	}
	bundles = append(bundles, fromRelease...)
	if len(bundles) == 0 {
		where := ""
		if req.Ref != "" {
			where = fmt.Sprintf(" nor a release tagged %q", req.Ref)
		}
		return reject("no decision found: the attestation store of %s/%s holds none for commit %s%s", req.Owner, req.Repo, req.SHA, where)
	}
	art, err := verify.ParseDigest(digest)
	if err != nil {
		return reject("commit %q: %v", req.SHA, err)
	}
	at := now()
	v, err := rule.verifierAt(at)
	if err != nil {
		return reject("verifier: %v", err)
	}
	rep, err := v.VerifyBundles(ctx, "the attestation store for "+digest, bundles, append([]verify.Artifact{art}, assets...))
	if err != nil {
		return reject("verification did not finish: %v", err)
	}

	type candidate struct {
		name, payload string
		scope         decisionScope
	}
	var cands []candidate
	var reasons []string
	for _, rec := range rep.Bundles {
		if !rec.Verified {
			msg := "not verified"
			if len(rec.Errors) > 0 {
				msg = rec.Errors[0]
			}
			if rec.Revoked != nil {
				msg = "revoked: " + rec.Revoked.Reason
			}
			reasons = append(reasons, rec.Bundle+": "+msg)
			continue
		}
		var sc decisionScope
		if err := json.Unmarshal(rec.Predicate, &sc); err != nil {
			reasons = append(reasons, rec.Bundle+": decision predicate: "+err.Error())
			continue
		}
		switch {
		case sc.Issuer.RepositoryID != strconv.FormatInt(req.RepositoryID, 10):
			reasons = append(reasons, fmt.Sprintf("%s: decision about repository id %q, not %d", rec.Bundle, sc.Issuer.RepositoryID, req.RepositoryID))
		case sc.Issuer.Environment != rule.DecisionEnvironment:
			reasons = append(reasons, fmt.Sprintf("%s: decision for environment %q, not %q", rec.Bundle, sc.Issuer.Environment, rule.DecisionEnvironment))
		case rule.Match == MatchRun && sc.Run.RunID != strconv.FormatInt(req.RunID, 10):
			reasons = append(reasons, fmt.Sprintf("%s: decision of run %q, not of run %d", rec.Bundle, sc.Run.RunID, req.RunID))
		case !strings.EqualFold(sc.Run.SHA, req.SHA):
			reasons = append(reasons, fmt.Sprintf("%s: decision about commit %q, not %s", rec.Bundle, sc.Run.SHA, req.SHA))
		case sc.Validity.IssuedAt.IsZero() || at.Sub(sc.Validity.IssuedAt) > rule.MaxAge:
			reasons = append(reasons, fmt.Sprintf("%s: decision issued at %s, older than max_age %s", rec.Bundle, sc.Validity.IssuedAt.UTC().Format(time.RFC3339), rule.MaxAge))
		default:
			cands = append(cands, candidate{name: rec.Bundle, payload: rec.PayloadDigest, scope: sc})
		}
	}
	if len(cands) == 0 {
		if len(reasons) == 0 {
			reasons = append(reasons, "no verified decision")
		}
		lead := fmt.Sprintf("no verified allow for run %d of %s/%s (id %d) in environment %q among %d decision(s)", req.RunID, req.Owner, req.Repo, req.RepositoryID, rule.DecisionEnvironment, len(rep.Bundles))
		return Verdict{Reasons: append([]string{lead}, reasons...)}
	}
	// The newest decision in scope decides: a deny issued after an allow
	// (a re-run that failed) withdraws it. Ties break on the payload digest
	// so that every replica picks the same one.
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if !a.scope.Validity.IssuedAt.Equal(b.scope.Validity.IssuedAt) {
			return a.scope.Validity.IssuedAt.After(b.scope.Validity.IssuedAt)
		}
		if (a.scope.Decision == "allow") != (b.scope.Decision == "allow") {
			return a.scope.Decision != "allow" // at the same instant, a deny wins
		}
		return a.payload < b.payload
	})
	c := cands[0]
	name := fmt.Sprintf("decision %s (%s, issued %s)", c.payload, c.name, c.scope.Validity.IssuedAt.UTC().Format(time.RFC3339))
	if c.scope.Decision != "allow" {
		v := Verdict{Decision: name, Reasons: []string{fmt.Sprintf("the newest decision is %q: %s", c.scope.Decision, name)}}
		for _, r := range c.scope.Reasons {
			v.Reasons = append(v.Reasons, r.Message)
		}
		return v
	}
	return Verdict{Approved: true, Decision: name}
}
