package serve

import (
	"bufio"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The metrics serve exposes, in Prometheus's text format (version 0.0.4).
// They are a handful of counters, gauges and one histogram, written here
// rather than with prometheus/client_golang: that library initialises in
// every airlock process (Go runs the init of everything linked), which
// `airlock verify` paid on every run (issue 16). Names, labels, help texts
// and the standard go_/process_ series a dashboard expects are kept;
// TestMetricsParse reads the page with Prometheus's own parser.

// counterVec is a counter per value of one label.
type counterVec struct {
	name, help, label string
	mu                sync.Mutex
	vals              map[string]*atomic.Uint64
}

func newCounterVec(name, help, label string) *counterVec {
	return &counterVec{name: name, help: help, label: label, vals: map[string]*atomic.Uint64{}}
}

func (c *counterVec) inc(v string) {
	c.mu.Lock()
	n, ok := c.vals[v]
	if !ok {
		n = new(atomic.Uint64)
		c.vals[v] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

func (c *counterVec) write(w *bufio.Writer) {
	header(w, c.name, c.help, "counter")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range slices.Sorted(maps.Keys(c.vals)) {
		fmt.Fprintf(w, "%s{%s=%s} %d\n", c.name, c.label, quote(v), c.vals[v].Load())
	}
}

// gauge holds a float64.
type gauge struct {
	name, help string
	bits       atomic.Uint64
}

func (g *gauge) set(v float64) { g.bits.Store(math.Float64bits(v)) }
func (g *gauge) add(d float64) {
	for {
		old := g.bits.Load()
		if g.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (g *gauge) write(w *bufio.Writer) {
	header(w, g.name, g.help, "gauge")
	fmt.Fprintf(w, "%s %s\n", g.name, num(math.Float64frombits(g.bits.Load())))
}

// histogramVec is a histogram per value of one label.
type histogramVec struct {
	name, help, label string
	buckets           []float64 // upper bounds, increasing; +Inf implied
	mu                sync.Mutex
	vals              map[string]*histogram
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  uint64
}

func newHistogramVec(name, help, label string, buckets []float64) *histogramVec {
	return &histogramVec{name: name, help: help, label: label, buckets: buckets, vals: map[string]*histogram{}}
}

func (h *histogramVec) observe(v string, x float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.vals[v]
	if !ok {
		o = &histogram{counts: make([]uint64, len(h.buckets)+1)}
		h.vals[v] = o
	}
	o.counts[sort.SearchFloat64s(h.buckets, x)]++ // first bound ≥ x: "le"
	o.sum += x
	o.count++
}

func (h *histogramVec) write(w *bufio.Writer) {
	header(w, h.name, h.help, "histogram")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range slices.Sorted(maps.Keys(h.vals)) {
		o, l := h.vals[v], h.label+"="+quote(v)
		var cum uint64
		for i, le := range h.buckets {
			cum += o.counts[i]
			fmt.Fprintf(w, "%s_bucket{%s,le=%q} %d\n", h.name, l, num(le), cum)
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", h.name, l, o.count)
		fmt.Fprintf(w, "%s_sum{%s} %s\n%s_count{%s} %d\n", h.name, l, num(o.sum), h.name, l, o.count)
	}
}

type metrics struct {
	webhooks  *counterVec
	decisions *counterVec
	latency   *histogramVec
	github    *counterVec
	rateLeft  *gauge
	inflight  *gauge
	queued    func() float64
}

func newMetrics(queued func() float64) *metrics {
	return &metrics{
		webhooks: newCounterVec("airlock_serve_webhooks_total",
			"Webhook requests by result: accepted, bad_signature, too_large, malformed, ignored, ping, overloaded, unavailable.", "result"),
		decisions: newCounterVec("airlock_serve_decisions_total",
			"Deployment protection rule answers by outcome: approved, rejected, pending (GitHub not reached).", "outcome"),
		latency: newHistogramVec("airlock_serve_decision_seconds", "Time from webhook to the review posted (or given up), by outcome.",
			"outcome", []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		github: newCounterVec("airlock_serve_github_requests_total",
			`HTTP requests to GitHub by status code ("error": no answer).`, "code"),
		rateLeft: &gauge{name: "airlock_serve_github_rate_limit_remaining",
			help: "X-RateLimit-Remaining of GitHub's latest answer that carried it."},
		inflight: &gauge{name: "airlock_serve_decisions_in_flight", help: "Decisions being made now."},
		queued:   queued,
	}
}

// ServeHTTP writes every series.
func (m *metrics) ServeHTTP(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w := bufio.NewWriter(rw)
	m.webhooks.write(w)
	m.decisions.write(w)
	m.latency.write(w)
	m.github.write(w)
	m.rateLeft.write(w)
	m.inflight.write(w)
	header(w, "airlock_serve_queue_depth", "Accepted deliveries waiting for a worker.", "gauge")
	fmt.Fprintf(w, "airlock_serve_queue_depth %s\n", num(m.queued()))
	m.writeRuntime(w)
	w.Flush()
}

// writeRuntime writes the go_ and process_ series dashboards use, from the
// runtime's own counters (one ReadMemStats per scrape).
func (m *metrics) writeRuntime(w *bufio.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := func(name, help string, v float64) {
		header(w, name, help, "gauge")
		fmt.Fprintf(w, "%s %s\n", name, num(v))
	}
	g("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	g("go_threads", "Number of OS threads created.", float64(threads()))
	header(w, "go_info", "Information about the Go environment.", "gauge")
	fmt.Fprintf(w, "go_info{version=%s} 1\n", quote(runtime.Version()))
	g("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(ms.HeapAlloc))
	g("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	g("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
	header(w, "go_gc_cycles_total", "Number of completed GC cycles.", "counter")
	fmt.Fprintf(w, "go_gc_cycles_total %d\n", ms.NumGC)
	g("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", float64(processStart.UnixNano())/1e9)
	if rss, ok := residentBytes(); ok {
		g("process_resident_memory_bytes", "Resident memory size in bytes.", rss)
	}
}

func threads() int {
	n, _ := runtime.ThreadCreateProfile(nil)
	return n
}

// residentBytes reads the resident set from /proc (Linux; elsewhere the
// series is left out rather than reported as 0).
func residentBytes() (float64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0, false
	}
	return pages * float64(os.Getpagesize()), true
}

func header(w *bufio.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// The escapers build their tables on first use, not at package init.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// processStart stands for the process's start (package initialisation runs
// first thing), not for when a Server was made.
var processStart = time.Now()

// quote writes a label value: backslash, double quote and newline escaped.
func quote(s string) string {
	return `"` + labelEscaper.Replace(s) + `"`
}

func escapeHelp(s string) string {
	return helpEscaper.Replace(s)
}

func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
