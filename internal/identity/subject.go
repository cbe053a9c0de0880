package identity

import (
	"errors"
	"fmt"
	"strings"
)

// maxSubjectBytes bounds the work ParseSubject does on input it did not choose;
// real subjects, even customised ones, are a few hundred bytes.
const maxSubjectBytes = 8 << 10

// Default GitHub subject contexts: the key that follows "repo:OWNER/REPO".
const (
	contextEnvironment = "environment"
	contextRef         = "ref"
	contextPullRequest = "pull_request"
)

// ParseSubject parses a GitHub Actions `sub` claim.
//
// GitHub's default forms parse exactly:
//
//	repo:OWNER/REPO:environment:NAME
//	repo:OWNER/REPO:ref:refs/heads/BRANCH   (or refs/tags/TAG)
//	repo:OWNER/REPO:pull_request
//	repo:OWNER@OWNER_ID/REPO@REPO_ID:…      (the immutable form)
//
// A ':' inside a value is sent as "%3A" and is decoded. A subject built from a
// customised template (repo or org setting) is parsed on a best-effort basis:
// Context is the first key other than "repo", repository keys fill Owner/Repo
// when present, and Customized is set so policy can treat it with care.
// Malformed input (an empty key, a key without a value, a repeated key, a
// malformed owner/repo) is an error, never a partial Subject.
func ParseSubject(sub string) (*Subject, error) {
	if sub == "" {
		return nil, errors.New("parse sub: empty")
	}
	if len(sub) > maxSubjectBytes {
		return nil, fmt.Errorf("parse sub: longer than %d bytes", maxSubjectBytes)
	}
	pairs, err := subjectPairs(sub)
	if err != nil {
		return nil, fmt.Errorf("parse sub %q: %w", sub, err)
	}

	s := &Subject{}
	seen := make(map[string]bool, len(pairs))
	contextSet := false
	for _, p := range pairs {
		if seen[p.key] {
			return nil, fmt.Errorf("parse sub %q: key %q repeated", sub, p.key)
		}
		seen[p.key] = true
		switch p.key {
		case "repo":
			if err := s.setRepo(p.value); err != nil {
				return nil, fmt.Errorf("parse sub %q: %w", sub, err)
			}
			continue
		case contextEnvironment, contextRef:
			if p.value == "" {
				return nil, fmt.Errorf("parse sub %q: %s has an empty value", sub, p.key)
			}
		}
		if !contextSet {
			s.Context, s.Value, contextSet = p.key, p.value, true
		}
	}

	standard := len(pairs) == 2 && pairs[0].key == "repo" &&
		(pairs[1].key == contextEnvironment || pairs[1].key == contextRef || pairs[1].key == contextPullRequest)
	if !standard {
		s.Customized = true
		fillRepoFromCustomKeys(s, pairs)
	}
	return s, nil
}

type subjectPair struct{ key, value string }

// subjectPairs splits sub into key/value pairs. Values never contain ':'
// (GitHub encodes it), so the split is unambiguous; "pull_request" is the one
// key that carries no value.
func subjectPairs(sub string) ([]subjectPair, error) {
	parts := strings.Split(sub, ":")
	var pairs []subjectPair
	for i := 0; i < len(parts); {
		key := parts[i]
		if key == "" {
			return nil, fmt.Errorf("empty key at field %d", i+1)
		}
		if key == contextPullRequest {
			pairs = append(pairs, subjectPair{key: key})
			i++
			continue
		}
		if i+1 >= len(parts) {
			return nil, fmt.Errorf("key %q has no value", key)
		}
		pairs = append(pairs, subjectPair{key: key, value: decodeSubjectValue(parts[i+1])})
		i += 2
	}
	return pairs, nil
}

// decodeSubjectValue undoes GitHub's only escape: ':' as "%3A". Nothing else
// is unescaped, so a literal "%41" stays as sent.
func decodeSubjectValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	return strings.NewReplacer("%3A", ":", "%3a", ":").Replace(v)
}

// setRepo parses "OWNER/REPO" or "OWNER@ID/REPO@ID". GitHub logins and
// repository names cannot contain '@', so '@' marks the immutable form; both
// halves must carry an id, or the subject is malformed.
func (s *Subject) setRepo(v string) error {
	owner, repo, ok := strings.Cut(v, "/")
	if !ok || strings.Contains(repo, "/") {
		return fmt.Errorf("repo %q: expected OWNER/REPO", v)
	}
	ownerName, ownerID, ownerImm, err := splitImmutable(owner)
	if err != nil {
		return fmt.Errorf("repo %q: owner: %w", v, err)
	}
	repoName, repoID, repoImm, err := splitImmutable(repo)
	if err != nil {
		return fmt.Errorf("repo %q: repository: %w", v, err)
	}
	if ownerImm != repoImm {
		return fmt.Errorf("repo %q: expected ids on both owner and repository or on neither", v)
	}
	s.Owner, s.OwnerID, s.Repo, s.RepoID, s.Immutable = ownerName, ownerID, repoName, repoID, ownerImm
	return nil
}

func splitImmutable(v string) (name, id string, immutable bool, err error) {
	name, id, immutable = strings.Cut(v, "@")
	if name == "" {
		return "", "", false, errors.New("empty name")
	}
	if strings.ContainsAny(name, ":@ \t\r\n") {
		return "", "", false, fmt.Errorf("invalid name %q", name)
	}
	if immutable && !isDigits(id) {
		return "", "", false, fmt.Errorf("id %q: expected digits", id)
	}
	return name, id, immutable, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// fillRepoFromCustomKeys uses claim keys a customised template may include
// when "repo" itself was not one of them. Best effort: a malformed value is
// left out rather than guessed at.
func fillRepoFromCustomKeys(s *Subject, pairs []subjectPair) {
	for _, p := range pairs {
		switch p.key {
		case "repository":
			if s.Repo == "" {
				if owner, repo, ok := strings.Cut(p.value, "/"); ok && owner != "" && repo != "" && !strings.Contains(repo, "/") {
					if s.Owner == "" {
						s.Owner = owner
					}
					s.Repo = repo
				}
			}
		case "repository_owner":
			if s.Owner == "" {
				s.Owner = p.value
			}
		case "repository_owner_id":
			if s.OwnerID == "" && isDigits(p.value) {
				s.OwnerID = p.value
			}
		case "repository_id":
			if s.RepoID == "" && isDigits(p.value) {
				s.RepoID = p.value
			}
		}
	}
}
