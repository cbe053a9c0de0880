package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/githubsim"
	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/airlock-dev/airlock/internal/serve"
)

// demoServe ends the demo with the environment held by `airlock serve`: the
// app is installed on the in-process GitHub, a deployment job of a run the
// gate has not decided is rejected, then the gate allows the next run
// (signing the commit into the attestation store) and that run's deployment
// job is approved.
func demoServe(ctx context.Context, sim *githubsim.Server, signing *demoSigstore, root, policyDigest string, n int, base demoScenario, stdio Stdio) error {
	const owner, repo, appID, installID = "acme", "support-agent", 31337, 4242
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fault.Operationalf("demo: app key: %w", err)
	}
	sim.RegisterApp(githubsim.App{ID: appID, PublicKey: &key.PublicKey})
	sim.Install(githubsim.Installation{ID: installID, AppID: appID, Repositories: []string{owner + "/" + repo}})

	dir := filepath.Join(root, "serve")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	repoID := githubsim.DefaultRepository(owner, repo).ID
	config := filepath.Join(dir, "serve.yaml")
	cfgText := fmt.Sprintf(`github_api_url: %s
rules:
  - repository: %s/%s
    repository_id: %d
    environment: production
    signer_workflows: [acme/support-agent/.github/workflows/promote.yml@refs/heads/main]
    oidc_issuer: %s
    trusted_root: %s
    policy_digests: [%s]
    max_age: 1h
`, sim.APIURL(), owner, repo, repoID, sim.IssuerURL(), signing.rootPath, policyDigest)
	if err := os.WriteFile(config, []byte(cfgText), 0o600); err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	set, err := serve.LoadConfig(ctx, config, serve.Loaders{})
	if err != nil {
		return err
	}
	secret := []byte(randomHexString(32))
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	defer logFile.Close()
	s, err := serve.New(serve.Config{Settings: set, AppID: appID, WebhookSecret: secret,
		PrivateKey:      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		HTTPClient:      httpx.NewClient(httpx.Options{Timeout: 10 * time.Second}),
		Logger:          slog.New(slog.NewJSONHandler(logFile, nil)),
		ShutdownTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fault.Operationalf("demo: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx, ln) }()
	defer func() { stop(); <-done }()
	url := "http://" + ln.Addr().String() + serve.WebhookPath
	fmt.Fprintf(stdio.Out, "\n── environment production is now held by airlock serve (a GitHub App at %s, config %s, log %s)\n", url, config, logPath)

	sha := fmt.Sprint(githubsim.DefaultRunClaims(owner, repo)["sha"])
	held := func(runID int64, want string) error {
		payload, err := demoProtectionRule(sim, owner, repo, repoID, installID, runID, sha)
		if err != nil {
			return err
		}
		before := len(sim.DeploymentReviews())
		code, _, err := githubsim.Deliver(ctx, httpx.NewClient(httpx.Options{Timeout: 10 * time.Second}), url, secret,
			githubsim.Delivery{Event: "deployment_protection_rule", ID: "demo-" + strconv.FormatInt(runID, 10), Body: payload})
		if err != nil || code != 202 {
			return fault.Operationalf("demo: webhook: HTTP %d: %v", code, err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(sim.DeploymentReviews()) == before {
			if time.Now().After(deadline) {
				return fault.Operationalf("demo: airlock serve did not answer run %d (log: %s)", runID, logPath)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r := sim.DeploymentReviews()[before]
		fmt.Fprintf(stdio.Out, "  GitHub asks airlock serve about run %d's deployment job; the review posted back:\n  %s — %s\n", runID, r.State, r.Comment)
		if r.State != want {
			return fault.Operationalf("demo: run %d: airlock serve answered %s, expected %s", runID, r.State, want)
		}
		return nil
	}

	undecided := githubsim.DefaultRunID(owner, repo) + 3
	fmt.Fprintf(stdio.Out, "\n── run %d's deployment job targets production before any gate decided it\n", undecided)
	if err := held(undecided, "rejected"); err != nil {
		return err
	}

	decided := undecided + 1
	sc := base
	sc.title = fmt.Sprintf("the gate job of run %d allows, signing the commit (gitCommit) into the attestation store", decided)
	sc.claims = func(c map[string]any) { c["run_id"] = strconv.FormatInt(decided, 10) }
	sc.showMint = false
	sc.inputs = maps.Clone(signing.inputs())
	delete(sc.inputs, "release-tag")
	delete(sc.inputs, "subjects")
	sc.inputs["workflow"] = "acme/support-agent/.github/workflows/promote.yml"
	sc.inputs["policy"] = filepath.Join(root, "policy")
	sc.setup = func(sim *githubsim.Server) {
		sim.AddRunApproval(owner, repo, decided, githubsim.Approval{
			State: "approved", Comment: "Ship it!",
			User:         githubsim.User{Login: githubsim.DefaultApprover, ID: githubsim.DefaultApproverID},
			Environments: []string{githubsim.DefaultEnvironment},
		})
	}
	if err := runDemoScenario(ctx, sim, root, n, sc, stdio); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "\n── run %d's deployment job targets production\n", decided)
	return held(decided, "approved")
}

// demoProtectionRule is a deployment_protection_rule webhook as GitHub sends
// it to the app (the fields serve reads, in GitHub's shape).
func demoProtectionRule(sim *githubsim.Server, owner, repo string, repoID, installID, runID int64, sha string) ([]byte, error) {
	b, err := json.Marshal(map[string]any{
		"action": "requested", "environment": "production", "event": "workflow_dispatch",
		"deployment_callback_url": sim.CallbackURL(owner, repo, runID),
		"deployment":              map[string]any{"id": runID*10 + 1, "sha": sha, "ref": "main", "environment": "production", "task": "deploy"},
		"repository":              map[string]any{"id": repoID, "name": repo, "full_name": owner + "/" + repo, "owner": map[string]any{"login": owner}},
		"installation":            map[string]any{"id": installID},
		"sender":                  map[string]any{"login": githubsim.DefaultActor},
	})
	if err != nil {
		return nil, fault.Operationalf("demo: %w", err)
	}
	return b, nil
}

func randomHexString(n int) string {
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.Reader, b)
	return fmt.Sprintf("%x", b)
}
