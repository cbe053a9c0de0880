package gate

import (
	"context"
	"testing"
	"time"
)

// Collecting stops early enough to leave the decision its share of time.
func TestCollectContextReservesTimeToDecide(t *testing.T) {
	for _, tc := range []struct {
		timeout, wantReserve time.Duration
	}{
		{10 * time.Second, 2 * time.Second},
		{3 * time.Second, time.Second},
		{10 * time.Minute, 15 * time.Second},
		{800 * time.Millisecond, 0}, // too little to split: collect gets it all
	} {
		ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
		outer, _ := ctx.Deadline()
		cctx, ccancel := collectContext(ctx)
		inner, ok := cctx.Deadline()
		got := outer.Sub(inner)
		if !ok || got < tc.wantReserve-50*time.Millisecond || got > tc.wantReserve+50*time.Millisecond {
			t.Errorf("timeout %s: expected collect to end %s before the run, got %s", tc.timeout, tc.wantReserve, got)
		}
		ccancel()
		cancel()
	}
	cctx, cancel := collectContext(context.Background())
	defer cancel()
	if _, ok := cctx.Deadline(); ok {
		t.Error("a run without a deadline got one for collecting")
	}
}
