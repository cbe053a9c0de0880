package approvals

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Approval sources.
const (
	// SourceRun takes approvals from the run's deployment review log
	// (environment protection rules): the default.
	SourceRun = "run"
	// SourcePullRequest takes approvals from the reviews of the pull request
	// the verified run belongs to (promotion-PR mode, for a required status
	// check on promotion pull requests).
	SourcePullRequest = "pull_request"
)

// Defaults and bounds of the request.
const (
	DefaultMinApprovals = 1
	DefaultMaxAge       = 24 * time.Hour
	maxMinApprovals     = 100
	maxMaxAge           = 30 * 24 * time.Hour
	maxGroups           = 20
	maxMembers          = 100
)

// Group is one line of the approvers input: at least Min distinct people
// from Members must approve. Members are GitHub logins and "org/team" slugs.
type Group struct {
	Min     int      `json:"min"`
	Members []string `json:"members"`
}

// Request is what the workflow asked the approvals collector to establish.
type Request struct {
	Environment string
	Source      string
	Groups      []Group
	// MinApprovals is the number of distinct named approvers, over all groups.
	MinApprovals int
	// MaxAge is the oldest an approval that counts may be.
	MaxAge time.Duration
}

// Validate rejects requests that cannot be enforced.
func (r Request) Validate() error {
	switch {
	case strings.TrimSpace(r.Environment) == "":
		return fmt.Errorf("approvals: empty environment")
	case r.Source != SourceRun && r.Source != SourcePullRequest:
		return fmt.Errorf("approvals: source %q: expected %q or %q", r.Source, SourceRun, SourcePullRequest)
	case r.MinApprovals < 1 || r.MinApprovals > maxMinApprovals:
		return fmt.Errorf("min-approvals: expected 1 to %d, got %d", maxMinApprovals, r.MinApprovals)
	case r.MaxAge < time.Minute || r.MaxAge > maxMaxAge:
		return fmt.Errorf("max-approval-age: expected 1m to %s, got %s", maxMaxAge, r.MaxAge)
	}
	for i, g := range r.Groups {
		if err := g.validate(); err != nil {
			return fmt.Errorf("approvers line %d: %w", i+1, err)
		}
	}
	return nil
}

// The patterns compile on first use: the bounded repetitions make them
// costly (≈ 2.7 ms at start-up), and commands such as `airlock verify` never
// parse approvers.
var (
	// GitHub logins: alphanumerics and single hyphens, at most 39.
	reLogin = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)
	})
	// Team slugs are lower-case alphanumerics, hyphens and underscores;
	// accepted in any case since GitHub matches them case-insensitively.
	reTeam = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	})
	reCount = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)\s+(?:of|from)(?:\s+(.*))?$`) })
)

// IsTeam reports whether an approvers member names a team ("org/team").
func IsTeam(member string) bool { return strings.Contains(member, "/") }

func (g Group) validate() error {
	if len(g.Members) == 0 {
		return fmt.Errorf("no members")
	}
	if len(g.Members) > maxMembers {
		return fmt.Errorf("%d members, at most %d", len(g.Members), maxMembers)
	}
	teams := false
	for _, m := range g.Members {
		switch {
		case IsTeam(m) && reTeam().MatchString(m) && strings.Index(m, "/") <= 39:
			teams = true
		case !IsTeam(m) && reLogin().MatchString(m) && len(m) <= 39:
		default:
			return fmt.Errorf("%q is neither a GitHub login nor an org/team slug", m)
		}
	}
	if g.Min < 1 {
		return fmt.Errorf("expected at least 1 approver, got %d", g.Min)
	}
	// Without a team the group cannot grow: more than its members is a typo
	// that would deny every promotion.
	if !teams && g.Min > len(g.Members) {
		return fmt.Errorf("%d approvers required from %d named people", g.Min, len(g.Members))
	}
	if g.Min > maxMinApprovals {
		return fmt.Errorf("%d approvers required, at most %d", g.Min, maxMinApprovals)
	}
	return nil
}

// ParseApprovers reads the approvers input: one group per line, members
// separated by commas, optionally prefixed with "N of" (or "N from") to ask
// for N distinct approvers from that line (default 1). Lines starting with #
// are comments.
//
//	release-manager, acme/release        any one of them
//	1 of acme/security                   and one security team member
//	2 from alice, bob, carol             and two of these three
func ParseApprovers(s string) ([]Group, error) {
	var out []Group
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		g := Group{Min: 1}
		if m := reCount().FindStringSubmatch(line); m != nil {
			k, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("approvers line %d: count %q: %w", n+1, m[1], err)
			}
			g.Min, line = k, m[2]
		}
		seen := map[string]bool{}
		for _, item := range strings.Split(line, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if key := strings.ToLower(item); !seen[key] {
				seen[key] = true
				g.Members = append(g.Members, item)
			}
		}
		if err := g.validate(); err != nil {
			return nil, fmt.Errorf("approvers line %d: %w", n+1, err)
		}
		out = append(out, g)
		if len(out) > maxGroups {
			return nil, fmt.Errorf("approvers: more than %d lines", maxGroups)
		}
	}
	return out, nil
}
