package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/fault"
)

// MaxSize caps a manifest: it is a short declaration, and a larger input is
// more likely a mistake (or an attack on the parser) than an agent.
const MaxSize = 1 << 20

// Problem is one thing wrong with a manifest, located so that a pull-request
// annotation can point at it.
type Problem struct {
	Path    string // "tool_registry.tools[2].access"; empty for the document itself
	Line    int    // 1-based; 0 when unknown
	Message string // "must be one of read, write, execute, got \"admin\""
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// ParseError lists every problem found in one manifest, in document order.
// Parse returns it wrapped in fault.Config; reach it with errors.As.
type ParseError struct {
	Input    string
	Problems []Problem
}

func (e *ParseError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return e.Input + ": " + strings.Join(parts, "; ")
}

var (
	// Compiled on first use: bounded repetitions make patterns costly, and
	// every process start (airlock verify included) would pay for them.
	digestPattern   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`) })
	durationPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`) })
)

// Parse reads one manifest, YAML or JSON, strictly. inputName names the input
// in every error (e.g. "production-manifest"). Every error is fault.Config.
func Parse(inputName string, data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, fault.Configf("%s: larger than %d bytes", inputName, MaxSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fault.Configf("%s: empty document, expected a manifest", inputName)
		}
		return nil, fault.Configf("%s: not YAML or JSON: %w", inputName, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, fault.Configf("%s: not YAML or JSON: %w", inputName, err)
		}
		return nil, fault.Config(&ParseError{Input: inputName, Problems: []Problem{{Line: line, Message: "more than one YAML document; a manifest is one document"}}})
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p := &parser{lines: map[string]int{}}
	m := p.manifest(root)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, fault.Config(&ParseError{Input: inputName, Problems: p.problems})
	}
	m.input = inputName
	m.lines = p.lines
	return m, nil
}

type parser struct {
	problems []Problem
	lines    map[string]int
}

func (p *parser) fail(path string, n *yaml.Node, format string, a ...any) {
	p.problems = append(p.problems, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf(format, a...)})
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// describe names what a node holds, in the words of the error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		case "!!timestamp":
			return "a timestamp"
		default:
			return "a value tagged " + n.ShortTag()
		}
	}
	return "an empty document"
}

// usable reports whether n may be read at all; aliases are refused because
// they let one line of YAML stand for another, which defeats line-level review.
func (p *parser) usable(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		p.fail(path, n, "is a YAML alias; write the value out")
		return false
	}
	return true
}

// mapping checks that n is a mapping with only the given keys, each at most
// once and those in required present, records each key's line, and returns
// the value nodes by key.
func (p *parser) mapping(path string, n *yaml.Node, keys, required []string) map[string]*yaml.Node {
	if n == nil || !p.usable(path, n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.fail(path, n, "must be a mapping, got %s", describe(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			p.fail(path, k, "keys must be strings, got %s", describe(k))
			continue
		}
		kp := join(path, k.Value)
		if !contains(keys, k.Value) {
			p.fail(kp, k, "unknown field, expected one of %s", strings.Join(keys, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.fail(kp, k, "defined twice, first at line %d", p.lines[kp])
			continue
		}
		out[k.Value] = v
		p.lines[kp] = k.Line
	}
	for _, r := range required {
		if _, ok := out[r]; !ok {
			p.fail(join(path, r), n, "required field is missing")
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a non-empty string. Unquoted YAML numbers, booleans and dates
// are refused rather than converted: `version: 1.10` would otherwise become "1.1".
func (p *parser) str(path string, n *yaml.Node) string {
	if n == nil || !p.usable(path, n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			p.fail(path, n, "must be a string, got %s; quote it", describe(n))
		} else {
			p.fail(path, n, "must be a string, got %s", describe(n))
		}
		return ""
	}
	if strings.TrimSpace(n.Value) == "" {
		p.fail(path, n, "must not be empty")
		return ""
	}
	return n.Value
}

func (p *parser) optionalStr(path string, n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return p.str(path, n)
}

func (p *parser) enum(path string, n *yaml.Node, allowed ...string) string {
	s := p.str(path, n)
	if s == "" {
		return ""
	}
	if !contains(allowed, s) {
		p.fail(path, n, "must be one of %s, got %q", strings.Join(allowed, ", "), s)
		return ""
	}
	return s
}

func (p *parser) list(path string, n *yaml.Node) []*yaml.Node {
	if n == nil || !p.usable(path, n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(path, n, "must be a list, got %s", describe(n))
		return nil
	}
	for i, item := range n.Content {
		p.lines[index(path, i)] = item.Line
	}
	return n.Content
}

// unique reports a repeated name in a list, where a second entry would make
// the diff ambiguous about which one counts.
func (p *parser) unique(path string, n *yaml.Node, what, name string, seen map[string]string) {
	if name == "" {
		return
	}
	if first, ok := seen[name]; ok {
		p.fail(path, n, "duplicate %s %q, first at %s", what, name, first)
		return
	}
	seen[name] = path
}

func (p *parser) manifest(n *yaml.Node) *Manifest {
	f := p.mapping("", n,
		[]string{"name", "model", "tool_registry", "data_domain", "integrations", "tenant", "owner", "identity", "scopes", "credential_ttl", "downstream_agents"},
		[]string{"name", "model", "tool_registry", "data_domain", "integrations", "tenant", "owner", "identity", "scopes", "credential_ttl"})
	m := &Manifest{}
	if f == nil {
		return m
	}
	m.Name = p.str("name", f["name"])
	if mf := p.mapping("model", f["model"], []string{"provider", "name", "version"}, []string{"provider", "name", "version"}); mf != nil {
		m.Model = Model{
			Provider: p.str("model.provider", mf["provider"]),
			Name:     p.str("model.name", mf["name"]),
			Version:  p.str("model.version", mf["version"]),
		}
	}
	m.ToolRegistry = p.toolRegistry(f["tool_registry"])
	if df := p.mapping("data_domain", f["data_domain"], []string{"name", "sensitivity"}, []string{"name", "sensitivity"}); df != nil {
		m.DataDomain = DataDomain{
			Name:        p.str("data_domain.name", df["name"]),
			Sensitivity: Sensitivity(p.enum("data_domain.sensitivity", df["sensitivity"], "synthetic", "internal", "confidential", "customer")),
		}
	}
	seen := map[string]string{}
	for i, item := range p.list("integrations", f["integrations"]) {
		ip := index("integrations", i)
		inf := p.mapping(ip, item, []string{"name", "mode"}, []string{"name", "mode"})
		if inf == nil {
			continue
		}
		in := Integration{Name: p.str(ip+".name", inf["name"]), Mode: Mode(p.enum(ip+".mode", inf["mode"], "stubbed", "live"))}
		p.unique(ip+".name", inf["name"], "integration", in.Name, seen)
		m.Integrations = append(m.Integrations, in)
	}
	m.Tenant = p.str("tenant", f["tenant"])
	m.Owner = p.str("owner", f["owner"])
	m.Identity = p.identity("identity", f["identity"])
	seen = map[string]string{}
	for i, item := range p.list("scopes", f["scopes"]) {
		sp := index("scopes", i)
		s := p.str(sp, item)
		p.unique(sp, item, "scope", s, seen)
		if s != "" {
			m.Scopes = append(m.Scopes, s)
		}
	}
	m.CredentialTTL = p.duration("credential_ttl", f["credential_ttl"])
	seen = map[string]string{}
	for i, item := range p.list("downstream_agents", f["downstream_agents"]) {
		dp := index("downstream_agents", i)
		df := p.mapping(dp, item, []string{"name", "identity"}, []string{"name", "identity"})
		if df == nil {
			continue
		}
		d := DownstreamAgent{Name: p.str(dp+".name", df["name"])}
		p.unique(dp+".name", df["name"], "downstream agent", d.Name, seen)
		d.Identity = p.identity(dp+".identity", df["identity"])
		m.DownstreamAgents = append(m.DownstreamAgents, d)
	}
	return m
}

func (p *parser) toolRegistry(n *yaml.Node) ToolRegistry {
	var r ToolRegistry
	f := p.mapping("tool_registry", n, []string{"uri", "digest", "tools"}, []string{"uri", "digest", "tools"})
	if f == nil {
		return r
	}
	r.URI = p.str("tool_registry.uri", f["uri"])
	if d := p.str("tool_registry.digest", f["digest"]); d != "" {
		if !digestPattern().MatchString(d) {
			p.fail("tool_registry.digest", f["digest"], "must be \"sha256:\" and 64 lowercase hex digits (or \"sha512:\" and 128), got %q", d)
		}
		r.Digest = d
	}
	seen := map[string]string{}
	for i, item := range p.list("tool_registry.tools", f["tools"]) {
		tp := index("tool_registry.tools", i)
		tf := p.mapping(tp, item, []string{"name", "access"}, []string{"name", "access"})
		if tf == nil {
			continue
		}
		t := Tool{Name: p.str(tp+".name", tf["name"]), Access: Access(p.enum(tp+".access", tf["access"], "read", "write", "execute"))}
		p.unique(tp+".name", tf["name"], "tool", t.Name, seen)
		r.Tools = append(r.Tools, t)
	}
	return r
}

func (p *parser) identity(path string, n *yaml.Node) Identity {
	f := p.mapping(path, n, []string{"issuer", "subject", "client_id", "spiffe_id"}, []string{"issuer", "subject"})
	if f == nil {
		return Identity{}
	}
	id := Identity{
		Issuer:   p.str(path+".issuer", f["issuer"]),
		Subject:  p.str(path+".subject", f["subject"]),
		ClientID: p.optionalStr(path+".client_id", f["client_id"]),
		SPIFFEID: p.optionalStr(path+".spiffe_id", f["spiffe_id"]),
	}
	if id.SPIFFEID != "" && (!strings.HasPrefix(id.SPIFFEID, "spiffe://") || len(id.SPIFFEID) == len("spiffe://")) {
		p.fail(path+".spiffe_id", f["spiffe_id"], "must be a SPIFFE ID like \"spiffe://example.org/agent\", got %q", id.SPIFFEID)
	}
	return id
}

// duration reads a Go duration string ("1h", "90m"). A bare number is
// refused: "3600" could be seconds or minutes, and a TTL must not be guessed.
func (p *parser) duration(path string, n *yaml.Node) time.Duration {
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!str" && n.ShortTag() != "!!null" {
		p.fail(path, n, "must be a duration like \"1h\" or \"90m\", got %s", describe(n))
		return 0
	}
	s := p.str(path, n)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || !durationPattern().MatchString(s) {
		p.fail(path, n, "must be a duration like \"1h\" or \"90m\", got %q", s)
		return 0
	}
	if d < time.Second {
		p.fail(path, n, "must be at least 1s, got %q", s)
		return 0
	}
	return d
}

// seconds rounds up, so that a TTL is never reported shorter than requested.
func seconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}
