package checkrun

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/internal/gate"
	"github.com/airlock-dev/airlock/internal/manifest"
	"github.com/airlock-dev/airlock/internal/policy"
)

// loc is a line of a file at the pull request's head.
type loc struct {
	path string
	line int
}

// identityFields are the manifest identity fields, in the words policy
// messages use.
var identityFields = []string{"issuer", "subject", "client_id", "spiffe_id"}

// locate finds the lines a reason is about. Reasons are {control, message};
// the evidence says which manifest fields, credentials and agents exist, and
// a reason names the ones it is about (a credential "name", a changed field
// path, an integration or tool "name", a scope). What cannot be placed
// stays in the summary only: a missing annotation never changes the
// conclusion.
func locate(r policy.Reason, res *gate.CheckResult) []loc {
	src := res.Sources
	msg := r.Message
	var out []loc
	prod := func(field string) {
		if src.Production == nil {
			return
		}
		if l := src.Production.Line(field); l > 0 {
			out = append(out, loc{src.ProductionManifestPath, l})
		}
	}
	qa := func(field string) {
		if src.QA == nil {
			return
		}
		if l := src.QA.Line(field); l > 0 {
			out = append(out, loc{src.QAManifestPath, l})
		}
	}
	credentials := func(match func(name string) bool) {
		if src.CredentialsPath == "" {
			return
		}
		for _, c := range src.Credentials {
			if c.Line > 0 && match(c.Name) {
				out = append(out, loc{src.CredentialsPath, c.Line})
			}
		}
	}
	// identity places a reason about the production identity on the fields
	// whose values it quotes (or names as production.field).
	identity := func() {
		if src.Production == nil {
			return
		}
		id := src.Production.Identity
		values := map[string]string{"issuer": id.Issuer, "subject": id.Subject, "client_id": id.ClientID, "spiffe_id": id.SPIFFEID}
		for _, f := range identityFields {
			if v := values[f]; v != "" && (strings.Contains(msg, strconv.Quote(v)) || strings.Contains(msg, "production."+f)) {
				prod("identity." + f)
			}
		}
	}
	switch r.Control {
	case "C2":
		credentials(func(name string) bool { return strings.Contains(msg, strconv.Quote(name)) })
	case "C3", "C10":
		identity()
		// Revocation names credentials bare ("QA credential(s) a, b") or as
		// "name.field=production.field".
		credentials(func(name string) bool { return containsWord(msg, name) })
		if len(out) == 0 {
			prod("identity")
		}
	case "C6":
		switch {
		case strings.Contains(msg, "TTL"):
			prod("credential_ttl")
		case strings.Contains(msg, "scopes"):
			head := msg
			if i := strings.Index(msg, " are more than"); i >= 0 {
				head = msg[:i] + " "
			}
			if src.Production != nil {
				for i, s := range src.Production.Scopes {
					if strings.Contains(head, " "+s+",") || strings.Contains(head, " "+s+" ") {
						prod(fmt.Sprintf("scopes[%d]", i))
					}
				}
			}
		case strings.Contains(msg, "sensitivity"):
			prod("data_domain.sensitivity")
		}
	case "C7":
		if a := res.Evidence.Agent; a != nil {
			for _, c := range a.Changes {
				if strings.Contains(msg, c.Field) {
					prod(c.Field)
				}
			}
		}
	case "C8":
		if a := res.Evidence.Agent; a != nil {
			for _, e := range a.Escalations {
				if strings.Contains(msg, strconv.Quote(e.Detail)) {
					prod(e.Field)
				}
			}
		}
	case "C9":
		if src.QA != nil {
			for i, in := range src.QA.Integrations {
				if in.Mode == manifest.ModeLive && strings.Contains(msg, in.Name) {
					qa(fmt.Sprintf("integrations[%d].mode", i))
				}
			}
		}
	case "C11":
		if src.Production != nil {
			for i, d := range src.Production.DownstreamAgents {
				if strings.Contains(msg, strconv.Quote(d.Name)) {
					prod(fmt.Sprintf("downstream_agents[%d].identity", i))
				}
			}
		}
	}
	return out
}

// containsWord reports whether name occurs in msg not as part of a longer
// name (credential names are letters, digits, '.', '_' and '-').
func containsWord(msg, name string) bool {
	for i := 0; ; {
		j := strings.Index(msg[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !nameByte(msg[start-1])) && (end == len(msg) || !nameByte(msg[end]) || msg[end] == '.' && end+1 < len(msg) && !nameByte(msg[end+1])) {
			return true
		}
		if end < len(msg) && msg[end] == '.' {
			return true // "name.field=production.field"
		}
		i = start + 1
	}
}

func nameByte(b byte) bool {
	return b == '-' || b == '_' || b == '.' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
