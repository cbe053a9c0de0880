// Package checkrun turns a pull request check (gate.DecideCheck) into what GitHub
// shows on the pull request: one check run named "airlock / promotion" on
// the head commit, with a conclusion, the step summary's table and
// annotations on the lines of the files that caused each finding — or,
// when the token may not write check runs, a commit status with the same
// meaning.
//
// Trust boundary: everything rendered comes from evidence, policy and the
// pull request's own files. Markdown is escaped by package report and here;
// annotation messages are plain text, which GitHub does not render. The
// conclusion follows the policy decision only: success is an allow (or a
// pull request that touches no promotion file), never a failure to decide.
package checkrun

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/policy"
	"github.com/airlock-dev/airlock/internal/report"
)

// Name is the check run's name: what a branch protection rule or ruleset
// requires.
const Name = "airlock / promotion"

// StatusContext is the commit status context used without checks: write.
const StatusContext = "airlock/promotion"

// MaxAnnotations bounds the annotations of one check (in batches of
// ghapi.MaxAnnotationsPerRequest); the summary lists every finding anyway.
const MaxAnnotations = 200

// Body is what the check publishes.
type Body struct {
	// Conclusion is ghapi.ConclusionSuccess, ConclusionFailure or
	// ConclusionActionRequired.
	Conclusion  string
	Title       string
	Summary     string
	Annotations []ghapi.Annotation
	// Description is the one line a commit status carries (at most 140
	// characters).
	Description string
}

// Build renders the check. It never turns a deny into success: only an
// allow, or a pull request that changes no promotion file, succeeds.
func Build(res *gate.CheckResult, manifestPaths []string) (*Body, error) {
	pr := res.PullRequest
	if !res.Promotion {
		files := "`" + strings.Join(escapeAll(manifestPaths), "`, `") + "`"
		return &Body{
			Conclusion:  ghapi.ConclusionSuccess,
			Title:       "Not a promotion",
			Description: "Not a promotion: no promotion file changed",
			Summary: fmt.Sprintf("## ✅ airlock: not a promotion\n\nPull request #%d changes none of the promotion files (%s), so there is nothing to gate. "+
				"This success is explicit: airlock ran, verified the run's identity and listed the pull request's files at head `%s`.\n",
				pr.Number, files, short(pr.HeadSHA)),
		}, nil
	}
	d := res.Decision
	b := &Body{}
	var lead string
	switch {
	case d.Allow:
		b.Conclusion, b.Title = ghapi.ConclusionSuccess, "Promotion allowed"
		b.Description = "Allowed: every control holds"
		lead = "Every control holds for this pull request as it would be at merge."
	case res.ApprovalsWouldAllow:
		b.Conclusion, b.Title = ghapi.ConclusionActionRequired, "Approval required"
		b.Description = fmt.Sprintf("Approval required: %s", firstMessage(d.Reasons))
		lead = fmt.Sprintf("Approval required: everything else holds. Approvals of head commit `%s` by the named approvers, not the author, would allow this promotion.", short(pr.HeadSHA))
	default:
		b.Conclusion = ghapi.ConclusionFailure
		b.Title = fmt.Sprintf("Promotion denied: %d reason(s)", len(d.Reasons))
		b.Description = fmt.Sprintf("Denied (%d): %s", len(d.Reasons), firstMessage(d.Reasons))
		lead = fmt.Sprintf("Promotion denied: %d reason(s). More approvals would not change that; the reasons below say what must.", len(d.Reasons))
	}
	b.Description = clip(b.Description, ghapi.MaxStatusDescription)

	anns, more := annotations(res)
	b.Annotations = anns

	var s strings.Builder
	fmt.Fprintf(&s, "%s Evaluated as the merge of pull request #%d into `%s` (head `%s`, base `%s`). Nothing was signed: the deployment's gate decides again, and signs.\n\n",
		lead, pr.Number, md(pr.BaseRef), short(pr.HeadSHA), short(pr.BaseSHA))
	if res.IncompleteFiles != "" {
		fmt.Fprintf(&s, "> %s\n\n", md(res.IncompleteFiles))
	}
	if err := report.Markdown(&s, &res.Result); err != nil {
		return nil, fmt.Errorf("render check summary: %w", err)
	}
	writePullRequest(&s, res)
	if len(anns) > 0 || more > 0 {
		s.WriteString("\n### Annotations\n\n")
		for _, a := range anns {
			fmt.Fprintf(&s, "- `%s` line %d (%s): %s\n", md(a.Path), a.StartLine, a.Level, md(clip(a.Message, 300)))
		}
		if more > 0 {
			fmt.Fprintf(&s, "- … and %d more finding(s) not annotated (at most %d per check)\n", more, MaxAnnotations)
		}
	}
	b.Summary = truncate(s.String(), ghapi.MaxCheckRunText)
	return b, nil
}

func writePullRequest(s *strings.Builder, res *gate.CheckResult) {
	pr := res.PullRequest
	s.WriteString("\n### Pull request\n\n")
	if len(pr.PromotionFiles) > 0 {
		fmt.Fprintf(s, "Promotion files changed: `%s`.\n", strings.Join(escapeAll(pr.PromotionFiles), "`, `"))
	}
	switch pr.ProductionManifestAtBase {
	case "absent":
		s.WriteString("\nThe production manifest is new in this pull request.\n")
	case "invalid":
		s.WriteString("\nThe production manifest at the base is not valid, so this pull request's changes to it are not listed.\n")
	case "present":
		if len(pr.ProductionChanges) == 0 && len(pr.ProductionEscalations) == 0 {
			s.WriteString("\nThis pull request changes none of the production manifest's re-attestation fields and gains no privilege over the base.\n")
		}
	}
	if len(pr.ProductionChanges) > 0 {
		s.WriteString("\nWhat this pull request changes in the production manifest:\n\n| field | base | head |\n|---|---|---|\n")
		for _, c := range pr.ProductionChanges {
			fmt.Fprintf(s, "| %s | %s | %s |\n", md(c.Field), md(c.QA), md(c.Production))
		}
	}
	if len(pr.ProductionEscalations) > 0 {
		s.WriteString("\nPrivileges the production manifest gains in this pull request:\n\n")
		for _, e := range pr.ProductionEscalations {
			fmt.Fprintf(s, "- %s\n", md(e.String()))
		}
	}
	if ps := res.Sources.Problems; len(ps) > 0 {
		s.WriteString("\n### Problems in the pull request's files\n\n")
		for _, p := range ps {
			at := ""
			if p.Line > 0 {
				at = fmt.Sprintf(" line %d", p.Line)
			}
			fmt.Fprintf(s, "- `%s`%s: %s\n", md(p.Path), at, md(p.Message))
		}
	}
}

// annotations points every finding it can place at a line: problems in the
// pull request's files and deny reasons as failures, warnings as warnings.
// Requirements are in the summary only (they repeat the reasons' lines).
// It returns at most MaxAnnotations and how many more there were.
func annotations(res *gate.CheckResult) ([]ghapi.Annotation, int) {
	var out []ghapi.Annotation
	seen := map[string]bool{}
	add := func(l loc, level, title, msg string) {
		key := fmt.Sprintf("%s\x00%d\x00%s\x00%s", l.path, l.line, level, msg)
		if l.path == "" || l.line < 1 || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, ghapi.Annotation{
			Path: l.path, StartLine: l.line, EndLine: l.line, Level: level,
			Title: clip(title, ghapi.MaxAnnotationTitle), Message: clip(plain(msg), 4000),
		})
	}
	for _, p := range res.Sources.Problems {
		line := p.Line
		if line < 1 {
			line = 1
		}
		add(loc{p.Path, line}, ghapi.AnnotationFailure, "airlock: invalid file", p.Message)
	}
	for _, group := range []struct {
		level   string
		reasons []policy.Reason
	}{{ghapi.AnnotationFailure, res.Decision.Reasons}, {ghapi.AnnotationWarning, res.Decision.Warnings}} {
		for _, r := range group.reasons {
			for _, l := range locate(r, res) {
				add(l, group.level, "airlock "+r.Control+": "+controlTitle(r.Control), r.Message)
			}
		}
	}
	rank := map[string]int{ghapi.AnnotationFailure: 0, ghapi.AnnotationWarning: 1, ghapi.AnnotationNotice: 2}
	slices.SortStableFunc(out, func(a, b ghapi.Annotation) int {
		return cmp.Or(cmp.Compare(rank[a.Level], rank[b.Level]), strings.Compare(a.Path, b.Path), cmp.Compare(a.StartLine, b.StartLine))
	})
	if len(out) > MaxAnnotations {
		return out[:MaxAnnotations], len(out) - MaxAnnotations
	}
	return out, 0
}

func controlTitle(id string) string {
	for _, c := range policy.Controls {
		if c.ID == id {
			return c.Title
		}
	}
	return ""
}

func firstMessage(rs []policy.Reason) string {
	if len(rs) == 0 {
		return "no reason given"
	}
	return rs[0].Control + " " + plain(rs[0].Message)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// md escapes text for markdown, as package report does for the same table.
func md(s string) string {
	r := strings.NewReplacer(
		"|", "\\|", "<", "&lt;", ">", "&gt;", "`", "'",
		"\r", " ", "\n", " ", "[", "\\[", "]", "\\]",
	)
	return r.Replace(plain(s))
}

func escapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = md(s)
	}
	return out
}

// plain replaces control characters, so a message cannot forge lines.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

const truncatedNote = "\n\n… (truncated: GitHub keeps at most 65535 characters here; the job's step summary has the whole report)\n"

// truncate keeps a summary within GitHub's limit, cutting at a line end.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	cut := string(r[:n-utf8.RuneCountInString(truncatedNote)])
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	return cut + truncatedNote
}
