package audit

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sync"
	"time"
)

// The auditor's page: one self-contained HTML file (no script, no request
// to anywhere), summary counts, coverage over time, what is not covered
// first, every row linking to its release or run.

//go:embed report.html.tmpl
var pageTemplate string

// page is parsed on first use: package initialisation runs in every airlock
// process, and only audit --format html needs it.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("audit").Funcs(template.FuncMap{
		"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") },
		"pct": func(n, total int) string {
			if total == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
		},
	}).Parse(pageTemplate))
})

// Bucket is one period of the coverage chart.
type Bucket struct {
	Label            string
	Covered, Other   int
	X, HCovered, HOt int // geometry, in SVG units
	YCovered, YOther int
}

type pageData struct {
	*Report
	Generated time.Time
	Problems  []Record
	Buckets   []Bucket
	ChartW    int
}

// WriteHTML writes the report as one page.
func WriteHTML(w io.Writer, rep *Report, now time.Time) error {
	d := pageData{Report: rep, Generated: now}
	for _, r := range rep.Records {
		if r.Status != Covered {
			d.Problems = append(d.Problems, r)
		}
	}
	d.Buckets = buckets(rep.Records)
	d.ChartW = max(len(d.Buckets)*28, 200)
	return page().Execute(w, d)
}

// buckets counts records per month (per week when the range is under three
// months), oldest first, scaled to a 120-unit high chart.
func buckets(recs []Record) []Bucket {
	if len(recs) == 0 {
		return nil
	}
	lo, hi := recs[0].Time, recs[0].Time
	for _, r := range recs {
		lo, hi = minTime(lo, r.Time), maxTime(hi, r.Time)
	}
	weekly := hi.Sub(lo) < 90*24*time.Hour
	key := func(t time.Time) string {
		t = t.UTC()
		if weekly {
			y, wk := t.ISOWeek()
			return fmt.Sprintf("%d-W%02d", y, wk)
		}
		return t.Format("2006-01")
	}
	counts := map[string]*Bucket{}
	for _, r := range recs {
		k := key(r.Time)
		b := counts[k]
		if b == nil {
			b = &Bucket{Label: k}
			counts[k] = b
		}
		if r.Status == Covered {
			b.Covered++
		} else {
			b.Other++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	top := 1
	for _, b := range counts {
		top = max(top, b.Covered+b.Other)
	}
	out := make([]Bucket, 0, len(keys))
	for i, k := range keys {
		b := *counts[k]
		b.X = i*28 + 4
		b.HCovered = b.Covered * 120 / top
		b.HOt = b.Other * 120 / top
		b.YCovered = 130 - b.HCovered
		b.YOther = b.YCovered - b.HOt
		out = append(out, b)
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
