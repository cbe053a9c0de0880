package gate

import (
	"context"
	"errors"

	"github.com/airlock-dev/airlock/internal/fault"
)

// Steps are one run of the boundary after its configuration was parsed:
//
//	decide (identify → collect → evaluate) → mint → sign → publish → emit
//
// The gate and the pull-request check are both a Steps value: they share
// the order, the rules below and most steps (identify, evaluate), and differ
// in what they collect and where they publish. Every step is a function of
// the configuration it closes over and of the run so far; side effects
// reach it through the closures (clients, clock, file system), so a test
// can replace any one of them.
//
// The rules Execute enforces, whatever the steps do:
//   - Nothing is decided until Decide returns; its error means airlock could
//     not decide, and nothing is emitted (there is no decision to show).
//   - Mint runs only on an allow. What it issued is undone (revoked) when
//     the run does not end in a published allow: a deny, or a later step
//     that failed. The undo's outcome is the run's too.
//   - Sign and Publish run on allows and denies (each step decides what a
//     deny means for it) and stop at the first failure.
//   - Emit always runs once something was decided, with the failure after
//     the decision (if any), so a workflow sees the decision either way.
//   - The result is the failure after the decision if there was one (never
//     exit 0, nor the deny's 1), else Emit's error, else the verdict.
type Steps[R any] struct {
	Decide func(context.Context) (R, error)
	// Verdict is nil for an allow and the deny (a value the caller maps
	// to its exit code) otherwise.
	Verdict func(R) error
	// Mint, when set, issues what the allow grants and returns how to take
	// it back. It may turn the allow into a deny (its result says so);
	// the undo is then called at once.
	Mint    func(context.Context, R) (R, Undo, error)
	Sign    func(context.Context, R) (R, error)
	Publish func(context.Context, R) (R, error)
	Emit    func(R, error) error
}

// Undo takes back what a step issued. It runs on a context that the run's
// cancellation does not stop (its own deadline bounds it), and its error
// names what may survive.
type Undo func(context.Context) error

// Execute runs the steps in order under the rules of Steps.
func Execute[R any](ctx context.Context, s Steps[R]) error {
	if s.Decide == nil || s.Verdict == nil || s.Emit == nil {
		return fault.Configf("pipeline: Decide, Verdict and Emit are required")
	}
	res, err := s.Decide(ctx)
	if err != nil {
		return err
	}
	var after error
	var undo Undo
	if s.Mint != nil && s.Verdict(res) == nil {
		res, undo, after = s.Mint(ctx, res)
	}
	for _, step := range []func(context.Context, R) (R, error){s.Sign, s.Publish} {
		if after != nil || step == nil {
			continue
		}
		res, after = step(ctx, res)
	}
	if undo != nil && (after != nil || s.Verdict(res) != nil) {
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			after = errors.Join(after, fault.Operationalf("take back what was issued: %w", uerr))
		}
	}
	if err := s.Emit(res, after); err != nil {
		after = errors.Join(after, err)
	}
	if after != nil {
		return after
	}
	return s.Verdict(res)
}
