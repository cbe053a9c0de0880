package revocation

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	netpolicy "github.com/airlock-dev/airlock/internal/endpoint"
	"github.com/airlock-dev/airlock/internal/fault"
)

// Kind is the kind of a QA credential; it selects the Checker.
type Kind string

// The kinds of credential airlock can probe.
const (
	KindOAuth2      Kind = "oauth2"
	KindGitHubToken Kind = "github-token"
	KindVault       Kind = "vault"
	KindJWT         Kind = "jwt"
)

// Kinds lists every supported kind, in the order the docs present them.
var Kinds = []Kind{KindOAuth2, KindGitHubToken, KindVault, KindJWT}

// Client authentication at an OAuth2 introspection/revocation endpoint.
const (
	ClientAuthNone   = "none"   // e.g. Hydra's admin API, protected by the network
	ClientAuthBasic  = "basic"  // RFC 6749 §2.3.1 client_secret_basic
	ClientAuthBearer = "bearer" // RFC 7662 §2.1 "a separate OAuth 2.0 access token"
)

// DefaultGitHubAPI is used for github-token credentials without api-url.
const DefaultGitHubAPI = "https://api.github.com"

// Credential is one entry of the qa-credentials input. It holds the names of
// environment variables, never their values, until Resolve fills the
// unexported secret fields.
type Credential struct {
	Name             string `json:"name"`
	Kind             Kind   `json:"kind"`
	TokenEnv         string `json:"token_env"`
	IntrospectionURL string `json:"introspection_url,omitempty"`
	RevocationURL    string `json:"revocation_url,omitempty"`
	ClientIDEnv      string `json:"client_id_env,omitempty"`
	ClientSecretEnv  string `json:"client_secret_env,omitempty"`
	ClientAuth       string `json:"client_auth,omitempty"`
	BearerTokenEnv   string `json:"bearer_token_env,omitempty"`
	APIURL           string `json:"api_url,omitempty"`
	JWKSURL          string `json:"jwks_url,omitempty"`
	JWKSFile         string `json:"jwks_file,omitempty"`
	DenyList         string `json:"deny_list,omitempty"`
	Issuer           string `json:"issuer,omitempty"`
	Revoke           bool   `json:"revoke,omitempty"`
	// Accessor (vault) is the QA token's accessor, and OperatorTokenEnv
	// the variable holding an operator token that may read
	// auth/token/lookup-accessor: together, the proof of revocation when
	// lookup-self's 403 does not say "invalid token".
	Accessor         string `json:"accessor,omitempty"`
	OperatorTokenEnv string `json:"operator_token_env,omitempty"`
	// DeclaredSubject and DeclaredClientID are the QA identity as the
	// workflow states it, for C3 when the issuer does not say (a dead
	// token's issuer rarely does): recorded as declared, never as verified.
	DeclaredSubject  string `json:"declared_subject,omitempty"`
	DeclaredClientID string `json:"declared_client_id,omitempty"`

	// Line is the line of the entry in its YAML source, for messages.
	Line int `json:"-"`

	// sec is a pointer so that fmt, which cannot call methods on
	// unexported fields, prints an address and never the values.
	sec *resolved
}

// resolved holds what Resolve read from the environment.
type resolved struct {
	token        secret
	clientID     string // an identifier, not a secret
	clientSecret secret
	bearerToken  secret
	// operatorToken (vault) asks about the QA token by its accessor.
	operatorToken secret
}

// SecretURLs are the URLs this credential's probes send a secret to (the
// token, a client secret, a bearer token): introspection, revocation and
// token-API endpoints. Key sets and deny lists are fetched without one.
// An empty API URL means the kind's default endpoint, which the workflow
// does not choose; it is not listed.
func (c Credential) SecretURLs() []string {
	var out []string
	for _, u := range []string{c.IntrospectionURL, c.RevocationURL, c.APIURL} {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Declaration is the parsed qa-credentials input. None is true only for the
// literal input "none": the workflow states that QA had no credentials. An
// empty list is not the same thing — policy denies it.
type Declaration struct {
	None        bool
	Credentials []Credential
}

// secret holds a credential value. It formats as "[redacted]" under every
// fmt verb and in JSON, so a stray %v of a Credential cannot leak it.
type secret string

func (s secret) String() string               { return "[redacted]" }
func (s secret) GoString() string             { return "[redacted]" }
func (s secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s secret) reveal() string               { return string(s) }
func (s secret) empty() bool                  { return s == "" }

// secrets lists the resolved secret values, for scrubbing.
func (c Credential) secrets() []string {
	if c.sec == nil {
		return nil
	}
	return nonEmpty(c.sec.token.reveal(), c.sec.clientSecret.reveal(), c.sec.bearerToken.reveal(), c.sec.operatorToken.reveal())
}

func nonEmpty(v ...string) (out []string) {
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

var (
	// Compiled on first use, not at every process start.
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })
	envRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	// A Vault accessor: a UUID (older Vault) or 24 base62 characters, with
	// a namespace suffix (".ns1a2") under Vault Enterprise namespaces.
	accessorRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`) })
)

// hasTokenPrefix reports a value that is a Vault token (service, batch or
// recovery; new and old prefixes), not an accessor.
func hasTokenPrefix(s string) bool {
	for _, p := range []string{"hvs.", "hvb.", "hvr.", "s.", "b.", "r."} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// fieldRule says which kinds may set a field. A field that a kind does not
// use is an error, so that a typo'd kind or a misplaced field never silently
// weakens a check.
var fieldRule = map[string][]Kind{
	"name":               nil, // all kinds
	"kind":               nil,
	"token-env":          nil,
	"issuer":             nil,
	"revoke":             {KindOAuth2, KindGitHubToken, KindVault},
	"introspection-url":  {KindOAuth2},
	"revocation-url":     {KindOAuth2},
	"client-id-env":      {KindOAuth2},
	"client-secret-env":  {KindOAuth2},
	"client-auth":        {KindOAuth2},
	"bearer-token-env":   {KindOAuth2},
	"api-url":            {KindGitHubToken, KindVault},
	"jwks-url":           {KindJWT},
	"jwks-file":          {KindJWT},
	"deny-list":          {KindJWT},
	"accessor":           {KindVault},
	"operator-token-env": {KindVault},
	"declared-subject":   nil,
	"declared-client-id": nil,
}

// ParseCredentials parses the qa-credentials input: the literal `none`, or a
// YAML list of credential entries. name prefixes every error
// (e.g. "qa-credentials"); errors name the entry and field, with the YAML
// line: `qa-credentials[2].kind: unknown kind "oath2" (line 9)`. All errors
// are fault.Config.
func ParseCredentials(name string, data []byte) (Declaration, error) {
	trimmed := bytes.TrimSpace(data)
	if string(trimmed) == "none" {
		return Declaration{None: true}, nil
	}
	if len(trimmed) == 0 {
		return Declaration{}, fault.Configf("%s: empty: list the QA credentials, or write none if QA had none", name)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return Declaration{}, fault.Configf("%s: %s", name, yamlErr(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return Declaration{}, fault.Configf("%s: more than one YAML document (line %d)", name, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.SequenceNode {
		return Declaration{}, fault.Configf("%s: expected a YAML list of credentials or none, got %s (line %d)", name, nodeKind(root), root.Line)
	}
	d := Declaration{Credentials: make([]Credential, 0, len(root.Content))}
	seen := map[string]int{}
	for i, item := range root.Content {
		c, err := parseEntry(fmt.Sprintf("%s[%d]", name, i), item)
		if err != nil {
			return Declaration{}, err
		}
		if j, dup := seen[c.Name]; dup {
			return Declaration{}, fault.Configf("%s[%d].name: %q already used by %s[%d] (line %d)", name, i, c.Name, name, j, c.Line)
		}
		seen[c.Name] = i
		d.Credentials = append(d.Credentials, c)
	}
	return d, nil
}

func parseEntry(at string, n *yaml.Node) (Credential, error) {
	c := Credential{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return c, fault.Configf("%s: expected a mapping, got %s (line %d)", at, nodeKind(n), n.Line)
	}
	set := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return c, fault.Configf("%s: expected a field name, got %s (line %d)", at, nodeKind(k), k.Line)
		}
		if _, known := fieldRule[k.Value]; !known {
			return c, fault.Configf("%s: unknown field %q (line %d)", at, k.Value, k.Line)
		}
		if _, dup := set[k.Value]; dup {
			return c, fault.Configf("%s.%s: set twice (line %d)", at, k.Value, k.Line)
		}
		set[k.Value] = v
	}
	str := func(field string, dst *string) error {
		v, ok := set[field]
		if !ok {
			return nil
		}
		if v.Kind != yaml.ScalarNode || (v.Tag != "!!str" && v.Tag != "!!int") {
			return fault.Configf("%s.%s: expected a string, got %s (line %d)", at, field, nodeKind(v), v.Line)
		}
		*dst = strings.TrimSpace(v.Value)
		if *dst == "" {
			return fault.Configf("%s.%s: empty (line %d)", at, field, v.Line)
		}
		return nil
	}
	var kind string
	for _, f := range []struct {
		field string
		dst   *string
	}{
		{"name", &c.Name}, {"kind", &kind}, {"token-env", &c.TokenEnv}, {"issuer", &c.Issuer},
		{"introspection-url", &c.IntrospectionURL}, {"revocation-url", &c.RevocationURL},
		{"client-id-env", &c.ClientIDEnv}, {"client-secret-env", &c.ClientSecretEnv},
		{"client-auth", &c.ClientAuth}, {"bearer-token-env", &c.BearerTokenEnv},
		{"api-url", &c.APIURL}, {"jwks-url", &c.JWKSURL}, {"jwks-file", &c.JWKSFile}, {"deny-list", &c.DenyList},
		{"accessor", &c.Accessor}, {"operator-token-env", &c.OperatorTokenEnv},
		{"declared-subject", &c.DeclaredSubject}, {"declared-client-id", &c.DeclaredClientID},
	} {
		if err := str(f.field, f.dst); err != nil {
			return c, err
		}
	}
	if v, ok := set["revoke"]; ok {
		b, err := strconv.ParseBool(v.Value)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || err != nil {
			return c, fault.Configf("%s.revoke: expected true or false, got %q (line %d)", at, v.Value, v.Line)
		}
		c.Revoke = b
	}
	line := func(field string) int {
		if v, ok := set[field]; ok {
			return v.Line
		}
		return n.Line
	}
	bad := func(field, format string, a ...any) error {
		return fault.Configf("%s.%s: %s (line %d)", at, field, fmt.Sprintf(format, a...), line(field))
	}

	if c.Name == "" {
		return c, bad("name", "required")
	}
	if !nameRE().MatchString(c.Name) {
		return c, bad("name", "%q: use 1-64 letters, digits, '.', '_' or '-'", c.Name)
	}
	switch Kind(kind) {
	case KindOAuth2, KindGitHubToken, KindVault, KindJWT:
		c.Kind = Kind(kind)
	case "":
		return c, bad("kind", "required (one of oauth2, github-token, vault, jwt)")
	default:
		return c, bad("kind", "unknown kind %q (expected oauth2, github-token, vault or jwt)", kind)
	}
	for field := range set {
		if kinds := fieldRule[field]; kinds != nil && !containsKind(kinds, c.Kind) {
			if field == "revoke" {
				return c, bad(field, "not supported for kind %s: a JWT cannot be revoked offline; use kind oauth2 against its issuer", c.Kind)
			}
			return c, bad(field, "not used by kind %s", c.Kind)
		}
	}
	if c.TokenEnv == "" {
		return c, bad("token-env", "required: the name of the environment variable holding the QA token")
	}
	for field, v := range map[string]string{"token-env": c.TokenEnv, "client-id-env": c.ClientIDEnv, "client-secret-env": c.ClientSecretEnv, "bearer-token-env": c.BearerTokenEnv, "operator-token-env": c.OperatorTokenEnv} {
		if v != "" && !envRE().MatchString(v) {
			return c, bad(field, "%q is not an environment variable name (the value belongs in the environment, not here)", v)
		}
	}
	for field, v := range map[string]string{"introspection-url": c.IntrospectionURL, "revocation-url": c.RevocationURL, "api-url": c.APIURL, "jwks-url": c.JWKSURL, "issuer": c.Issuer} {
		if v == "" {
			continue
		}
		if err := checkURL(v); err != nil {
			return c, bad(field, "%v", err)
		}
	}
	if c.DenyList != "" && isURL(c.DenyList) {
		if err := checkURL(c.DenyList); err != nil {
			return c, bad("deny-list", "%v", err)
		}
	}

	switch c.Kind {
	case KindOAuth2:
		if c.IntrospectionURL == "" {
			return c, bad("introspection-url", "required for kind oauth2 (the RFC 7662 endpoint)")
		}
		if c.Revoke && c.RevocationURL == "" {
			return c, bad("revocation-url", "required when revoke is true (the RFC 7009 endpoint)")
		}
		if c.ClientAuth == "" {
			switch {
			case c.ClientIDEnv != "" || c.ClientSecretEnv != "":
				c.ClientAuth = ClientAuthBasic
			case c.BearerTokenEnv != "":
				c.ClientAuth = ClientAuthBearer
			default:
				c.ClientAuth = ClientAuthNone
			}
		}
		switch c.ClientAuth {
		case ClientAuthBasic:
			if c.ClientIDEnv == "" || c.ClientSecretEnv == "" {
				return c, bad("client-auth", "basic needs client-id-env and client-secret-env")
			}
			if c.BearerTokenEnv != "" {
				return c, bad("bearer-token-env", "not used with client-auth basic")
			}
		case ClientAuthBearer:
			if c.BearerTokenEnv == "" {
				return c, bad("client-auth", "bearer needs bearer-token-env")
			}
			if c.ClientIDEnv != "" || c.ClientSecretEnv != "" {
				return c, bad("client-auth", "bearer does not use client-id-env or client-secret-env")
			}
		case ClientAuthNone:
			if c.ClientIDEnv != "" || c.ClientSecretEnv != "" || c.BearerTokenEnv != "" {
				return c, bad("client-auth", "none does not use client or bearer credentials")
			}
		default:
			return c, bad("client-auth", "unknown client-auth %q (expected basic, bearer or none)", c.ClientAuth)
		}
	case KindGitHubToken:
		if c.APIURL == "" {
			c.APIURL = DefaultGitHubAPI
		}
	case KindVault:
		if c.APIURL == "" {
			return c, bad("api-url", "required for kind vault (e.g. https://vault.example.com:8200)")
		}
		switch {
		case c.Accessor != "" && c.OperatorTokenEnv == "":
			return c, bad("operator-token-env", "required with accessor: a revoked token cannot ask about itself; an operator token may read auth/token/lookup-accessor")
		case c.OperatorTokenEnv != "" && c.Accessor == "":
			return c, bad("accessor", "required with operator-token-env: the QA token's accessor (vault token create prints it)")
		case c.Accessor != "" && !accessorRE().MatchString(c.Accessor):
			return c, bad("accessor", "expected a Vault token accessor (letters, digits, '.', '_', '-'; up to 128)")
		case hasTokenPrefix(c.Accessor):
			return c, bad("accessor", "this looks like a Vault token, not its accessor: give the token through token-env and its accessor here")
		}
	case KindJWT:
		if c.JWKSURL != "" && c.JWKSFile != "" {
			return c, bad("jwks-file", "set jwks-url or jwks-file, not both")
		}
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	return c, nil
}

func containsKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// checkURL rejects URLs airlock must not send a secret to: anything but
// https, except plain http to a loopback address (test servers, sidecars);
// and URLs carrying credentials of their own.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.User != nil {
		return errors.New("must not contain user:password (give credentials through *-env fields)")
	}
	if u.Host == "" {
		return fmt.Errorf("expected an absolute https URL, got %q", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if netpolicy.IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("expected https, got http to %q (plain http is allowed only to loopback)", u.Hostname())
	default:
		return fmt.Errorf("expected an https URL, got scheme %q", u.Scheme)
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.DocumentNode:
		return "a document"
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "nothing"
}

// yamlErr strips the "yaml: " prefix; the YAML library puts the line in.
func yamlErr(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// Resolve reads every variable the credentials name through getenv and
// returns a copy holding the values. A missing or empty variable is a
// fault.Config error naming the variable (never a value). mask, when not nil,
// is called with every secret value before anything else can print it (the
// gate passes the runner's ::add-mask::).
func (d Declaration) Resolve(getenv func(string) string, mask func(string)) (Declaration, error) {
	out := Declaration{None: d.None, Credentials: make([]Credential, len(d.Credentials))}
	for i, c := range d.Credentials {
		get := func(field, env string, isSecret bool) (string, error) {
			if env == "" {
				return "", nil
			}
			v := getenv(env)
			if v == "" {
				return "", fault.Configf("qa-credentials[%d].%s: environment variable %s is not set or empty (credential %q)", i, field, env, c.Name)
			}
			if isSecret && mask != nil {
				mask(v)
			}
			return v, nil
		}
		tok, err := get("token-env", c.TokenEnv, true)
		if err != nil {
			return Declaration{}, err
		}
		id, err := get("client-id-env", c.ClientIDEnv, false)
		if err != nil {
			return Declaration{}, err
		}
		sec, err := get("client-secret-env", c.ClientSecretEnv, true)
		if err != nil {
			return Declaration{}, err
		}
		bt, err := get("bearer-token-env", c.BearerTokenEnv, true)
		if err != nil {
			return Declaration{}, err
		}
		op, err := get("operator-token-env", c.OperatorTokenEnv, true)
		if err != nil {
			return Declaration{}, err
		}
		if strings.ContainsAny(op, "\r\n") {
			return Declaration{}, fault.Configf("qa-credentials[%d].operator-token-env: the value of %s contains a line break (credential %q)", i, c.OperatorTokenEnv, c.Name)
		}
		if strings.ContainsAny(tok, "\r\n") {
			return Declaration{}, fault.Configf("qa-credentials[%d].token-env: the value of %s contains a line break (credential %q)", i, c.TokenEnv, c.Name)
		}
		c.sec = &resolved{token: secret(tok), clientID: id, clientSecret: secret(sec), bearerToken: secret(bt), operatorToken: secret(op)}
		out.Credentials[i] = c
	}
	return out, nil
}
