package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/verify/verifytest"
)

// BenchmarkAuditOrg audits an organization of 200 repositories × 20
// releases (each release: one asset and the decision about it) against
// githubsim, twice with one --state: the first run reads everything, the
// second asks conditionally. Reported: wall time and API requests of each
// run, and the share of the second run's requests answered 304.
//
//	go test -run '^$' -bench AuditOrg -benchtime 1x ./internal/cli/
func BenchmarkAuditOrg(b *testing.B) {
	const repos, releases = 200, 20
	e := newAuditEnv(b)
	hour := time.Hour
	for r := range repos {
		name := fmt.Sprintf("svc-%03d", r)
		repo := "acme/" + name
		e.sim.SetRepository(githubsim.Repository{Owner: "acme", Name: name, Visibility: "private"})
		for i := range releases {
			at := e.t0.Add(time.Duration(i) * hour)
			asset := []byte(fmt.Sprintf("%s build %d\n", repo, i))
			e.ship(repo, fmt.Sprintf("v1.%d.0", i), at, asset,
				e.decision(b, repo, "allow", "production", at.Add(-time.Minute), at.Add(hour), verifytest.Subject("agent.tar.gz", asset)))
		}
	}
	b.ResetTimer()
	for range b.N {
		state := b.TempDir()
		run := func() (time.Duration, int, int) {
			before, n304 := len(e.sim.Requests()), e.sim.NotModified()
			var out, errb bytes.Buffer
			start := time.Now()
			code := Main(context.Background(), []string{"audit", "--org", "acme", "--trusted-root", e.root,
				"--signer-workflow", "{repo}/.github/workflows/promote.yml", "--state", state, "--quiet", "--format", "json",
				"--out", filepath.Join(state, "report.json")}, func(k string) string { return e.env[k] },
				Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
			d := time.Since(start)
			if code != ExitAllow {
				b.Fatalf("audit: exit %d\n%s", code, errb.String())
			}
			return d, len(e.sim.Requests()) - before, e.sim.NotModified() - n304
		}
		d1, r1, _ := run()
		d2, r2, nm := run()
		b.ReportMetric(d1.Seconds(), "first-s")
		b.ReportMetric(float64(r1), "first-requests")
		b.ReportMetric(d2.Seconds(), "second-s")
		b.ReportMetric(float64(r2), "second-requests")
		b.ReportMetric(100*float64(nm)/float64(max(r2, 1)), "second-304-%")
	}
}
