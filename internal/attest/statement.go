package attest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// Subject is what the decision is about: a release asset (name + sha256) or
// the commit (gitCommit digest of the verified sha).
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// hexLengths are the lower-case hex lengths each subject digest may have
// (gitCommit: SHA-1 or SHA-256 repositories).
var hexLengths = map[string][]int{"sha256": {64}, "sha512": {128}, "gitCommit": {40, 64}}

func isDigest(alg, v string) bool {
	if !slices.Contains(hexLengths[alg], len(v)) {
		return false
	}
	for _, c := range []byte(v) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// statementJSON is the in-toto Statement v1 as written: the predicate keeps
// the exact bytes encoding/json gives it (protobuf's Struct would turn every
// number into a float).
type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// NewStatement encodes an in-toto Statement v1 and checks it with the in-toto
// library's own validation.
func NewStatement(subjects []Subject, p Predicate) ([]byte, error) {
	return newStatement(subjects, PredicateType, p)
}

// newStatement encodes a statement of predicateType about subjects and
// checks it as ParseStatement would.
func newStatement(subjects []Subject, predicateType string, p any) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, fmt.Errorf("statement: no subject")
	}
	for i, s := range subjects {
		if s.Name == "" || len(s.Digest) == 0 {
			return nil, fmt.Errorf("statement: subject %d: expected a name and a digest", i)
		}
		for alg, v := range s.Digest {
			if !isDigest(alg, v) {
				return nil, fmt.Errorf("statement: subject %q: digest %s: expected lower-case hex of that algorithm, got %q", s.Name, alg, v)
			}
		}
	}
	pred, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("statement: encode predicate: %w", err)
	}
	sorted := append([]Subject(nil), subjects...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	b, err := json.Marshal(statementJSON{Type: intoto.StatementTypeUri, Subject: sorted, PredicateType: predicateType, Predicate: pred})
	if err != nil {
		return nil, fmt.Errorf("statement: encode: %w", err)
	}
	if _, err := parseStatementOf(b, predicateType); err != nil {
		return nil, err
	}
	return b, nil
}

// ParseStatement decodes and validates an in-toto Statement v1 whose
// predicate is airlock's.
func ParseStatement(b []byte) (*intoto.Statement, error) {
	return parseStatementOf(b, PredicateType)
}

func parseStatementOf(b []byte, predicateType string) (*intoto.Statement, error) {
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("statement: not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		return nil, fmt.Errorf("statement: expected _type %q, got %q", intoto.StatementTypeUri, st.GetType())
	}
	if st.GetPredicateType() != predicateType {
		return nil, fmt.Errorf("statement: expected predicateType %q, got %q", predicateType, st.GetPredicateType())
	}
	return &st, nil
}

// DecodePredicate reads the predicate of a statement.
func DecodePredicate(statement []byte) (*Predicate, error) {
	var st statementJSON
	if err := json.Unmarshal(statement, &st); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	var p Predicate
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		return nil, fmt.Errorf("statement: predicate: %w", err)
	}
	return &p, nil
}
