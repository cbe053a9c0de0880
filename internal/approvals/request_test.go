package approvals

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseApprovers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Group
		err  string
	}{
		{"empty", "", nil, ""},
		{"blank lines and comments", "\n  # who may approve\n\n", nil, ""},
		{"one group of anyone", "release-manager, acme/release", []Group{{1, []string{"release-manager", "acme/release"}}}, ""},
		{"two teams, one each", "1 of acme/security\n1 from acme/release\n",
			[]Group{{1, []string{"acme/security"}}, {1, []string{"acme/release"}}}, ""},
		{"two of three", "2 of alice, bob, carol", []Group{{2, []string{"alice", "bob", "carol"}}}, ""},
		{"duplicates folded", "alice, Alice, bob,", []Group{{1, []string{"alice", "bob"}}}, ""},
		{"team grows beyond named count", "3 of acme/release", []Group{{3, []string{"acme/release"}}}, ""},
		{"zero", "0 of alice", nil, "at least 1 approver"},
		{"more than named people", "3 of alice, bob", nil, "3 approvers required from 2 named people"},
		{"count without members", "2 of ", nil, "no members"},
		{"bad login", "alice bob", nil, `"alice bob" is neither`},
		{"leading hyphen", "-alice", nil, "neither"},
		{"double hyphen", "al--ice", nil, "neither"},
		{"login too long", strings.Repeat("a", 40), nil, "neither"},
		{"team path", "acme/release/x", nil, "neither"},
		{"empty org", "/release", nil, "neither"},
		{"line number in error", "alice\n\nbad login", nil, "approvers line 3"},
		{"huge count", "101 of acme/all", nil, "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseApprovers(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("expected an error containing %q, got %v (%+v)", tt.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expected %+v, got %+v", tt.want, got)
			}
		})
	}
	if _, err := ParseApprovers(strings.Repeat("alice\n", 21)); err == nil {
		t.Error("21 groups: expected an error")
	}
}

func TestRequestValidate(t *testing.T) {
	good := Request{Environment: "production", Source: SourceRun, MinApprovals: 1, MaxAge: DefaultMaxAge,
		Groups: []Group{{1, []string{"alice"}}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good request: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Request)
		want   string
	}{
		{"no environment", func(r *Request) { r.Environment = " " }, "empty environment"},
		{"unknown source", func(r *Request) { r.Source = "issue" }, `source "issue"`},
		{"zero approvals", func(r *Request) { r.MinApprovals = 0 }, "min-approvals"},
		{"too many approvals", func(r *Request) { r.MinApprovals = 101 }, "min-approvals"},
		{"age too short", func(r *Request) { r.MaxAge = time.Second }, "max-approval-age"},
		{"age too long", func(r *Request) { r.MaxAge = 31 * 24 * time.Hour }, "max-approval-age"},
		{"bad group", func(r *Request) { r.Groups = []Group{{1, []string{"a b"}}} }, "approvers line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.mutate(&r)
			if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("expected an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name     string
		mins     []int
		eligible [][]string
		want     [][]string
	}{
		{"one group met", []int{1}, [][]string{{"alice", "bob"}}, [][]string{{"alice"}}},
		{"one group short", []int{2}, [][]string{{"alice"}}, [][]string{{"alice"}}},
		{"nobody", []int{1}, [][]string{nil}, [][]string{nil}},
		{"same person cannot fill two groups", []int{1, 1}, [][]string{{"alice"}, {"alice"}}, [][]string{{"alice"}, nil}},
		// Greedy would give alice to the first group and starve the second.
		{"augmenting path", []int{1, 1}, [][]string{{"alice", "bob"}, {"alice"}}, [][]string{{"bob"}, {"alice"}}},
		// Per-group counts and the total both look fine (3 people, each group
		// has one), but groups 1 and 2 can only draw on x: no quorum.
		{"hall violation", []int{1, 1, 1}, [][]string{{"x"}, {"x"}, {"y", "z"}}, [][]string{{"x"}, nil, {"y"}}},
		{"two of three and one of a team", []int{2, 1}, [][]string{{"a", "b", "c"}, {"a", "b"}}, [][]string{{"b", "c"}, {"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := assign(tt.mins, tt.eligible)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

func TestPullRequestRef(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		n    int
		kind string
		ok   bool
	}{
		{"refs/pull/9/merge", 9, "merge", true},
		{"refs/pull/12/head", 12, "head", true},
		{"refs/pull/0/merge", 0, "", false},
		{"refs/pull/-1/merge", 0, "", false},
		{"refs/pull/9/other", 0, "", false},
		{"refs/pull/9/merge/x", 0, "", false},
		{"refs/pull//merge", 0, "", false},
		{"refs/heads/main", 0, "", false},
		{"refs/pull/99999999999999999999/merge", 0, "", false},
	} {
		n, kind, ok := PullRequestRef(tc.ref)
		if n != tc.n || kind != tc.kind || ok != tc.ok {
			t.Errorf("PullRequestRef(%q) = %d, %q, %v; expected %d, %q, %v", tc.ref, n, kind, ok, tc.n, tc.kind, tc.ok)
		}
	}
}
