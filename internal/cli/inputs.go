package cli

import "strings"

// actionInput is one input of action.yml as `airlock gate --help` and
// `airlock check --help` list it. TestActionInputsHelpMatchesActionYML keeps
// names and defaults equal to action.yml's.
type actionInput struct {
	name, def, meaning string
}

// actionInputs is action.yml's inputs, in its order.
var actionInputs = []actionInput{
	{"mode", "gate", "gate (a deployment job) or check (the required status check on promotion pull requests)"},
	{"manifest-paths", "", "check: paths (exact, globs, or dir/) whose change makes a pull request a promotion; empty: the production manifest"},
	{"environment", "production", "the verified token's environment claim must equal it"},
	{"allowed-refs", "{default-branch}\nrefs/tags/*\n", "refs allowed to promote, one per line or comma-separated; a trailing * matches by prefix"},
	{"allow-self-hosted", "false", "accept runner_environment other than github-hosted"},
	{"workflow", "", "pin job_workflow_ref: exact with @ref, any ref of that file without"},
	{"repository-id", "", "the token's repository_id must equal it"},
	{"qa-manifest", "", "path of the agent manifest as it ran in QA, read through the API at the verified commit"},
	{"production-manifest", "", "path of the agent manifest for production; with qa-manifest it turns on the agent rules"},
	{"promotion", "promote", "promote or rollback"},
	{"qa-credentials", "", "QA credentials to prove dead (C2): none, an inline YAML list, or a YAML file in the workspace; empty denies"},
	{"production-identity", "", "production identity (issuer, subject, client-id, spiffe-id) compared with every QA identity (C3)"},
	{"audience", "airlock", "audience requested for and required in the job's OIDC token"},
	{"oidc-issuer", "https://token.actions.githubusercontent.com", "exact issuer; GHES: https://HOST/_services/token"},
	{"policy", "", "directory of Rego modules (package airlock) and params/*.json added to the defaults"},
	{"approvers", "", "who may approve (C4): one group per line, logins and org/team slugs, optional `N of` prefix; empty denies"},
	{"min-approvals", "1", "distinct named approvers needed in total"},
	{"max-approval-age", "24h", "oldest an approval may be (1m–720h)"},
	{"approval-source", "run", "run (this run's environment approvals) or pull-request (reviews of the verified ref's pull request)"},
	{"github-token", "${{ github.token }}", "API reads (contents, actions, pull-requests: read; teams: members: read); masked"},
	{"timeout", "2m", "overall deadline (at most 30m)"},
	{"signer", "sigstore", "how the decision is signed (C12): sigstore, key or none; needs id-token: write"},
	{"decision-ttl", "1h", "validity of the signed decision (notAfter); policy caps it"},
	{"subjects", "", "globs over the release's asset names to sign the decision for; empty: the commit"},
	{"release-tag", "", "release to attach <name>.sigstore.json and trusted_root.json to (a draft)"},
	{"attest-deny", "false", "also upload a deny decision"},
	{"publish-attestation", "true", "store the bundle in GitHub's attestation store (attestations: write)"},
	{"transparency-log", "auto", "auto, rekor or tsa"},
	{"fulcio-url", "", "Fulcio URL; empty: public-good's or GitHub's by repository visibility"},
	{"rekor-url", "", "Rekor URL (default https://rekor.sigstore.dev)"},
	{"tsa-url", "", "timestamp authority URL (default GitHub's)"},
	{"trusted-root", "", "trusted_root.json (in the workspace) the bundle must verify against; empty: from TUF"},
	{"tuf-url", "", "TUF repository holding trusted_root.json; needs tuf-root"},
	{"tuf-root", "", "root.json (in the workspace) that anchors trust in tuf-url"},
	{"signing-key-env", "AIRLOCK_SIGNING_KEY", "variable holding the PEM private key for signer: key (masked)"},
	{"mint-token-url", "", "after an allow, mint the production credential at this token endpoint; empty: nothing minted"},
	{"mint-grant", "", "token-exchange (RFC 8693) or jwt-bearer (RFC 7523)"},
	{"mint-audience", "", "audience of the job's OIDC token sent to the production issuer"},
	{"mint-client-id", "", "airlock's client id at the production issuer"},
	{"mint-client-secret-env", "", "variable holding that client's secret (masked)"},
	{"mint-client-auth", "", "client_secret_basic (empty) or none"},
	{"mint-introspect-url", "", "the issuer's RFC 7662 introspection endpoint"},
	{"mint-revoke-url", "", "the issuer's RFC 7009 revocation endpoint"},
	{"mint-issuer", "", "the production issuer's identifier (the introspected iss must equal it)"},
}

// runnerVariables are the runner's variables the gate and the check read.
const runnerVariables = `Runner variables read (set by GitHub Actions):
  ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN
                        the job's OIDC token (the job needs permissions: id-token: write)
  GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE
                        where outputs, the summary and the documents go (required)
  GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT,
  GITHUB_SHA, GITHUB_REF, GITHUB_API_URL, GITHUB_SERVER_URL, RUNNER_TEMP
                        the run being gated, and where GitHub is
  GITHUB_TOKEN          the token for API reads when the github-token input is empty`

// inputsHelp is the Inputs section of gate's and check's help.
func inputsHelp(mode string) string {
	rows := make([][2]string, 0, len(actionInputs))
	for _, in := range actionInputs {
		meaning := in.meaning
		if in.name == "mode" && mode == modeCheck {
			meaning = "ignored: `airlock check` is mode check"
		}
		if d := strings.TrimSpace(in.def); d != "" {
			meaning += " (default " + strings.ReplaceAll(d, "\n", ", ") + ")"
		}
		rows = append(rows, [2]string{in.name, meaning})
	}
	return "Inputs (the step's `with:`; the runner passes each as INPUT_<NAME>, e.g. INPUT_QA-CREDENTIALS;\n" +
		"the defaults are action.yml's, which only the runner applies):\n" + twoColumns(rows) + "\n\n" + runnerVariables
}
