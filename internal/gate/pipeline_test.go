package gate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/fault"
)

// run is a pipeline state that records what happened, in order.
type run struct {
	allow bool
	log   []string
}

func (r *run) add(s string) *run { r.log = append(r.log, s); return r }

var errDeny = errors.New("denied")

// steps builds a pipeline whose mint, sign and publish fail (or deny)
// as asked, and records every step, undo and emit.
func steps(allow bool, fail string) (Steps[*run], *[]string) {
	var emitted []string
	st := Steps[*run]{
		Decide: func(context.Context) (*run, error) {
			if fail == "decide" {
				return nil, fault.Operationalf("decide failed")
			}
			return (&run{allow: allow}).add("decide"), nil
		},
		Verdict: func(r *run) error {
			if r.allow {
				return nil
			}
			return errDeny
		},
		Mint: func(_ context.Context, r *run) (*run, Undo, error) {
			r.add("mint")
			undo := func(context.Context) error { r.add("undo"); return nil }
			switch fail {
			case "mint":
				return r, undo, fault.Operationalf("mint failed")
			case "mint-deny":
				r.allow = false
			}
			return r, undo, nil
		},
		Sign: func(_ context.Context, r *run) (*run, error) {
			if fail == "sign" {
				return r.add("sign"), fault.Operationalf("sign failed")
			}
			return r.add("sign"), nil
		},
		Publish: func(_ context.Context, r *run) (*run, error) {
			if fail == "publish" {
				return r.add("publish"), fault.Operationalf("publish failed")
			}
			return r.add("publish"), nil
		},
	}
	st.Emit = func(r *run, after error) error {
		e := "emit"
		if after != nil {
			e += " after: " + after.Error()
		}
		emitted = append(r.add(e).log, "")
		return nil
	}
	return st, &emitted
}

func TestExecuteOrderAndUndo(t *testing.T) {
	tests := []struct {
		name    string
		allow   bool
		fail    string
		want    string // the log, steps joined by " > "
		wantErr string // "" for success
	}{
		{"allow", true, "", "decide > mint > sign > publish > emit", ""},
		{"deny: nothing minted, the deny is signed and emitted", false, "", "decide > sign > publish > emit", "denied"},
		{"decide fails: nothing else runs, nothing emitted", true, "decide", "", "decide failed"},
		{"mint fails: undone, not signed, emitted", true, "mint", "decide > mint > undo > emit after: mint failed", "mint failed"},
		{"mint turns the allow into a deny: undone, the deny signed", true, "mint-deny", "decide > mint > sign > publish > undo > emit", "denied"},
		{"sign fails after mint: undone, not published, emitted", true, "sign", "decide > mint > sign > undo > emit after: sign failed", "sign failed"},
		{"publish fails after mint: undone, emitted", true, "publish", "decide > mint > sign > publish > undo > emit after: publish failed", "publish failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, emitted := steps(tt.allow, tt.fail)
			err := Execute(context.Background(), st)
			got := strings.Join(*emitted, " > ")
			got = strings.TrimSuffix(got, " > ")
			if got != tt.want {
				t.Errorf("steps:\n got  %s\n want %s", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.fail != "" && tt.fail != "mint-deny" && fault.KindOf(err) != fault.KindOperational {
				t.Errorf("a failure after the decision is %v, want operational", fault.KindOf(err))
			}
		})
	}
}

func TestExecuteUndoFailureIsTheRunsFailure(t *testing.T) {
	st, _ := steps(true, "sign")
	mint := st.Mint
	st.Mint = func(ctx context.Context, r *run) (*run, Undo, error) {
		r, _, err := mint(ctx, r)
		return r, func(context.Context) error { return errors.New("issuer unreachable") }, err
	}
	err := Execute(context.Background(), st)
	if err == nil || !strings.Contains(err.Error(), "take back what was issued: issuer unreachable") || !strings.Contains(err.Error(), "sign failed") {
		t.Fatalf("error %v: want both the sign failure and the failed undo", err)
	}
}

func TestExecuteEmitFailureIsNotSuccess(t *testing.T) {
	st, _ := steps(true, "")
	st.Emit = func(*run, error) error { return fault.Operationalf("write outputs") }
	if err := Execute(context.Background(), st); err == nil {
		t.Fatal("an allow whose emit failed ended in success")
	}
}
