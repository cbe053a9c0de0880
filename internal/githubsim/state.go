package githubsim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Repository is the simulator's record of a repository.
type Repository struct {
	Owner         string
	Name          string
	ID            int64
	OwnerID       int64
	OwnerType     string // "Organization" (default) or "User"
	DefaultBranch string // default "main"
	Visibility    string // "public", "private" (default) or "internal"
}

// Environment is a deployment environment and its protection rules.
type Environment struct {
	Name string
	ID   int64 // 0: derived from owner/repo/name
	// RequiredReviewers, when non-empty, adds a required_reviewers rule.
	RequiredReviewers []Reviewer
	PreventSelfReview bool
	// CanAdminsBypass is omitted from the response when nil: GitHub's
	// description does not list the field, so clients must cope without it.
	CanAdminsBypass *bool
	// WaitTimer, in minutes, adds a wait_timer rule when > 0.
	WaitTimer int
	// DeploymentBranchPolicy nil means every branch may deploy (JSON null) and
	// no branch_policy rule is listed.
	DeploymentBranchPolicy *BranchPolicy
	// CustomRules are custom deployment protection rules (GitHub Apps).
	CustomRules []CustomRule
	CreatedAt   time.Time // zero: the simulator's clock at SetEnvironment
	UpdatedAt   time.Time
}

// BranchPolicy is GitHub's deployment_branch_policy.
type BranchPolicy struct {
	ProtectedBranches    bool
	CustomBranchPolicies bool
}

// Reviewer is a required reviewer: a user or a team.
type Reviewer struct {
	Type string // "User" or "Team"
	ID   int64
	// Login is the user's login (Type User).
	Login string
	// Slug and Name describe a team (Type Team); Org is the team's organization.
	Slug string
	Name string
	Org  string
}

// UserReviewer is a required reviewer who is a user.
func UserReviewer(login string, id int64) Reviewer {
	return Reviewer{Type: "User", Login: login, ID: id}
}

// TeamReviewer is a required reviewer that is a team of org.
func TeamReviewer(org, slug string, id int64) Reviewer {
	return Reviewer{Type: "Team", Org: org, Slug: slug, Name: slug, ID: id}
}

// CustomRule is a custom deployment protection rule provided by a GitHub App.
type CustomRule struct {
	ID      int64
	AppID   int64
	AppSlug string
	Enabled bool
}

// User is a GitHub account.
type User struct {
	Login string
	ID    int64
}

// Approval is one entry of a run's review log.
type Approval struct {
	State        string // "approved" or "rejected"
	Comment      string
	User         User
	Environments []string // environment names
	// Time is when the review happened. GitHub's approvals endpoint does not
	// return it, so neither does the simulator; it is kept for scenarios.
	Time time.Time
}

// Run is a workflow run as GET .../actions/runs/{run_id} describes it. Zero
// fields are filled when served: from the run claims (SetRunClaims) when their
// run_id is this run's, else from DefaultRunClaims.
type Run struct {
	ID    int64
	Actor User
	// TriggeringActor started this attempt; zero: Actor.
	TriggeringActor User
	Event           string
	HeadSHA         string
	HeadBranch      string
	RunAttempt      int
	// CreatedAt zero: when the run became known to the simulator.
	CreatedAt time.Time
	// RunStartedAt zero: CreatedAt.
	RunStartedAt time.Time
}

// PullRequest is a pull request.
type PullRequest struct {
	Number         int
	ID             int64
	Author         User // zero: DefaultActor
	State          string
	HeadSHA        string
	HeadRef        string
	BaseRef        string
	MergeCommitSHA string
	CreatedAt      time.Time
	// BaseSHA zero: derived from the base ref.
	BaseSHA string
	// ChangedFiles is the pull request's changed_files; 0: the number of
	// files set with SetPullRequestFiles.
	ChangedFiles int
}

// Review is a pull request review.
type Review struct {
	ID          int64
	User        User
	State       string // APPROVED (default), CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
	Body        string
	CommitID    string
	SubmittedAt time.Time
}

// Bool returns a pointer to b, for Environment.CanAdminsBypass.
func Bool(b bool) *bool { return &b }

type repoState struct {
	repo     Repository
	envs     map[string]*Environment // by lower-case name
	envOrder []string
	runs     map[int64][]Approval // known runs and their approvals
	runMeta  map[int64]Run        // every known run has an entry
	pulls    map[int]PullRequest
	reviews  map[int][]Review
	// deployments in the order added
	deployments []Deployment
}

func newRepoState(r Repository) *repoState {
	return &repoState{
		repo: r, envs: map[string]*Environment{}, runs: map[int64][]Approval{}, runMeta: map[int64]Run{},
		pulls: map[int]PullRequest{}, reviews: map[int][]Review{},
	}
}

// clone copies the state so handlers can read it without the lock.
func (rs *repoState) clone() *repoState {
	cp := newRepoState(rs.repo)
	cp.envOrder = append([]string(nil), rs.envOrder...)
	for k, e := range rs.envs {
		e2 := *e
		cp.envs[k] = &e2
	}
	for k, a := range rs.runs {
		cp.runs[k] = append([]Approval(nil), a...)
	}
	for k, m := range rs.runMeta {
		cp.runMeta[k] = m
	}
	for k, pr := range rs.pulls {
		cp.pulls[k] = pr
	}
	for k, rv := range rs.reviews {
		cp.reviews[k] = append([]Review(nil), rv...)
	}
	cp.deployments = append([]Deployment(nil), rs.deployments...)
	return cp
}

func repoKey(owner, repo string) string { return strings.ToLower(owner + "/" + repo) }

// stableID derives a plausible, stable GitHub id from names, so ids differ per
// repository but repeat across runs (golden files stay stable).
func stableID(parts ...string) int64 {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.Join(parts, "\x00"))))
	return int64(binary.BigEndian.Uint64(sum[:8])%900_000_000) + 100_000_000
}

func stableSHA(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:20])
}

// DefaultRepository is the repository DefaultRunClaims describe.
func DefaultRepository(owner, repo string) Repository {
	return Repository{
		Owner: owner, Name: repo,
		ID: stableID("repo", owner, repo), OwnerID: stableID("owner", owner),
		OwnerType: "Organization", DefaultBranch: "main", Visibility: "private",
	}
}

// DefaultRunID is the run_id DefaultRunClaims carry.
func DefaultRunID(owner, repo string) int64 {
	return stableID("run", owner, repo)*10 + 7
}

// Names used by DefaultRunClaims and Seed.
const (
	DefaultActor       = "octo-dev"
	DefaultApprover    = "release-manager"
	DefaultTeam        = "release-approvers"
	DefaultEnvironment = "production"
)

// DefaultActorID and DefaultApproverID are the ids of DefaultActor and
// DefaultApprover.
var (
	DefaultActorID    = stableID("user", DefaultActor)
	DefaultApproverID = stableID("user", DefaultApprover)
)

// DefaultRunClaims is a realistic claim set of a job in environment
// "production" on refs/heads/main, typed like GitHub's (numbers as strings).
// The token endpoint adds iss, aud, iat, nbf, exp and jti.
func DefaultRunClaims(owner, repo string) map[string]any {
	r := DefaultRepository(owner, repo)
	full := owner + "/" + repo
	sha := stableSHA("sha", full)
	wf := full + "/.github/workflows/promote.yml@refs/heads/main"
	return map[string]any{
		"sub":                   "repo:" + full + ":environment:" + DefaultEnvironment,
		"actor":                 DefaultActor,
		"actor_id":              strconv.FormatInt(DefaultActorID, 10),
		"base_ref":              "",
		"head_ref":              "",
		"check_run_id":          strconv.FormatInt(stableID("check", full)*100+3, 10),
		"environment":           DefaultEnvironment,
		"event_name":            "workflow_dispatch",
		"job_workflow_ref":      wf,
		"job_workflow_sha":      sha,
		"ref":                   "refs/heads/main",
		"ref_protected":         "true",
		"ref_type":              "branch",
		"repository":            full,
		"repository_id":         strconv.FormatInt(r.ID, 10),
		"repository_owner":      owner,
		"repository_owner_id":   strconv.FormatInt(r.OwnerID, 10),
		"repository_visibility": r.Visibility,
		"run_attempt":           "1",
		"run_id":                strconv.FormatInt(DefaultRunID(owner, repo), 10),
		"run_number":            "42",
		"runner_environment":    "github-hosted",
		"sha":                   sha,
		"workflow":              "promote",
		"workflow_ref":          wf,
		"workflow_sha":          sha,
	}
}

// DefaultProductionEnvironment is a correctly gated environment: required
// reviewers (a user and a team), self-review prevented, no admin bypass,
// protected branches only.
func DefaultProductionEnvironment(org string) Environment {
	return Environment{
		Name: DefaultEnvironment,
		RequiredReviewers: []Reviewer{
			UserReviewer(DefaultApprover, DefaultApproverID),
			TeamReviewer(org, DefaultTeam, stableID("team", org, DefaultTeam)),
		},
		PreventSelfReview:      true,
		CanAdminsBypass:        Bool(false),
		DeploymentBranchPolicy: &BranchPolicy{ProtectedBranches: true},
	}
}

// Seed sets up the happy path for owner/repo: the repository, a correctly
// gated production environment, the run claims and an approval of the run by
// DefaultApprover (who is not the actor).
func (s *Server) Seed(owner, repo string) {
	s.SetRepository(DefaultRepository(owner, repo))
	s.SetEnvironment(owner, repo, DefaultProductionEnvironment(owner))
	s.SetRunClaims(DefaultRunClaims(owner, repo))
	s.AddRunApproval(owner, repo, DefaultRunID(owner, repo), Approval{
		State: "approved", Comment: "Ship it!",
		User:         User{Login: DefaultApprover, ID: DefaultApproverID},
		Environments: []string{DefaultEnvironment},
	})
}

// SetRepository adds or replaces a repository; zero fields get defaults.
func (s *Server) SetRepository(r Repository) {
	d := DefaultRepository(r.Owner, r.Name)
	if r.ID == 0 {
		r.ID = d.ID
	}
	if r.OwnerID == 0 {
		r.OwnerID = d.OwnerID
	}
	if r.OwnerType == "" {
		r.OwnerType = d.OwnerType
	}
	if r.DefaultBranch == "" {
		r.DefaultBranch = d.DefaultBranch
	}
	if r.Visibility == "" {
		r.Visibility = d.Visibility
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.repos[repoKey(r.Owner, r.Name)]; rs != nil {
		rs.repo = r
		return
	}
	s.repos[repoKey(r.Owner, r.Name)] = newRepoState(r)
}

// repoLocked returns the repository, creating a default one if needed.
func (s *Server) repoLocked(owner, repo string) *repoState {
	rs := s.repos[repoKey(owner, repo)]
	if rs == nil {
		rs = newRepoState(DefaultRepository(owner, repo))
		s.repos[repoKey(owner, repo)] = rs
	}
	return rs
}

// SetEnvironment adds or replaces an environment (creating the repository with
// defaults if it is unknown).
func (s *Server) SetEnvironment(owner, repo string, e Environment) {
	if e.ID == 0 {
		e.ID = stableID("env", owner, repo, e.Name)
	}
	now := s.cfg.now().UTC().Truncate(time.Second)
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	for i := range e.RequiredReviewers {
		if e.RequiredReviewers[i].Type == "Team" && e.RequiredReviewers[i].Org == "" {
			e.RequiredReviewers[i].Org = owner
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repoLocked(owner, repo)
	key := strings.ToLower(e.Name)
	if _, ok := rs.envs[key]; !ok {
		rs.envOrder = append(rs.envOrder, key)
	}
	rs.envs[key] = &e
}

// DeleteEnvironment removes an environment.
func (s *Server) DeleteEnvironment(owner, repo, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repos[repoKey(owner, repo)]
	if rs == nil {
		return
	}
	key := strings.ToLower(name)
	delete(rs.envs, key)
	for i, k := range rs.envOrder {
		if k == key {
			rs.envOrder = append(rs.envOrder[:i:i], rs.envOrder[i+1:]...)
			break
		}
	}
}

// AddRun makes a workflow run known (with no approvals yet); unknown runs
// answer 404 like GitHub.
func (s *Server) AddRun(owner, repo string, runID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knowRunLocked(s.repoLocked(owner, repo), runID)
}

// knowRunLocked makes a run known, created now, if it is not yet.
func (s *Server) knowRunLocked(rs *repoState, runID int64) {
	if _, ok := rs.runs[runID]; !ok {
		rs.runs[runID] = []Approval{}
	}
	if _, ok := rs.runMeta[runID]; !ok {
		rs.runMeta[runID] = Run{ID: runID, CreatedAt: s.cfg.now().UTC().Truncate(time.Second)}
	}
}

// SetRun sets a run's metadata (making the run known); zero fields are
// filled when the run is served (see Run).
func (s *Server) SetRun(owner, repo string, r Run) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repoLocked(owner, repo)
	if r.CreatedAt.IsZero() {
		if prev, ok := rs.runMeta[r.ID]; ok {
			r.CreatedAt = prev.CreatedAt
		} else {
			r.CreatedAt = s.cfg.now().UTC().Truncate(time.Second)
		}
	}
	rs.runMeta[r.ID] = r
	if _, ok := rs.runs[r.ID]; !ok {
		rs.runs[r.ID] = []Approval{}
	}
}

// SetTeamMember sets login's membership state in org/team ("active" or
// "pending"); "" removes it (GitHub then answers 404).
func (s *Server) SetTeamMember(org, team, login, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(org + "/" + team)
	if state == "" {
		delete(s.teams[key], strings.ToLower(login))
		return
	}
	if s.teams[key] == nil {
		s.teams[key] = map[string]string{}
	}
	s.teams[key][strings.ToLower(login)] = state
}

// SetPullRequest adds or replaces a pull request; zero fields get defaults.
func (s *Server) SetPullRequest(owner, repo string, pr PullRequest) {
	if pr.ID == 0 {
		pr.ID = stableID("pull", owner, repo, strconv.Itoa(pr.Number))
	}
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.BaseRef == "" {
		pr.BaseRef = "main"
	}
	if pr.HeadRef == "" {
		pr.HeadRef = "promote-" + strconv.Itoa(pr.Number)
	}
	if pr.HeadSHA == "" {
		pr.HeadSHA = stableSHA("pull-head", owner, repo, strconv.Itoa(pr.Number))
	}
	if pr.BaseSHA == "" {
		pr.BaseSHA = stableSHA("base", owner, repo, pr.BaseRef)
	}
	if pr.Author.Login == "" {
		pr.Author = User{Login: DefaultActor, ID: DefaultActorID}
	}
	if pr.CreatedAt.IsZero() {
		pr.CreatedAt = s.cfg.now().UTC().Truncate(time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(owner, repo).pulls[pr.Number] = pr
}

// AddReview appends a review to a pull request (GitHub lists them oldest
// first). A zero ID, SubmittedAt or State gets a default; CommitID "" means
// the pull request's current head.
func (s *Server) AddReview(owner, repo string, number int, r Review) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repoLocked(owner, repo)
	if r.ID == 0 {
		r.ID = stableID("review", owner, repo, strconv.Itoa(number), strconv.Itoa(len(rs.reviews[number])))
	}
	if r.State == "" {
		r.State = "APPROVED"
	}
	if r.SubmittedAt.IsZero() && r.State != "PENDING" {
		r.SubmittedAt = s.cfg.now().UTC().Truncate(time.Second)
	}
	if r.CommitID == "" {
		r.CommitID = rs.pulls[number].HeadSHA
	}
	rs.reviews[number] = append(rs.reviews[number], r)
}

// AddRunApproval appends an entry to a run's review log (making the run known).
func (s *Server) AddRunApproval(owner, repo string, runID int64, a Approval) {
	if a.Time.IsZero() {
		a.Time = s.cfg.now()
	}
	a.Environments = append([]string(nil), a.Environments...)
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repoLocked(owner, repo)
	s.knowRunLocked(rs, runID)
	rs.runs[runID] = append(rs.runs[runID], a)
}
