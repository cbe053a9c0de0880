package githubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The GitHub App surface: an app authenticates with a JWT signed by its
// private key (RS256, iss = the app id, at most ten minutes long), trades it
// for an installation token scoped to the installation's repositories, and
// answers custom deployment protection rules by POSTing a review to the
// run's deployment_callback_url. The simulator verifies the JWT with the
// app's public key exactly as GitHub documents, so a client that signs
// wrongly fails here as it would on GitHub.

// AppInstallationTokenTTL is how long an installation token lives (GitHub:
// one hour).
const AppInstallationTokenTTL = time.Hour

// RouteDeploymentReview is the callback route's name for InjectFault.
const RouteDeploymentReview = "POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"

// DefaultAppPermissions are what airlock serve's app asks for.
var DefaultAppPermissions = []string{"deployments:write", "actions:read", "contents:read", "attestations:read", "metadata:read"}

// App is a registered GitHub App.
type App struct {
	ID        int64
	PublicKey *rsa.PublicKey
}

// Installation is an app installed on repositories.
type Installation struct {
	ID    int64
	AppID int64
	// Repositories are "owner/repo"; the token is scoped to them.
	Repositories []string
	// Permissions default to DefaultAppPermissions.
	Permissions []string
}

// DeploymentReview is one review posted to a deployment_callback_url.
type DeploymentReview struct {
	Owner, Repo     string
	RunID           int64
	EnvironmentName string
	State           string // "approved", "rejected", or "" for a comment only
	Comment         string
	Installation    int64 // whose token posted it
	Time            time.Time
}

type appState struct {
	apps          map[int64]App
	installations map[int64]Installation
	tokens        map[string]appToken
	reviews       []DeploymentReview
	issued        int
}

type appToken struct {
	installation int64
	repos        []string
	expires      time.Time
}

// appLocked returns the app state, creating it on first use (s.mu held).
func (s *Server) appLocked() *appState {
	if s.app == nil {
		s.app = &appState{apps: map[int64]App{}, installations: map[int64]Installation{}, tokens: map[string]appToken{}}
	}
	return s.app
}

// RegisterApp makes a GitHub App known by its id and public key.
func (s *Server) RegisterApp(a App) {
	if a.ID <= 0 || a.PublicKey == nil {
		panic("githubsim: RegisterApp: expected an id > 0 and a public key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appLocked().apps[a.ID] = a
}

// Install installs an app on repositories.
func (s *Server) Install(in Installation) {
	if in.ID <= 0 || in.AppID <= 0 {
		panic("githubsim: Install: expected an installation id and an app id > 0")
	}
	if len(in.Permissions) == 0 {
		in.Permissions = DefaultAppPermissions
	}
	in.Repositories = slices.Clone(in.Repositories)
	for i, r := range in.Repositories {
		in.Repositories[i] = strings.ToLower(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appLocked().installations[in.ID] = in
}

// DeploymentReviews returns every review posted to a callback URL, in order.
func (s *Server) DeploymentReviews() []DeploymentReview {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.appLocked().reviews)
}

// InstallationTokensIssued counts installation tokens handed out.
func (s *Server) InstallationTokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appLocked().issued
}

// CallbackURL is the deployment_callback_url GitHub sends for a run.
func (s *Server) CallbackURL(owner, repo string, runID int64) string {
	return s.APIURL() + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) +
		"/actions/runs/" + strconv.FormatInt(runID, 10) + "/deployment_protection_rule"
}

func (s *Server) registerApp() {
	s.appRoute("POST /app/installations/{installation_id}/access_tokens", "apps/create-installation-access-token", s.createInstallationToken)
	s.appRoute("GET /repos/{owner}/{repo}/installation", "apps/get-repo-installation", s.getRepoInstallation)
	s.rest(RouteDeploymentReview, "actions/review-custom-gates-for-run", "deployments:write", s.reviewCustomGate)
}

// appRoute registers a REST route authenticated by the app's JWT instead of
// a token (the handler verifies it).
func (s *Server) appRoute(pattern, operationID string, h func(http.ResponseWriter, *http.Request, App)) {
	method, path, _ := strings.Cut(pattern, " ")
	rt := &route{RouteInfo: RouteInfo{Name: pattern, Method: method, Path: path, OperationID: operationID, Permission: "app-jwt"}, auth: authNone,
		h: func(w http.ResponseWriter, r *http.Request) {
			app, msg := s.verifyAppJWT(r)
			if msg != "" {
				writeError(w, http.StatusUnauthorized, msg, "")
				return
			}
			h(w, r, app)
		}}
	s.register(method+" "+apiPrefix+path, rt)
}

// verifyAppJWT checks the Bearer JWT as GitHub does: RS256 by a registered
// app's key, iss = its id, iat not in the future (60 s of skew), exp after
// now and at most ten minutes after iat. It returns GitHub's message on
// failure.
func (s *Server) verifyAppJWT(r *http.Request) (App, string) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || raw == "" {
		return App{}, "A JSON web token could not be decoded"
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return App{}, "A JSON web token could not be decoded"
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return App{}, "A JSON web token could not be decoded"
	}
	id, err := strconv.ParseInt(unverified.Issuer, 10, 64)
	s.mu.Lock()
	app, ok := s.appLocked().apps[id]
	s.mu.Unlock()
	if err != nil || !ok {
		return App{}, "'Issuer' claim ('iss') must be an Integer of a registered app"
	}
	var c jwt.Claims
	if err := tok.Claims(app.PublicKey, &c); err != nil {
		return App{}, "A JSON web token could not be decoded"
	}
	now := s.cfg.now()
	switch {
	case c.IssuedAt == nil || c.Expiry == nil:
		return App{}, "'Issued at' claim ('iat') and 'Expiration time' claim ('exp') are required"
	case c.IssuedAt.Time().After(now.Add(60 * time.Second)):
		return App{}, "'Issued at' claim ('iat') must be an Integer representing a time in the past"
	case !c.Expiry.Time().After(now):
		return App{}, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > 10*time.Minute+time.Second:
		return App{}, "'Expiration time' claim ('exp') is too far in the future"
	}
	return app, ""
}

func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request, app App) {
	id, err := strconv.ParseInt(r.PathValue("installation_id"), 10, 64)
	s.mu.Lock()
	st := s.appLocked()
	in, ok := st.installations[id]
	if err != nil || !ok || in.AppID != app.ID {
		s.mu.Unlock()
		notFound(w)
		return
	}
	// The request may narrow the token to some of the installation's
	// repositories, by name (GitHub: "repositories").
	var narrow struct {
		Repositories []string `json:"repositories"`
	}
	if b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10)); len(bytes.TrimSpace(b)) > 0 {
		if json.Unmarshal(b, &narrow) != nil {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "Problems parsing JSON", "")
			return
		}
	}
	repos := in.Repositories
	if len(narrow.Repositories) > 0 {
		repos = nil
		for _, name := range narrow.Repositories {
			i := slices.IndexFunc(in.Repositories, func(full string) bool { _, n, _ := strings.Cut(full, "/"); return n == strings.ToLower(name) })
			if i < 0 {
				s.mu.Unlock()
				writeError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.", "")
				return
			}
			repos = append(repos, in.Repositories[i])
		}
	}
	token := "ghs_" + randomHex(18)
	expires := s.cfg.now().Add(AppInstallationTokenTTL).UTC().Truncate(time.Second)
	st.tokens[token] = appToken{installation: id, repos: repos, expires: expires}
	st.issued++
	s.mu.Unlock()
	s.AddToken(token, in.Permissions...)

	perms := map[string]string{}
	for _, p := range in.Permissions {
		name, level, _ := strings.Cut(p, ":")
		perms[name] = level
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": token, "expires_at": expires.Format(time.RFC3339), "permissions": perms, "repository_selection": "selected",
	})
}

func (s *Server) getRepoInstallation(w http.ResponseWriter, r *http.Request, app App) {
	full := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	s.mu.Lock()
	var found *Installation
	for _, in := range s.appLocked().installations {
		if in.AppID == app.ID && slices.Contains(in.Repositories, full) {
			found = &in
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": found.ID, "app_id": found.AppID, "target_type": "Organization",
		"account":           map[string]any{"login": r.PathValue("owner"), "type": "Organization"},
		"access_tokens_url": s.APIURL() + "/app/installations/" + strconv.FormatInt(found.ID, 10) + "/access_tokens",
	})
}

// reviewCustomGate records a review. Only an installation token of an
// installation on this repository may post it (GitHub: the app whose rule
// gates the environment).
func (s *Server) reviewCustomGate(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	runID, err := strconv.ParseInt(r.PathValue("run_id"), 10, 64)
	if err != nil || runID <= 0 {
		notFound(w)
		return
	}
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	at, isApp := s.appLocked().tokens[tok]
	s.mu.Unlock()
	if !isApp || !slices.Contains(at.repos, strings.ToLower(owner+"/"+repo)) {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", "")
		return
	}
	if !s.cfg.now().Before(at.expires) {
		writeError(w, http.StatusUnauthorized, "Bad credentials", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", "")
		return
	}
	var in struct {
		EnvironmentName *string `json:"environment_name"`
		State           *string `json:"state"`
		Comment         string  `json:"comment"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", "")
		return
	}
	// GitHub's two shapes: a state (approved, rejected), or only a comment
	// that leaves the rule pending.
	state := ""
	if in.State != nil {
		state = *in.State
	}
	switch {
	case in.EnvironmentName == nil || *in.EnvironmentName == "":
		writeError(w, http.StatusUnprocessableEntity, "Invalid request: environment_name is required", "")
		return
	case in.State == nil && in.Comment == "":
		writeError(w, http.StatusUnprocessableEntity, "Invalid request: comment is required when state is not provided", "")
		return
	case in.State != nil && state != "approved" && state != "rejected":
		writeError(w, http.StatusUnprocessableEntity, "Invalid request: state must be approved or rejected", "")
		return
	}
	s.mu.Lock()
	st := s.appLocked()
	st.reviews = append(st.reviews, DeploymentReview{
		Owner: owner, Repo: repo, RunID: runID, EnvironmentName: *in.EnvironmentName, State: state,
		Comment: in.Comment, Installation: at.installation, Time: s.cfg.now(),
	})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// WebhookSignature is the X-Hub-Signature-256 value GitHub sends for body:
// "sha256=" and the hex HMAC-SHA256 of the body under the webhook secret.
func WebhookSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Delivery is one webhook delivery as GitHub's hookshot makes it.
type Delivery struct {
	Event string // X-GitHub-Event, e.g. "deployment_protection_rule"
	ID    string // X-GitHub-Delivery (a GUID)
	Body  []byte
	// Signature overrides the computed X-Hub-Signature-256 (tests of a bad
	// one); empty means sign Body with the secret.
	Signature string
}

// Deliver POSTs a webhook to url, signed with secret, and returns the
// status and the (capped) body of the answer.
func Deliver(ctx context.Context, hc *http.Client, target string, secret []byte, d Delivery) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.Body))
	if err != nil {
		return 0, nil, fmt.Errorf("deliver webhook: %w", err)
	}
	sig := d.Signature
	if sig == "" {
		sig = WebhookSignature(secret, d.Body)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/githubsim")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", sig)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("deliver webhook: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, err
}

// subjectDigestsOf is subjectDigests of a stored attestation, computed once:
// a load test lists thousands of attestations per repository, and decoding
// every bundle on every request would make the simulator the bottleneck.
// Stored attestations never change, so (repository, id) names the bytes.
func (s *Server) subjectDigestsOf(owner, repo string, a Attestation) []string {
	key := repoKey(owner, repo) + "#" + strconv.FormatInt(a.ID, 10)
	s.mu.Lock()
	d, ok := s.attDigests[key]
	s.mu.Unlock()
	if ok {
		return d
	}
	d = subjectDigests(a.Bundle)
	s.mu.Lock()
	if s.attDigests == nil {
		s.attDigests = map[string][]string{}
	}
	s.attDigests[key] = d
	s.mu.Unlock()
	return d
}
