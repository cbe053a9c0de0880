package doctor

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/approvals"
	"github.com/airlock-dev/airlock/internal/manifest"
)

// workflowStep is the airlock step of the promotion workflow, with what its
// job declares.
type workflowStep struct {
	job   string
	uses  string
	with  map[string]string
	env   any // the job's environment: a string, a map with name, or nil
	perms any // the job's permissions, else the workflow's; nil: neither set
}

// sha40 is a full commit SHA, the only ref that cannot be moved.
var sha40 = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{40}$`) })

// isAirlock reports whether uses names the airlock action (any owner's
// airlock repository, or the action in this repository).
func isAirlock(uses string) bool {
	repo, _, _ := strings.Cut(uses, "@")
	return strings.HasSuffix(strings.ToLower(repo), "/airlock") || repo == "./"
}

// parseWorkflow finds the airlock step that gates deployments (mode gate,
// the default), in the first job that has one.
func parseWorkflow(data []byte) (*workflowStep, error) {
	var doc struct {
		Permissions any `yaml:"permissions"`
		Jobs        map[string]struct {
			Environment any `yaml:"environment"`
			Permissions any `yaml:"permissions"`
			Steps       []struct {
				Uses string         `yaml:"uses"`
				With map[string]any `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(doc.Jobs))
	for name := range doc.Jobs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		job := doc.Jobs[name]
		for _, st := range job.Steps {
			if !isAirlock(st.Uses) {
				continue
			}
			with := map[string]string{}
			for k, v := range st.With {
				with[k] = strings.TrimSpace(fmt.Sprint(v))
			}
			if m := with["mode"]; m != "" && m != "gate" {
				continue // the pull-request check deploys nothing
			}
			perms := job.Permissions
			if perms == nil {
				perms = doc.Permissions
			}
			return &workflowStep{job: name, uses: st.Uses, with: with, env: job.Environment, perms: perms}, nil
		}
	}
	return nil, nil
}

func checkWorkflow(cfg Config, rep *Report) *workflowStep {
	const area = "workflow"
	if cfg.Workflow == nil {
		rep.add(Item{Area: area, Check: "promotion workflow", Status: Unknown,
			Message: "no workflow file that runs the airlock action was found",
			Fix:     "give --workflow .github/workflows/FILE.yml"})
		return nil
	}
	name := cfg.WorkflowName
	wf, err := parseWorkflow(cfg.Workflow)
	if err != nil {
		rep.add(Item{Area: area, Check: "promotion workflow", Status: Deny, Message: fmt.Sprintf("%s: %v", name, err),
			Fix: "GitHub refuses a workflow that is not valid YAML"})
		return nil
	}
	if wf == nil {
		rep.add(Item{Area: area, Check: "promotion workflow", Status: Unknown,
			Message: fmt.Sprintf("%s has no step that uses the airlock action in mode gate", name),
			Fix:     "add a deployment job with `uses: airlock-dev/airlock@<full commit SHA>`, or give --workflow the file that has it"})
		return nil
	}
	rep.add(Item{Area: area, Check: "promotion workflow", Status: Pass, Message: fmt.Sprintf("%s: job %q runs %s", name, wf.job, wf.uses)})
	inJob := fmt.Sprintf("%s, job %q", name, wf.job)

	// C1: the job's environment is the token's environment claim.
	envName := ""
	switch e := wf.env.(type) {
	case string:
		envName = e
	case map[string]any:
		envName, _ = e["name"].(string)
	}
	inputEnv := wf.with["environment"]
	if inputEnv == "" {
		inputEnv = "production" // action.yml's default
	}
	switch {
	case envName == "":
		rep.add(Item{Area: area, Check: "job environment", Status: Deny, Control: "C1",
			Message: "the OIDC token has no environment claim: the job must declare `environment:`",
			Fix:     fmt.Sprintf("%s: environment: %s", inJob, cfg.Environment)})
	case strings.Contains(envName, "${{"):
		rep.add(Item{Area: area, Check: "job environment", Status: Unknown,
			Message: fmt.Sprintf("the job's environment is an expression (%s): known only when it runs", envName)})
	case envName != inputEnv:
		rep.add(Item{Area: area, Check: "job environment", Status: Deny, Control: "C1",
			Message: fmt.Sprintf("the job runs in environment %q, expected %q", envName, inputEnv),
			Fix:     fmt.Sprintf("%s: environment: %s, or the step's environment input", inJob, inputEnv)})
	default:
		rep.add(Item{Area: area, Check: "job environment", Status: Pass, Message: envName})
	}
	if inputEnv != cfg.Environment {
		rep.add(Item{Area: area, Check: "environment input", Status: Warn,
			Message: fmt.Sprintf("the step promotes to %q (its environment input), doctor was asked about %q", inputEnv, cfg.Environment)})
	}

	// The job's OIDC token.
	if idTokenWrite(wf.perms) {
		rep.add(Item{Area: area, Check: "id-token: write", Status: Pass, Message: "the job can request its OIDC token"})
	} else {
		rep.add(Item{Area: area, Check: "id-token: write", Status: Deny,
			Message: "ACTIONS_ID_TOKEN_REQUEST_URL is not set: the job needs `permissions: id-token: write`",
			Fix:     fmt.Sprintf("%s: permissions: {id-token: write, contents: read, actions: read}", inJob)})
	}

	// The action pinned by a full commit SHA.
	if _, ref, _ := strings.Cut(wf.uses, "@"); sha40().MatchString(ref) || wf.uses == "./" {
		rep.add(Item{Area: area, Check: "action pinned", Status: Pass, Message: wf.uses})
	} else {
		rep.add(Item{Area: area, Check: "action pinned", Status: Warn,
			Message: fmt.Sprintf("%s is not pinned by a full commit SHA: a tag or branch can be moved to other code, and the gate is what decides", wf.uses),
			Fix:     "uses: airlock-dev/airlock@<40-hex commit SHA> # vX.Y.Z"})
	}

	// C4: who may approve.
	groups, err := approvals.ParseApprovers(wf.with["approvers"])
	switch {
	case err != nil:
		rep.add(Item{Area: area, Check: "approvers input", Status: Deny, Message: "input " + err.Error(), Fix: "the step's approvers input"})
	case len(groups) == 0:
		rep.add(Item{Area: area, Check: "approvers input", Status: Deny, Control: "C4",
			Message: fmt.Sprintf("no approvers are named: set the approvers input (logins or org/team slugs) allowed to approve promotion to %q", inputEnv),
			Fix:     "with: approvers: OWNER/TEAM or logins, one group per line"})
	default:
		var lines, teams []string
		for _, g := range groups {
			lines = append(lines, fmt.Sprintf("%d of %s", g.Min, strings.Join(g.Members, ", ")))
			for _, m := range g.Members {
				if approvals.IsTeam(m) {
					teams = append(teams, m)
				}
			}
		}
		rep.add(Item{Area: area, Check: "approvers input", Status: Pass, Message: strings.Join(lines, "; ")})
		if tok := wf.with["github-token"]; len(teams) > 0 && (tok == "" || strings.Contains(tok, "github.token") || strings.Contains(tok, "secrets.GITHUB_TOKEN")) {
			rep.add(Item{Area: area, Check: "team membership", Status: Warn,
				Message: fmt.Sprintf("approvers name teams (%s) but the github-token is the job's GITHUB_TOKEN, which cannot read team membership: approvals that count only through a team are denied as unknown", strings.Join(teams, ", ")),
				Fix:     "with: github-token: a GitHub App installation token with members: read (actions/create-github-app-token), or name the approvers by login"})
		}
	}

	// C2: the QA credentials to prove dead.
	if wf.with["qa-credentials"] == "" {
		rep.add(Item{Area: area, Check: "qa-credentials input", Status: Deny, Control: "C2",
			Message: "no revocation evidence: airlock did not check the QA credentials, so it cannot show they are dead",
			Fix:     "with: qa-credentials: a YAML file listing every credential QA used, or `none` if QA had none"})
	} else {
		rep.add(Item{Area: area, Check: "qa-credentials input", Status: Pass, Message: firstLine(wf.with["qa-credentials"])})
	}

	// C3: the production identity.
	if wf.with["production-identity"] == "" && wf.with["production-manifest"] == "" {
		required := true
		if cfg.Policy != nil {
			if v, ok := cfg.Policy.Param("revocation", "require_production_identity"); ok && v == false {
				required = false
			}
		}
		if required {
			rep.add(Item{Area: area, Check: "production identity", Status: Deny, Control: "C3",
				Message: "no production-identity was given: airlock cannot show that production runs on a new identity rather than the QA one",
				Fix:     "with: production-identity: (issuer, subject, client-id), or production-manifest: the agent manifest that names it"})
		}
	} else {
		rep.add(Item{Area: area, Check: "production identity", Status: Pass, Message: "given"})
	}
	return wf
}

// idTokenWrite reports whether permissions grant id-token: write.
func idTokenWrite(perms any) bool {
	switch p := perms.(type) {
	case string:
		return p == "write-all"
	case map[string]any:
		v, _ := p["id-token"].(string)
		return v == "write"
	}
	return false // GitHub's default token permissions never include id-token
}

func firstLine(s string) string {
	line, _, more := strings.Cut(s, "\n")
	if more {
		line += " …"
	}
	return line
}

// manifestScopes reads a production manifest's data sensitivity and scopes.
func manifestScopes(name string, data []byte) (string, []string, error) {
	m, err := manifest.Parse(name, data)
	if err != nil {
		return "", nil, err
	}
	return string(m.DataDomain.Sensitivity), m.Scopes, nil
}

// AirlockInputs returns the `with:` inputs of the workflow's airlock gate
// step, and whether it has one: how a caller finds the promotion workflow
// and the policy directory it names.
func AirlockInputs(data []byte) (map[string]string, bool) {
	wf, err := parseWorkflow(data)
	if err != nil || wf == nil {
		return nil, false
	}
	return wf.with, true
}
