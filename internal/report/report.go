// Package report renders a decision for people: the GitHub step summary
// (markdown) and the terminal report. Everything rendered is data from
// evidence or policy; it is escaped for the medium so that a claim or a
// policy message cannot change the report's structure.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/policy"
)

// claimRows lists the verified claims shown to people, in order.
var claimRows = []struct {
	name string
	get  func(*identity.Claims) string
}{
	{"repository", func(c *identity.Claims) string { return c.Repository }},
	{"repository_id", func(c *identity.Claims) string { return c.RepositoryID }},
	{"repository_owner_id", func(c *identity.Claims) string { return c.RepositoryOwnerID }},
	{"environment", func(c *identity.Claims) string { return c.Environment }},
	{"ref", func(c *identity.Claims) string { return c.Ref }},
	{"sha", func(c *identity.Claims) string { return c.SHA }},
	{"job_workflow_ref", func(c *identity.Claims) string { return c.JobWorkflowRef }},
	{"event_name", func(c *identity.Claims) string { return c.EventName }},
	{"actor", func(c *identity.Claims) string { return c.Actor }},
	{"runner_environment", func(c *identity.Claims) string { return c.RunnerEnvironment }},
	{"run", func(c *identity.Claims) string {
		if c.RunID == "" {
			return ""
		}
		return c.RunID + " attempt " + c.RunAttempt
	}},
}

func claimsOf(r *gate.Result) *identity.Claims {
	c, _ := r.Evidence.Identity.Claims.(*identity.Claims)
	return c
}

// Markdown renders the step summary.
func Markdown(w io.Writer, r *gate.Result) error {
	d := r.Decision
	var b strings.Builder
	icon := "❌"
	if d.Allow {
		icon = "✅"
	}
	fmt.Fprintf(&b, "## %s airlock: promotion to `%s` %s\n\n", icon, md(r.Evidence.Request.Environment), strings.ToUpper(d.Verdict()))
	b.WriteString("| control | result | |\n|---|---|---|\n")
	for _, c := range d.Controls {
		label := resultLabel(c.Result)
		if c.ID == "C12" && c.Result == policy.ResultNotChecked {
			// Policy cannot check C12: signing happens after the decision.
			label = "➖ by signing, after the decision"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.ID, label, md(c.Title))
	}
	writeReasons(&b, "Reasons", d.Reasons)
	writeReasons(&b, "Requirements", d.Requirements)
	writeReasons(&b, "Warnings", d.Warnings)
	if rv := r.Evidence.Revocation; rv != nil {
		b.WriteString("\n### QA credentials\n\n")
		if rv.Declared == "none" {
			b.WriteString("Declared `none`: QA had no credentials.\n")
		}
		if len(rv.Credentials) > 0 {
			b.WriteString("| credential | kind | status | issuer | checked |\n|---|---|---|---|---|\n")
			for _, c := range rv.Credentials {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(c.Name), md(string(c.Kind)), md(string(c.Status)), md(c.IssuerHost), c.CheckedAt.UTC().Format("2006-01-02T15:04:05Z"))
			}
		}
	}
	markdownApprovals(&b, r.Evidence.Approvals)
	b.WriteString("\n### Verified claims\n\n")
	if c := claimsOf(r); c != nil {
		b.WriteString("| claim | value |\n|---|---|\n")
		for _, row := range claimRows {
			if v := row.get(c); v != "" {
				fmt.Fprintf(&b, "| %s | `%s` |\n", row.name, md(v))
			}
		}
	} else {
		fmt.Fprintf(&b, "None: the OIDC token was not verified (%s).\n", md(r.Evidence.Identity.Error))
	}
	fmt.Fprintf(&b, "\nPolicy `%s` from %s.\n", md(d.PolicyDigest), md(strings.Join(d.PolicySources, ", ")))
	_, err := io.WriteString(w, b.String())
	return err
}

func writeReasons(b *strings.Builder, title string, rs []policy.Reason) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### %s\n\n", title)
	for _, r := range rs {
		fmt.Fprintf(b, "- **%s** %s\n", r.Control, md(r.Message))
	}
}

func resultLabel(res string) string {
	switch res {
	case policy.ResultPass:
		return "✅ pass"
	case policy.ResultFail:
		return "❌ fail"
	default:
		return "➖ not checked"
	}
}

// md escapes text for a markdown table cell or list item: no HTML, no pipes,
// no control characters or line breaks, no backticks that would end a code
// span, no brackets that would make a link.
func md(s string) string {
	r := strings.NewReplacer(
		"|", "\\|", "<", "&lt;", ">", "&gt;", "`", "'",
		"\r", " ", "\n", " ", "[", "\\[", "]", "\\]",
	)
	return r.Replace(plain(s))
}

// Terminal renders the decision for a terminal: a controls list, reasons and
// the claims used.
func Terminal(w io.Writer, r *gate.Result) error {
	d := r.Decision
	var b strings.Builder
	fmt.Fprintf(&b, "decision: %s (environment %q)\n", strings.ToUpper(d.Verdict()), r.Evidence.Request.Environment)
	for _, c := range d.Controls {
		fmt.Fprintf(&b, "  %-4s %-12s %s\n", c.ID, c.Result, c.Title)
	}
	for _, group := range []struct {
		title string
		rs    []policy.Reason
	}{{"reasons", d.Reasons}, {"requirements", d.Requirements}, {"warnings", d.Warnings}} {
		if len(group.rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", group.title)
		for _, r := range group.rs {
			fmt.Fprintf(&b, "  [%s] %s\n", r.Control, plain(r.Message))
		}
	}
	if rv := r.Evidence.Revocation; rv != nil && len(rv.Credentials) > 0 {
		b.WriteString("QA credentials:\n")
		for _, c := range rv.Credentials {
			fmt.Fprintf(&b, "  %-19s %-8s %s\n", plain(c.Name), plain(string(c.Status)), plain(c.Detail))
		}
	}
	terminalApprovals(&b, r.Evidence.Approvals)
	if c := claimsOf(r); c != nil {
		b.WriteString("verified claims:\n")
		for _, row := range claimRows {
			if v := row.get(c); v != "" {
				fmt.Fprintf(&b, "  %-19s %s\n", row.name, plain(v))
			}
		}
	}
	fmt.Fprintf(&b, "policy: %s\n", d.PolicyDigest)
	_, err := io.WriteString(w, b.String())
	return err
}

// plain removes control characters so claims cannot move the cursor or fake lines.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// maxComment bounds how much of an approval comment a report shows; the
// evidence keeps all of it.
const maxComment = 200

func shortComment(s string) string {
	if r := []rune(s); len(r) > maxComment {
		return string(r[:maxComment]) + "…"
	}
	return s
}

func counts(a *approvals.Report, login string) bool {
	for _, l := range a.Approvers {
		if l == login {
			return true
		}
	}
	return false
}

func tri(v *bool, yes, no string) string {
	switch {
	case v == nil:
		return "unknown"
	case *v:
		return yes
	default:
		return no
	}
}

// environmentSummary is one line about the environment's protection.
func environmentSummary(a *approvals.Report) string {
	e := a.Environment
	if e == nil {
		return fmt.Sprintf("environment %s: not found, or the token cannot read it", a.Requested.Environment)
	}
	var reviewers []string
	for _, r := range e.RequiredReviewers {
		if r.Type == "Team" {
			reviewers = append(reviewers, r.Slug)
		} else {
			reviewers = append(reviewers, r.Login)
		}
	}
	rv := "none"
	if len(reviewers) > 0 {
		rv = strings.Join(reviewers, ", ")
	}
	branches := "any branch"
	if bp := e.BranchPolicy; bp != nil {
		branches = "selected branches"
		if bp.ProtectedBranches {
			branches = "protected branches"
		}
	}
	return fmt.Sprintf("environment %s: required reviewers %s; prevent self-review %s; admin bypass %s; deploys from %s; wait timer %dm; custom rules %d",
		e.Name, rv, tri(e.PreventSelfReview, "on", "off"), tri(e.CanAdminsBypass, "on", "off"), branches, e.WaitTimer, len(e.CustomRules))
}

func markdownApprovals(b *strings.Builder, a *approvals.Report) {
	if a == nil {
		return
	}
	b.WriteString("\n### Approvals\n\n")
	fmt.Fprintf(b, "%s.\n\n", md(environmentSummary(a)))
	if len(a.Approvals) == 0 {
		b.WriteString("Nobody has approved or rejected this run.\n")
		return
	}
	b.WriteString("| approver | decision | for | counts | comment |\n|---|---|---|---|---|\n")
	for _, ap := range a.Approvals {
		mark := "—"
		if counts(a, ap.Login) {
			mark = "✅"
		}
		target := strings.Join(ap.Environments, ", ")
		if ap.CommitID != "" {
			target = "commit " + ap.CommitID
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", md(ap.Login), md(ap.State), md(target), mark, md(shortComment(ap.Comment)))
	}
}

func terminalApprovals(b *strings.Builder, a *approvals.Report) {
	if a == nil {
		return
	}
	fmt.Fprintf(b, "approvals:\n  %s\n", plain(environmentSummary(a)))
	if len(a.Approvals) == 0 {
		b.WriteString("  nobody has approved or rejected this run\n")
	}
	for _, ap := range a.Approvals {
		mark := "does not count"
		if counts(a, ap.Login) {
			mark = "counts"
		}
		target := strings.Join(ap.Environments, ", ")
		if ap.CommitID != "" {
			target = "commit " + ap.CommitID
		}
		fmt.Fprintf(b, "  %s %s %s (%s): \"%s\"\n", plain(ap.Login), plain(ap.State), plain(target), mark, plain(shortComment(ap.Comment)))
	}
}
