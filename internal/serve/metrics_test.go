package serve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsParse reads the metrics page with Prometheus's own text parser
// (the one a scraper uses) and checks the values it finds, including a
// histogram's cumulative buckets and a label value that needs escaping.
func TestMetricsParse(t *testing.T) {
	m := newMetrics(func() float64 { return 3 })
	m.webhooks.inc("accepted")
	m.webhooks.inc("accepted")
	m.webhooks.inc(`odd "value"` + "\n\\")
	m.github.inc("201")
	m.rateLeft.set(4999)
	m.inflight.add(1)
	m.inflight.add(1)
	m.inflight.add(-1)
	for _, s := range []float64{0.004, 0.01, 0.02, 0.3, 120} {
		m.latency.observe("approved", s)
	}
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("Prometheus's parser refuses the page: %v", err)
	}
	counter := func(name, label string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil || f.GetType() != dto.MetricType_COUNTER {
			t.Fatalf("%s: missing or not a counter", name)
		}
		for _, x := range f.Metric {
			if x.Label[0].GetValue() == label {
				return x.Counter.GetValue()
			}
		}
		t.Fatalf("%s{%q} missing", name, label)
		return 0
	}
	if v := counter("airlock_serve_webhooks_total", "accepted"); v != 2 {
		t.Errorf("accepted: %v, want 2", v)
	}
	if v := counter("airlock_serve_webhooks_total", `odd "value"`+"\n\\"); v != 1 {
		t.Errorf("escaped label: %v, want 1", v)
	}
	if v := counter("airlock_serve_github_requests_total", "201"); v != 1 {
		t.Errorf("github 201: %v, want 1", v)
	}
	gauge := func(name string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil || f.GetType() != dto.MetricType_GAUGE {
			t.Fatalf("%s: missing or not a gauge", name)
		}
		return f.Metric[0].Gauge.GetValue()
	}
	for name, want := range map[string]float64{"airlock_serve_github_rate_limit_remaining": 4999,
		"airlock_serve_decisions_in_flight": 1, "airlock_serve_queue_depth": 3} {
		if v := gauge(name); v != want {
			t.Errorf("%s: %v, want %v", name, v, want)
		}
	}
	if gauge("go_goroutines") < 1 || gauge("process_start_time_seconds") <= 0 {
		t.Errorf("runtime series are not filled")
	}
	h := fams["airlock_serve_decision_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatal("airlock_serve_decision_seconds: missing or not a histogram")
	}
	hv := h.Metric[0].Histogram
	if hv.GetSampleCount() != 5 || hv.GetSampleSum() < 120.33 || hv.GetSampleSum() > 120.35 {
		t.Errorf("count %d sum %v, want 5 and 120.334", hv.GetSampleCount(), hv.GetSampleSum())
	}
	want := map[float64]uint64{0.01: 2, 0.025: 3, 0.25: 3, 0.5: 4, 60: 4}
	for _, b := range hv.Bucket {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
}
