package gate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/evidence"
	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
	"github.com/airlock-dev/airlock/internal/identity"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/revocation"
)

// collect runs every collector concurrently, so the gate waits for the
// slowest one rather than their sum. Each collector writes only its own part
// of the evidence. The first error (in collector order) wins; all run to the
// end so none is left writing after collect returns.
func collect(ctx context.Context, cfg Config, deps Deps, c *identity.Claims, ev *evidence.Evidence) error {
	owner, name, ok := strings.Cut(c.Repository, "/")
	if !ok || owner == "" || name == "" {
		return fault.Operationalf("collect evidence: verified repository claim %q is not owner/name", c.Repository)
	}
	client, err := ghapi.New(cfg.APIURL, cfg.GitHubToken, deps.HTTPClient)
	if err != nil {
		return err
	}
	collectors := []func(context.Context) error{
		func(ctx context.Context) error {
			refs, err := resolveRefs(ctx, cfg, client, owner, name, c)
			ev.Request.AllowedRefs = refs
			return err
		},
	}
	agent := func(ctx context.Context) error {
		rep, err := agentEvidence(ctx, cfg, client, owner, name, c.SHA, ev.Request.Promotion)
		ev.Agent = rep
		return err
	}
	revoke := func(ctx context.Context, prod *revocation.ProductionIdentity) error {
		rep, err := revocationEvidence(ctx, cfg, deps, prod)
		ev.Revocation = rep
		return err
	}
	collectors = append(collectors, func(ctx context.Context) error {
		col := &approvals.Collector{GH: client, Now: deps.Now}
		rep, err := col.Collect(ctx, c, cfg.approvalsRequest())
		ev.Approvals = rep
		return err
	})
	switch {
	case cfg.ProductionManifest != "" && cfg.QACredentials != nil && cfg.ProductionIdentity == nil:
		// The production identity to compare comes from the manifest, so
		// the probes wait for it.
		collectors = append(collectors, func(ctx context.Context) error {
			if err := agent(ctx); err != nil {
				return err
			}
			return revoke(ctx, manifestIdentity(ev.Agent))
		})
	default:
		if cfg.ProductionManifest != "" {
			collectors = append(collectors, agent)
		}
		if cfg.QACredentials != nil {
			collectors = append(collectors, func(ctx context.Context) error { return revoke(ctx, cfg.ProductionIdentity) })
		}
	}
	return runConcurrently(ctx, collectors)
}

// manifestIdentity is the production manifest's identity, the default for
// the production-identity input.
func manifestIdentity(agent *manifest.Report) *revocation.ProductionIdentity {
	p := agent.Identity.Production
	return &revocation.ProductionIdentity{Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, SPIFFEID: p.SPIFFEID}
}

// revocationEvidence asks each QA credential's issuer whether it is dead.
// CheckAll never fails: what it could not tell is "unknown", which policy
// denies. The deadline leaves the gate time to decide and write.
func revocationEvidence(ctx context.Context, cfg Config, deps Deps, prod *revocation.ProductionIdentity) (*revocation.Report, error) {
	checkers, err := revocation.NewCheckers(revocation.Options{Client: deps.HTTPClient, Now: deps.Now})
	if err != nil {
		return nil, fault.Config(fmt.Errorf("revocation checkers: %w", err))
	}
	deadline := deps.Now().Add(probeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-time.Second).Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	rep := revocation.CheckAll(ctx, *cfg.QACredentials, prod, checkers, deadline)
	return &rep, nil
}

// probeTimeout bounds all QA credential probes together.
const probeTimeout = 30 * time.Second

func runConcurrently(ctx context.Context, fns []func(context.Context) error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// agentEvidence reads both manifests at the verified commit (concurrently)
// and diffs them. A manifest that is not in the repository at that commit is
// a configuration error: the workflow named a file that does not exist there.
func agentEvidence(ctx context.Context, cfg Config, client *ghapi.Client, owner, name, sha, promotion string) (*manifest.Report, error) {
	inputs := []struct{ input, path string }{{"qa-manifest", cfg.QAManifest}, {"production-manifest", cfg.ProductionManifest}}
	parsed := make([]*manifest.Manifest, len(inputs))
	fns := make([]func(context.Context) error, len(inputs))
	for i, in := range inputs {
		fns[i] = func(ctx context.Context) error {
			b, err := client.File(ctx, owner, name, in.path, sha)
			if ghapi.IsNotFound(err) {
				return fault.Configf("%s: %s is not in %s/%s at the verified commit %s", in.input, in.path, owner, name, sha)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", in.input, err)
			}
			parsed[i], err = manifest.Parse(in.input, b)
			return err
		}
	}
	if err := runConcurrently(ctx, fns); err != nil {
		return nil, err
	}
	return manifest.Diff(parsed[0], parsed[1], promotion), nil
}
