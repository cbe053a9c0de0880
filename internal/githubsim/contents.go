package githubsim

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

func fileKey(owner, repo, ref, path string) string {
	return strings.ToLower(owner+"/"+repo) + "@" + ref + ":" + strings.TrimPrefix(path, "/")
}

// SetFile stores a file of owner/repo as it is at ref (a commit SHA or a
// branch name); the contents API serves it only for that exact ref.
func (s *Server) SetFile(owner, repo, ref, path string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string][]byte{}
	}
	s.files[fileKey(owner, repo, ref, path)] = append([]byte(nil), content...)
}

// getContent serves GET /repos/{owner}/{repo}/contents/{path}?ref=REF for
// files (GitHub's "content-file" shape, base64 encoded).
func (s *Server) getContent(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.lookupRepo(r); !ok {
		notFound(w)
		return
	}
	path := r.PathValue("path")
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		rs, _ := s.lookupRepo(r)
		ref = rs.repo.DefaultBranch
	}
	s.mu.Lock()
	b, ok := s.files[fileKey(r.PathValue("owner"), r.PathValue("repo"), ref, path)]
	s.mu.Unlock()
	if !ok {
		notFound(w)
		return
	}
	name := path[strings.LastIndex(path, "/")+1:]
	writeJSON(w, http.StatusOK, map[string]any{
		"type":     "file",
		"encoding": "base64",
		"size":     len(b),
		"name":     name,
		"path":     path,
		"content":  base64.StdEncoding.EncodeToString(b),
		"sha":      nodeID("blob", int64(len(b))),
		"url":      s.APIURL() + r.URL.Path,
	})
}

// getRateLimit answers GET /rate_limit for any token the simulator knows
// (unknown tokens were already refused with 401 "Bad credentials"): the
// cheapest call that tells whether a token is alive.
func (s *Server) getRateLimit(w http.ResponseWriter, r *http.Request) {
	core := map[string]any{"limit": s.cfg.rateLimit, "remaining": s.cfg.rateLimit, "reset": s.cfg.now().Add(time.Hour).Unix(), "used": 0}
	writeJSON(w, http.StatusOK, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
}
