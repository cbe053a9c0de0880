package ghapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// The GitHub App side of airlock serve: verifying webhooks, authenticating
// as the app (JWT → installation token, through ghinstallation) and posting
// the review of a custom deployment protection rule.
//
// Trust boundary: a webhook body is attacker-controlled until its HMAC has
// verified against the webhook secret; nothing reads it before. The app's
// private key signs JWTs and never leaves this package; installation tokens
// go only to the configured API host, in the Authorization header.

// ErrWebhookSignature is wrapped by every signature failure of
// ValidateWebhook: missing, malformed or not matching.
var ErrWebhookSignature = errors.New("webhook signature does not verify")

// ValidateWebhook reads the body of a webhook request, at most limit bytes,
// and checks X-Hub-Signature-256 against secret in constant time (go-github's
// ValidatePayload) before anything parses it. A body over limit returns an
// error wrapping *http.MaxBytesError; a missing, SHA-1-only or wrong
// signature one wrapping ErrWebhookSignature. An empty secret is refused:
// go-github would then skip the check.
func ValidateWebhook(w http.ResponseWriter, r *http.Request, secret []byte, limit int64) ([]byte, error) {
	if len(secret) == 0 {
		return nil, errors.New("webhook: no secret configured")
	}
	if !strings.HasPrefix(r.Header.Get(github.SHA256SignatureHeader), "sha256=") {
		// ValidatePayload falls back to the SHA-1 header: not accepted.
		return nil, fmt.Errorf("%w: no %s header", ErrWebhookSignature, github.SHA256SignatureHeader)
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return nil, fmt.Errorf("webhook: Content-Type: expected application/json, got %q", truncate(r.Header.Get("Content-Type"), 80))
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	body, err := github.ValidatePayload(r, secret)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("webhook: body larger than %d bytes: %w", limit, tooBig)
		}
		return nil, fmt.Errorf("%w: %v", ErrWebhookSignature, err)
	}
	return body, nil
}

// DeploymentProtectionRule is what airlock reads of a verified
// deployment_protection_rule webhook.
type DeploymentProtectionRule struct {
	Action      string
	Environment string // the gated environment (top level, not deployment.environment)
	Event       string
	CallbackURL string
	// Owner, Repo and RepositoryID name the repository; Owner/Repo come
	// from its full_name.
	Owner, Repo    string
	RepositoryID   int64
	InstallationID int64 // 0 when the payload names none
	DeploymentID   int64
	SHA, Ref       string
}

// ParseDeploymentProtectionRule decodes a webhook body already verified by
// ValidateWebhook. Fields the decision needs must be there; anything else
// (custom_properties, pull_requests) may be missing.
func ParseDeploymentProtectionRule(body []byte) (*DeploymentProtectionRule, error) {
	ev, err := github.ParseWebHook("deployment_protection_rule", body)
	if err != nil {
		return nil, fmt.Errorf("deployment_protection_rule: %w", err)
	}
	e, ok := ev.(*github.DeploymentProtectionRuleEvent)
	if !ok {
		return nil, fmt.Errorf("deployment_protection_rule: unexpected type %T", ev)
	}
	out := &DeploymentProtectionRule{
		Action: e.GetAction(), Environment: e.GetEnvironment(), Event: e.GetEvent(), CallbackURL: e.GetDeploymentCallbackURL(),
		RepositoryID: e.GetRepo().GetID(), InstallationID: e.GetInstallation().GetID(),
		DeploymentID: e.GetDeployment().GetID(), SHA: e.GetDeployment().GetSHA(), Ref: e.GetDeployment().GetRef(),
	}
	var missing []string
	full := e.GetRepo().GetFullName()
	owner, repo, okName := strings.Cut(full, "/")
	if !okName || owner == "" || repo == "" || strings.Contains(repo, "/") {
		missing = append(missing, fmt.Sprintf("repository.full_name (got %q)", truncate(full, 200)))
	}
	out.Owner, out.Repo = owner, repo
	if out.Action == "" {
		missing = append(missing, "action")
	}
	if out.Action == "requested" {
		if out.Environment == "" {
			missing = append(missing, "environment")
		}
		if out.CallbackURL == "" {
			missing = append(missing, "deployment_callback_url")
		}
		if out.RepositoryID <= 0 {
			missing = append(missing, "repository.id")
		}
		if len(out.SHA) != 40 || strings.Trim(strings.ToLower(out.SHA), "0123456789abcdef") != "" {
			missing = append(missing, fmt.Sprintf("deployment.sha as 40 hex digits (got %q)", truncate(out.SHA, 80)))
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("deployment_protection_rule: missing or malformed: %s", strings.Join(missing, ", "))
	}
	out.SHA = strings.ToLower(out.SHA)
	return out, nil
}

// CallbackRun checks that a deployment_callback_url is this client's API
// (same scheme, host and base path) and the review endpoint of a run of
// owner/repo, and returns the run id. The installation token goes to that
// URL: one that points anywhere else is refused, never followed.
func (c *Client) CallbackRun(raw, owner, repo string) (int64, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("deployment_callback_url: %w", httpx.StripURL(err))
	}
	if u.Scheme != c.base.Scheme || u.Host != c.base.Host || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return 0, fmt.Errorf("deployment_callback_url %q is not on the GitHub API at %s", truncate(httpx.Redact(u), 200), c.base.Scheme+"://"+c.base.Host+c.base.Path)
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), c.base.Path)
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if !ok || len(parts) != 7 || parts[0] != "repos" || parts[3] != "actions" || parts[4] != "runs" || parts[6] != "deployment_protection_rule" {
		return 0, fmt.Errorf("deployment_callback_url %q: expected %s/repos/OWNER/REPO/actions/runs/RUN_ID/deployment_protection_rule", truncate(httpx.Redact(u), 200), c.base.Path)
	}
	o, _ := url.PathUnescape(parts[1])
	r, _ := url.PathUnescape(parts[2])
	if !strings.EqualFold(o, owner) || !strings.EqualFold(r, repo) {
		return 0, fmt.Errorf("deployment_callback_url names %s/%s, the webhook's repository is %s/%s", truncate(o, 100), truncate(r, 100), owner, repo)
	}
	id, err := strconv.ParseInt(parts[5], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("deployment_callback_url: run id %q is not a positive integer", truncate(parts[5], 40))
	}
	return id, nil
}

// Review states of a custom deployment protection rule.
const (
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// MaxReviewComment bounds the comment of a review.
const MaxReviewComment = 1024

// ReviewCustomGate answers a run's custom deployment protection rule for
// environment: approved or rejected, with a comment. go-github v62 has no
// method for it: the request is built with its NewRequest and sent through
// the client's bounded retries. A repeated review of the same run and
// environment with the same state changes nothing, so it is retried after
// no answer or a 5xx.
func (c *Client) ReviewCustomGate(ctx context.Context, owner, repo string, runID int64, environment, state, comment string) error {
	p, err := repoPath(owner, repo)
	if err != nil {
		return err
	}
	if state != ReviewApproved && state != ReviewRejected {
		return fault.Usagef("review: state: expected %q or %q, got %q", ReviewApproved, ReviewRejected, state)
	}
	if environment == "" {
		return fault.Usagef("review: expected an environment name")
	}
	comment = truncate(comment, MaxReviewComment)
	o := op{resource: fmt.Sprintf("deployment protection rule review of run %d in %s/%s", runID, owner, repo), permission: "deployments: write",
		method: http.MethodPost, retryPOST: "the same review again leaves the rule as the first one did"}
	body := map[string]string{"environment_name": environment, "state": state, "comment": comment}
	_, err = c.send(ctx, o, func() (*http.Request, error) {
		return c.gh.NewRequest(http.MethodPost, fmt.Sprintf("%s/actions/runs/%d/deployment_protection_rule", p, runID), body)
	}, nil)
	return err
}

// App authenticates as a GitHub App: a JWT signed with its private key
// (ghinstallation) for the app's own endpoints, and per repository an
// installation token scoped to it, cached by ghinstallation until a minute
// before it expires.
type App struct {
	apiURL string
	hc     *http.Client
	opts   []Option
	atr    *ghinstallation.AppsTransport
	jwt    *Client // app endpoints, authenticated by atr

	mu    sync.Mutex
	perms map[installKey]*ghinstallation.Transport
}

type installKey struct {
	id   int64
	repo string
}

// NewApp parses the app's PEM private key (PKCS#1 or PKCS#8 RSA) and returns
// an App for the API at apiURL. Its errors are configuration errors and
// never quote the key.
func NewApp(apiURL string, appID int64, privateKeyPEM []byte, hc *http.Client, opts ...Option) (*App, error) {
	if appID <= 0 {
		return nil, fault.Configf("github app id: expected a positive integer, got %d", appID)
	}
	if hc == nil {
		return nil, fault.Configf("github client: expected an *http.Client, got nil")
	}
	if _, err := parseAPIURL(apiURL); err != nil {
		return nil, err
	}
	tr := hc.Transport
	if tr == nil {
		tr = httpx.DefaultTransport()
	}
	atr, err := ghinstallation.NewAppsTransport(tr, appID, privateKeyPEM)
	if err != nil {
		// ghinstallation's error may describe the key's bytes: not repeated.
		return nil, fault.Configf("github app private key: expected an RSA private key in PEM (PKCS#1 or PKCS#8)")
	}
	atr.BaseURL = strings.TrimRight(apiURL, "/")
	jwtClient := *hc
	jwtClient.Transport = atr
	jc, err := newClient(apiURL, "", &jwtClient, opts)
	if err != nil {
		return nil, err
	}
	return &App{apiURL: apiURL, hc: hc, opts: opts, atr: atr, jwt: jc, perms: map[installKey]*ghinstallation.Transport{}}, nil
}

// RepoInstallation returns the id of the app's installation on owner/repo
// (for a webhook that names none).
func (a *App) RepoInstallation(ctx context.Context, owner, repo string) (int64, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return 0, err
	}
	o := op{resource: fmt.Sprintf("installation of the app on %s/%s", owner, repo), permission: "the app's JWT"}
	body, _, err := a.jwt.get(ctx, o, p+"/installation")
	if err != nil {
		return 0, err
	}
	var w struct {
		ID *int64 `json:"id"`
	}
	if err := decodeStrict(body, &w); err != nil || w.ID == nil || *w.ID <= 0 {
		return 0, fault.Operationalf("get %s: expected an installation id", o.resource)
	}
	return *w.ID, nil
}

// Installation returns a client authenticated as the installation, with a
// token scoped to owner/repo. The token is fetched (with the bounded
// retries of every call) only when the cached one is within a minute of
// expiring.
func (a *App) Installation(ctx context.Context, installationID int64, owner, repo string) (*Client, error) {
	if installationID <= 0 {
		return nil, fault.Usagef("installation id: expected a positive integer, got %d", installationID)
	}
	key := installKey{installationID, strings.ToLower(owner + "/" + repo)}
	a.mu.Lock()
	tr := a.perms[key]
	if tr == nil {
		tr = ghinstallation.NewFromAppsTransport(a.atr, installationID)
		tr.BaseURL = a.atr.BaseURL
		tr.InstallationTokenOptions = &github.InstallationTokenOptions{Repositories: []string{repo}}
		a.perms[key] = tr
	}
	a.mu.Unlock()

	var token string
	o := op{resource: fmt.Sprintf("installation token of installation %d for %s/%s", installationID, owner, repo), permission: "the app's JWT"}
	err := httpx.Retry{}.Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var err error
		token, err = tr.Token(ctx)
		if err == nil {
			return httpx.Final, nil
		}
		if ctx.Err() != nil {
			return httpx.Final, fault.Operationalf("post %s: %w", o.resource, ctx.Err())
		}
		var he *ghinstallation.HTTPError
		if errors.As(err, &he) && he.Response != nil {
			defer httpx.Discard(he.Response.Body)
			status := he.Response.StatusCode
			msg := fmt.Sprintf("post %s: HTTP %d", o.resource, status)
			switch {
			case status == http.StatusNotFound:
				return httpx.Final, fault.Operationalf("%s: the app is not installed there (or the installation id is wrong)", msg)
			case status == http.StatusUnauthorized:
				return httpx.Final, fault.Operationalf("%s: GitHub refused the app's JWT (wrong app id or private key, or the clock is off)", msg)
			}
			// A new token each time: asking again has no effect to fear.
			return httpx.ForStatus(true, status, he.Response.Header, time.Now()), fault.Operationalf("%s", msg)
		}
		return httpx.Backoff(), fault.Operationalf("post %s: %v", o.resource, httpx.Describe(err))
	})
	if err != nil {
		return nil, gaveUp(err)
	}
	return newClient(a.apiURL, token, a.hc, a.opts)
}
