package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/verify"
)

// MaxConfigBytes caps the configuration file.
const MaxConfigBytes = 1 << 20

// Defaults of the file's optional settings.
const (
	DefaultWorkers         = 8
	DefaultQueue           = 1024
	DefaultDecisionTimeout = time.Minute
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxAge          = time.Hour
	DefaultAPIURL          = "https://api.github.com"
)

// Match says what a decision must be about besides the commit.
const (
	MatchRun    = "run"    // the run GitHub holds (run.run_id of the decision)
	MatchCommit = "commit" // any run's decision about the deployment's commit
)

// File is the configuration file as written: what must hold, per
// repository and environment, for serve to approve a deployment.
type File struct {
	GitHubAPIURL    string     `yaml:"github_api_url"`
	Workers         int        `yaml:"workers"`
	Queue           int        `yaml:"queue"`
	DecisionTimeout duration   `yaml:"decision_timeout"`
	MaxBodyBytes    int64      `yaml:"max_body_bytes"`
	Rules           []fileRule `yaml:"rules"`
}

type fileRule struct {
	Repository   string `yaml:"repository"`
	RepositoryID int64  `yaml:"repository_id"`
	Environment  string `yaml:"environment"`
	// DecisionEnvironment is the environment the gate's job ran in (the
	// decision's issuer.environment); default Environment.
	DecisionEnvironment string   `yaml:"decision_environment"`
	SignerWorkflows     []string `yaml:"signer_workflows"`
	OIDCIssuer          string   `yaml:"oidc_issuer"`
	SourceRef           string   `yaml:"source_ref"`
	TrustedRoot         string   `yaml:"trusted_root"`
	TUF                 *fileTUF `yaml:"tuf"`
	PolicyDigests       []string `yaml:"policy_digests"`
	Policy              string   `yaml:"policy"`
	MaxAge              duration `yaml:"max_age"`
	Match               string   `yaml:"match"`
}

type fileTUF struct {
	URL  string `yaml:"url"`
	Root string `yaml:"root"`
}

// duration is a Go duration string ("90s", "1h").
type duration struct {
	d   time.Duration
	set bool
}

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return &lineError{n.Line, fmt.Sprintf("expected a duration such as \"90s\" or \"1h\", got %q", n.Value)}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return &lineError{n.Line, fmt.Sprintf("expected a positive duration such as \"90s\" or \"1h\", got %q", n.Value)}
	}
	d.d, d.set = v, true
	return nil
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// Rule is one resolved rule: trust material read, policy compiled.
type Rule struct {
	Repository          string // OWNER/REPO, for messages
	RepositoryID        int64
	Environment         string
	DecisionEnvironment string
	Match               string
	MaxAge              time.Duration
	PolicyDigests       []string
	Identity            verify.Identity
	TrustedRoots        []byte
	Policy              verify.Reevaluator
	// Where is FILE:LINE of the rule, for messages.
	Where string

	verifier *verify.Verifier // built once at load; AtTime per decision
}

// Settings is the resolved configuration.
type Settings struct {
	APIURL          string
	Workers, Queue  int
	DecisionTimeout time.Duration
	MaxBodyBytes    int64
	Rules           []Rule
}

// Loaders resolve what a rule names outside the file. Both are injected by
// the command (network and policy compiler); nil refuses the setting.
type Loaders struct {
	// TUF returns the trusted root of the TUF repository at url, anchored
	// by root.json bytes.
	TUF func(ctx context.Context, url string, root []byte) ([]byte, error)
	// Policy compiles a policy directory as `airlock verify --policy` does.
	Policy func(ctx context.Context, dir string) (verify.Reevaluator, error)
}

var (
	yamlLine     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line (\d+): (.*)$`) })
	unknownField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^field (\S+) not found in type`) })
)

// LoadConfig reads and checks the configuration file strictly: an unknown
// key, a wrong type, a missing setting or an illegal combination is a
// configuration error naming FILE:LINE. Relative paths in it are relative
// to the file's directory. Nothing is served until this returns.
func LoadConfig(ctx context.Context, path string, ld Loaders) (*Settings, error) {
	data, err := readCapped(path, MaxConfigBytes)
	if err != nil {
		return nil, fault.Configf("config %s: %w", path, err)
	}
	f, lines, err := parseFile(path, data)
	if err != nil {
		return nil, err
	}
	return f.resolve(ctx, path, lines, ld)
}

func readCapped(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// parseFile decodes with unknown keys refused, and returns the line of
// each rule for later messages.
func parseFile(path string, data []byte) (*File, []int, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fault.Configf("%s: empty file, expected a configuration with rules", path)
		}
		return nil, nil, fault.Config(yamlError(path, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fault.Configf("%s:%d: a second YAML document: the configuration is one document", path, extra.Line)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fault.Config(yamlError(path, err))
	}
	var lines []int
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "rules" && m.Content[i+1].Kind == yaml.SequenceNode {
				for _, it := range m.Content[i+1].Content {
					lines = append(lines, it.Line)
				}
			}
		}
	}
	return &f, lines, nil
}

// yamlError turns the decoder's messages into FILE:LINE: MESSAGE, one per
// problem, with "unknown key" for a key no setting has.
func yamlError(path string, err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s:%d: %s", path, le.line, le.msg)
	}
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if g := yamlLine().FindStringSubmatch(m); g != nil {
			msg := g[2]
			if u := unknownField().FindStringSubmatch(msg); u != nil {
				msg = fmt.Sprintf("unknown key %q", u[1])
			}
			out = append(out, fmt.Sprintf("%s:%s: %s", path, g[1], msg))
			continue
		}
		out = append(out, path+": "+m)
	}
	return errors.New(strings.Join(out, "; "))
}

func (f *File) resolve(ctx context.Context, path string, lines []int, ld Loaders) (*Settings, error) {
	s := &Settings{APIURL: f.GitHubAPIURL, Workers: f.Workers, Queue: f.Queue, DecisionTimeout: f.DecisionTimeout.d, MaxBodyBytes: f.MaxBodyBytes}
	if s.APIURL == "" {
		s.APIURL = DefaultAPIURL
	}
	switch {
	case f.Workers < 0 || f.Workers > 256:
		return nil, fault.Configf("%s: workers: expected 1 to 256, got %d", path, f.Workers)
	case f.Queue < 0 || f.Queue > 1<<20:
		return nil, fault.Configf("%s: queue: expected 1 to %d, got %d", path, 1<<20, f.Queue)
	case f.MaxBodyBytes < 0 || f.MaxBodyBytes > 25<<20:
		return nil, fault.Configf("%s: max_body_bytes: expected 1 to %d (GitHub's payload limit), got %d", path, 25<<20, f.MaxBodyBytes)
	case len(f.Rules) == 0:
		return nil, fault.Configf("%s: rules: expected at least one rule: without one every deployment would be rejected", path)
	}
	if s.Workers == 0 {
		s.Workers = DefaultWorkers
	}
	if s.Queue == 0 {
		s.Queue = DefaultQueue
	}
	if s.DecisionTimeout == 0 {
		s.DecisionTimeout = DefaultDecisionTimeout
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	seen := map[string]string{}
	for i, fr := range f.Rules {
		where := path
		if i < len(lines) {
			where = path + ":" + strconv.Itoa(lines[i])
		}
		bad := func(format string, a ...any) error {
			return fault.Configf("%s: rules[%d]: %s", where, i, fmt.Sprintf(format, a...))
		}
		r := Rule{Repository: fr.Repository, RepositoryID: fr.RepositoryID, Environment: fr.Environment,
			DecisionEnvironment: fr.DecisionEnvironment, Match: fr.Match, MaxAge: fr.MaxAge.d, PolicyDigests: fr.PolicyDigests, Where: where}
		if o, n, ok := strings.Cut(fr.Repository, "/"); !ok || o == "" || n == "" || strings.Contains(n, "/") {
			return nil, bad("repository: expected OWNER/REPO, got %q", fr.Repository)
		}
		if fr.RepositoryID <= 0 {
			return nil, bad("repository_id: expected the repository's numeric id (names can be renamed and reused; ids cannot)")
		}
		if fr.Environment == "" {
			return nil, bad("environment: expected the environment's name")
		}
		key := strconv.FormatInt(fr.RepositoryID, 10) + "/" + strings.ToLower(fr.Environment)
		if first, dup := seen[key]; dup {
			return nil, bad("repository_id %d and environment %q already have a rule at %s", fr.RepositoryID, fr.Environment, first)
		}
		seen[key] = where
		if r.DecisionEnvironment == "" {
			r.DecisionEnvironment = r.Environment
		}
		switch r.Match {
		case "":
			r.Match = MatchRun
		case MatchRun, MatchCommit:
		default:
			return nil, bad("match: expected %q or %q, got %q", MatchRun, MatchCommit, r.Match)
		}
		if r.MaxAge == 0 {
			r.MaxAge = DefaultMaxAge
		}
		if len(fr.PolicyDigests) == 0 {
			return nil, bad("policy_digests: expected the reviewed policy digests (`airlock policy digest DIR` prints one): a decision made under a policy nobody reviewed is not approved")
		}
		if len(fr.SignerWorkflows) == 0 {
			return nil, bad("signer_workflows: expected the gate's workflow(s), OWNER/REPO/.github/workflows/FILE[@REF]")
		}
		var err error
		if r.Identity, err = identityFor(fr); err != nil {
			return nil, bad("%v", err)
		}
		// The identity and the digests are checked before any trust
		// material is read (TUF may mean the network).
		if err := verify.Check(r.verifyConfig()); err != nil {
			return nil, fault.Configf("%s: rules[%d]: %w", where, i, err)
		}
		switch {
		case fr.TrustedRoot != "" && fr.TUF != nil:
			return nil, bad("give trusted_root or tuf, not both")
		case fr.TrustedRoot != "":
			if r.TrustedRoots, err = readCapped(rel(fr.TrustedRoot), verify.MaxTrustedRootBytes); err != nil {
				return nil, bad("trusted_root: %v", err)
			}
		case fr.TUF != nil:
			if fr.TUF.URL == "" || fr.TUF.Root == "" {
				return nil, bad("tuf: expected url and root (the repository and the root.json that anchors trust in it)")
			}
			if ld.TUF == nil {
				return nil, bad("tuf: not available here")
			}
			anchor, err := readCapped(rel(fr.TUF.Root), 1<<20)
			if err != nil {
				return nil, bad("tuf.root: %v", err)
			}
			if r.TrustedRoots, err = ld.TUF(ctx, fr.TUF.URL, anchor); err != nil {
				return nil, fmt.Errorf("%s: rules[%d]: tuf: %w", where, i, err)
			}
		default:
			return nil, bad("expected trusted_root (a trusted root JSON file) or tuf (url and root)")
		}
		if fr.Policy != "" {
			if ld.Policy == nil {
				return nil, bad("policy: not available here")
			}
			if r.Policy, err = ld.Policy(ctx, rel(fr.Policy)); err != nil {
				return nil, fmt.Errorf("%s: rules[%d]: policy %s: %w", where, i, fr.Policy, err)
			}
		}
		// Built once now: the trust material is parsed at startup, and an
		// error in it is a startup error, not a rejected deployment later.
		if r.verifier, err = verify.New(r.verifyConfig()); err != nil {
			return nil, fault.Configf("%s: rules[%d]: %w", where, i, err)
		}
		s.Rules = append(s.Rules, r)
	}
	return s, nil
}

// identityFor turns signer_workflows into one verifier identity: the SAN
// of a GitHub Actions certificate is the signing workflow at its ref, so
// the workflows become an anchored alternation (a workflow without @REF
// accepts any ref of it).
func identityFor(fr fileRule) (verify.Identity, error) {
	var alts []string
	for _, wf := range fr.SignerWorkflows {
		u := wf
		if !strings.HasPrefix(u, "https://") {
			u = "https://github.com/" + strings.Trim(u, "/")
		}
		if !strings.Contains(u, "/.github/workflows/") {
			return verify.Identity{}, fmt.Errorf("signer_workflows: %q: expected OWNER/REPO/.github/workflows/FILE[@REF]", wf)
		}
		if strings.Contains(u, "@") {
			alts = append(alts, regexp.QuoteMeta(u))
		} else {
			alts = append(alts, regexp.QuoteMeta(u+"@")+".+")
		}
	}
	issuer := fr.OIDCIssuer
	if issuer == "" {
		issuer = verify.GitHubActionsIssuer
	}
	return verify.Identity{SANRegexp: strings.Join(alts, "|"), Issuer: issuer, SourceRef: fr.SourceRef}, nil
}

// verifyConfig is the verify path of a rule's decisions: sigstore-go
// against the rule's roots, the signer identity, the reviewed policy
// digests, validity, revocations among the bundles, and the policy
// re-evaluation when the rule names one. Refusals are listed (IncludeDeny)
// so that a deny is reported as the decision it is.
func (r Rule) verifyConfig() verify.Config {
	return verify.Config{
		TrustedRoots: r.TrustedRoots, Identity: r.Identity, IncludeDeny: true, PolicyDigests: r.PolicyDigests,
		Policy: r.Policy, RequirePolicyPass: r.Policy != nil, Now: time.Now, Workers: 2,
	}
}

// verifierAt is the rule's verifier checking validity at at.
func (r Rule) verifierAt(at time.Time) (*verify.Verifier, error) {
	if r.verifier == nil {
		// A Rule built by hand, not by LoadConfig.
		v, err := verify.New(r.verifyConfig())
		if err != nil {
			return nil, err
		}
		return v.AtTime(at), nil
	}
	return r.verifier.AtTime(at), nil
}
