package verify

import (
	"context"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/policy/opa"
	"github.com/airlock-dev/airlock/policies"
)

// cancelledEngine is the real default engine asked with a context that has
// ended: its evaluation fails operationally, as a --policy run whose
// deadline passed mid-evaluation does.
type cancelledEngine struct{ e *opa.Engine }

func (c cancelledEngine) Evaluate(ctx context.Context, input any) (policy.Decision, error) {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return c.e.Evaluate(ctx, input)
}

// TestReevaluationThatCannotRunIsOperational: `verify --policy` whose
// evaluation fails operationally is exit 3 (an error of kind operational),
// not a deny that reads as the auditor's policy refusing the decision.
func TestReevaluationThatCannotRunIsOperational(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	p := f.attest(t, dir, "allow.json", f.signer, DecisionPredicateType, decision("allow", time.Now().Add(-time.Minute), allowUntil), f.art)
	engine, err := opa.Load(context.Background(), policy.Source{Name: "policies", FS: policies.FS})
	if err != nil {
		t.Fatal(err)
	}

	// The real engine decides: a deny (this evidence is empty), a verdict.
	cfg := f.config()
	cfg.Policy = engine
	rep := run(t, cfg, []string{p}, fileArtifact(t, f.artPath))
	if re := rep.Bundles[0].Reevaluation; re == nil || re.Allow || len(re.Reasons) == 0 {
		t.Fatalf("expected a re-evaluated deny, got %+v", re)
	}

	cfg.Policy = cancelledEngine{engine}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = v.Verify(context.Background(), []string{p}, []Artifact{fileArtifact(t, f.artPath)})
	if err == nil {
		t.Fatalf("expected an error, got a report: verified=%v %+v", rep.Verified, rep.Bundles)
	}
	if k := fault.KindOf(err); k != fault.KindOperational {
		t.Errorf("expected an operational error (exit 3), got %s: %v", k, err)
	}
	t.Logf("error: %v", err)
}
