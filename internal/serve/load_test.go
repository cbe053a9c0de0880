package serve_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/serve"
	"github.com/airlock-dev/airlock/internal/serve/servetest"
)

// loadResult is what a load run measured; the counts are correctness.
type loadResult struct {
	acks, decisions       []time.Duration // sorted
	notAccepted, missing  int
	duplicate, wrongState int
	wrongApprovals        int
	goroutinesLeft        int
}

// runLoad sends n signed deployment_protection_rule webhooks at a fixed
// rate, alternately to two replicas that share nothing but GitHub. Every
// other run has a valid allow; the others an allow of another run, which
// must be rejected. It waits until every run is reviewed (bounded), stops
// both replicas and counts the goroutines left over the baseline.
func runLoad(tb testing.TB, n int, rate float64) loadResult {
	e := servetest.New(tb)
	type delivery struct {
		run     int64
		body    []byte
		approve bool
		sent    time.Time
	}
	ds := make([]delivery, n)
	for i := range ds {
		run, sha := e.NewRun()
		d := e.Allow(run, sha)
		if i%2 == 1 {
			d.RunID = run + 1_000_000 // a decision of another run
		}
		e.Publish(tb, d)
		ds[i] = delivery{run: run, body: e.Payload(tb, run, sha, servetest.Environment), approve: i%2 == 0}
	}
	runtime.GC()
	baseline := runtime.NumGoroutine()
	reps := []*replica{start(tb, e, nil), start(tb, e, nil)}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var res loadResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for i := range ds {
		<-tick.C
		wg.Go(func() {
			d := &ds[i]
			sent := time.Now()
			code, _, err := githubsim.Deliver(tb.Context(), hc, reps[i%2].url+serve.WebhookPath, servetest.WebhookSecret,
				githubsim.Delivery{Event: "deployment_protection_rule", ID: fmt.Sprintf("load-%d", i), Body: d.body})
			ack := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			d.sent = sent
			res.acks = append(res.acks, ack)
			if err != nil || code != http.StatusAccepted {
				res.notAccepted++
			}
		})
	}
	tick.Stop()
	wg.Wait()

	byRun := map[int64][]githubsim.DeploymentReview{}
	deadline := time.Now().Add(2*time.Minute + time.Duration(float64(n)/rate*float64(time.Second)))
	for {
		clear(byRun)
		for _, r := range e.Sim.DeploymentReviews() {
			byRun[r.RunID] = append(byRun[r.RunID], r)
		}
		if len(byRun) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range ds {
		rs := byRun[d.run]
		switch {
		case len(rs) == 0:
			res.missing++
			continue
		case len(rs) > 1:
			res.duplicate++
		}
		r := rs[0]
		if r.State == "approved" && !d.approve {
			res.wrongApprovals++
		}
		if (r.State == "approved") != d.approve {
			res.wrongState++
		}
		res.decisions = append(res.decisions, r.Time.Sub(d.sent))
	}
	for _, r := range reps {
		r.stop(tb)
	}
	tr.CloseIdleConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	for wait := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res.goroutinesLeft = runtime.NumGoroutine() - baseline
		if res.goroutinesLeft <= 0 || time.Now().After(wait) {
			break
		}
	}
	slices.Sort(res.acks)
	slices.Sort(res.decisions)
	return res
}

func (r loadResult) check(tb testing.TB) {
	tb.Helper()
	if r.notAccepted+r.missing+r.duplicate+r.wrongState+r.wrongApprovals != 0 {
		tb.Errorf("not accepted %d, not answered %d, answered twice %d, wrong state %d, wrong approvals %d",
			r.notAccepted, r.missing, r.duplicate, r.wrongState, r.wrongApprovals)
	}
	if r.goroutinesLeft > 0 {
		buf := make([]byte, 1<<20)
		tb.Errorf("%d goroutine(s) over the baseline after both replicas stopped:\n%s", r.goroutinesLeft, bytes.TrimSpace(buf[:runtime.Stack(buf, true)]))
	}
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestLoadAnswersEveryDelivery is the load run, small: every delivery
// answered once, none wrongly approved, nothing left running. It asserts
// no timing (BenchmarkServeLoad measures).
func TestLoadAnswersEveryDelivery(t *testing.T) {
	runLoad(t, 200, 200).check(t)
}

// BenchmarkServeLoad: 2,000 signed webhooks at AIRLOCK_BENCH_SERVE_RATE per
// second (default 100) against two replicas. Run with:
//
//	go test -run '^$' -bench ServeLoad -benchtime 1x ./internal/serve/
func BenchmarkServeLoad(b *testing.B) {
	rate := 100.0
	if v := os.Getenv("AIRLOCK_BENCH_SERVE_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil || rate <= 0 {
			b.Fatalf("AIRLOCK_BENCH_SERVE_RATE=%q: expected a positive number", v)
		}
	}
	for range b.N {
		r := runLoad(b, 2000, rate)
		r.check(b)
		b.ReportMetric(float64(pct(r.acks, .5).Microseconds())/1000, "ack-p50-ms")
		b.ReportMetric(float64(pct(r.acks, .99).Microseconds())/1000, "ack-p99-ms")
		b.ReportMetric(float64(pct(r.decisions, .5).Microseconds())/1000, "decision-p50-ms")
		b.ReportMetric(float64(pct(r.decisions, .99).Microseconds())/1000, "decision-p99-ms")
		b.ReportMetric(float64(len(r.decisions)), "answered")
	}
}
