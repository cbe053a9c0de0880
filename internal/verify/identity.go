package verify

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/airlock-dev/airlock/internal/fault"
)

// GitHubActionsIssuer is the OIDC issuer of GitHub.com's Actions tokens: the
// default issuer when only GitHub conveniences name the signer.
const GitHubActionsIssuer = "https://token.actions.githubusercontent.com"

// Identity is who must have signed. Regular expressions are anchored: a
// pattern that matches part of a SAN is a classic way to accept an attacker's
// repository whose name merely contains the expected one.
type Identity struct {
	SAN, SANRegexp       string
	Issuer, IssuerRegexp string

	// GitHub conveniences, checked against the Fulcio certificate's
	// extensions (which Fulcio copies from the verified OIDC token).
	Repo                  string // OWNER/REPO or https://HOST/OWNER/REPO: Source Repository URI
	SignerWorkflow        string // OWNER/REPO/.github/workflows/FILE[@REF] or a URL: Build Signer URI
	SourceRef             string // refs/heads/main, refs/tags/v1: Source Repository Ref
	DenySelfHostedRunners bool   // Runner Environment must be github-hosted
}

func (id Identity) any() bool {
	return id.SAN != "" || id.SANRegexp != "" || id.Issuer != "" || id.IssuerRegexp != "" ||
		id.Repo != "" || id.SignerWorkflow != "" || id.SourceRef != "" || id.DenySelfHostedRunners
}

// identityPolicy is the compiled form of Identity.
type identityPolicy struct {
	cert     sgverify.CertificateIdentity
	repoURI  string
	workflow string // exact Build Signer URI, or a prefix ending in "@"
	exact    bool
	ref      string
	hosted   bool
}

func anchored(re string) string { return "^(?:" + re + ")$" }

// githubURL turns OWNER/REPO[/path] into https://github.com/OWNER/REPO[/path];
// a full https URL (GitHub Enterprise Server) is kept as is.
func githubURL(s string) string {
	if strings.HasPrefix(s, "https://") {
		return strings.TrimSuffix(s, "/")
	}
	return "https://github.com/" + strings.Trim(s, "/")
}

func compileIdentity(id Identity) (*identityPolicy, error) {
	p := &identityPolicy{ref: id.SourceRef, hosted: id.DenySelfHostedRunners}
	if id.SAN != "" && id.SANRegexp != "" {
		return nil, fault.Usagef("identity: give --certificate-identity or --certificate-identity-regexp, not both")
	}
	if id.Issuer != "" && id.IssuerRegexp != "" {
		return nil, fault.Usagef("identity: give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp, not both")
	}
	if id.Repo != "" {
		parts := strings.Split(strings.TrimPrefix(githubURL(id.Repo), "https://"), "/")
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return nil, fault.Usagef("identity: --repo %q: expected OWNER/REPO or https://HOST/OWNER/REPO", id.Repo)
		}
		p.repoURI = githubURL(id.Repo)
	}
	if id.SignerWorkflow != "" {
		wf := githubURL(id.SignerWorkflow)
		if !strings.Contains(wf, "/.github/workflows/") {
			return nil, fault.Usagef("identity: --signer-workflow %q: expected OWNER/REPO/.github/workflows/FILE[@REF]", id.SignerWorkflow)
		}
		if strings.Contains(wf, "@") {
			p.workflow, p.exact = wf, true
		} else {
			p.workflow = wf + "@"
		}
	}
	if id.SourceRef != "" && !strings.HasPrefix(id.SourceRef, "refs/") {
		return nil, fault.Usagef("identity: --source-ref %q: expected a full ref such as refs/heads/main or refs/tags/v1", id.SourceRef)
	}

	san, sanRe := id.SAN, ""
	if id.SANRegexp != "" {
		sanRe = anchored(id.SANRegexp)
	}
	github := p.repoURI != "" || p.workflow != ""
	if san == "" && sanRe == "" {
		// Derive the SAN from the conveniences. For GitHub Actions the SAN is
		// the signing workflow (job_workflow_ref); --repo alone accepts any
		// workflow of that repository, never one of another repository
		// that merely ran on its behalf (a reusable workflow must be named
		// with --signer-workflow).
		switch {
		case p.exact:
			san = p.workflow
		case p.workflow != "":
			sanRe = "^" + regexp.QuoteMeta(p.workflow) + ".+$"
		case p.repoURI != "":
			sanRe = "^" + regexp.QuoteMeta(p.repoURI+"/") + ".+$"
		default:
			return nil, fault.Usagef("identity: name the signer with --certificate-identity, --certificate-identity-regexp, --signer-workflow or --repo (or --key for key-signed bundles)")
		}
	}
	issuer, issuerRe := id.Issuer, ""
	if id.IssuerRegexp != "" {
		issuerRe = anchored(id.IssuerRegexp)
	}
	if issuer == "" && issuerRe == "" {
		if !github {
			return nil, fault.Usagef("identity: --certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required with --certificate-identity")
		}
		issuer = GitHubActionsIssuer
	}
	var err error
	p.cert, err = sgverify.NewShortCertificateIdentity(issuer, issuerRe, san, sanRe)
	if err != nil {
		return nil, fault.Usagef("identity: %w", err)
	}
	return p, nil
}

// checkExtensions applies the GitHub conveniences to a certificate that
// sigstore-go has already verified (chain, time, SAN and issuer).
func (p *identityPolicy) checkExtensions(s certificate.Summary) []string {
	var errs []string
	if p.repoURI != "" && s.SourceRepositoryURI != p.repoURI {
		errs = append(errs, fmt.Sprintf("source repository: expected %q, got %q", p.repoURI, s.SourceRepositoryURI))
	}
	if p.workflow != "" {
		if p.exact && s.BuildSignerURI != p.workflow {
			errs = append(errs, fmt.Sprintf("signer workflow: expected %q, got %q", p.workflow, s.BuildSignerURI))
		}
		if !p.exact && (!strings.HasPrefix(s.BuildSignerURI, p.workflow) || len(s.BuildSignerURI) == len(p.workflow)) {
			errs = append(errs, fmt.Sprintf("signer workflow: expected %q at any ref, got %q", strings.TrimSuffix(p.workflow, "@"), s.BuildSignerURI))
		}
	}
	if p.ref != "" && s.SourceRepositoryRef != p.ref {
		errs = append(errs, fmt.Sprintf("source ref: expected %q, got %q", p.ref, s.SourceRepositoryRef))
	}
	if p.hosted && s.RunnerEnvironment != "github-hosted" {
		errs = append(errs, fmt.Sprintf("runner environment: expected %q, got %q", "github-hosted", s.RunnerEnvironment))
	}
	return errs
}
