package githubsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// uploadsPrefix is where GHES serves release asset uploads (GitHub.com uses
// the host uploads.github.com).
const uploadsPrefix = "/api/uploads"

// Release is a release of a repository.
type Release struct {
	ID   int64 // 0: derived from the tag
	Tag  string
	Name string
	// Draft releases are not found by tag (GitHub answers 404), only listed.
	Draft      bool
	Prerelease bool
	// Immutable: a published release whose assets cannot change.
	Immutable   bool
	CreatedAt   time.Time
	PublishedAt time.Time // zero for drafts
}

// Asset is a release asset with its content.
type Asset struct {
	ID          int64
	Name        string
	Label       string
	ContentType string
	Data        []byte
	Uploader    User
	CreatedAt   time.Time
	// NoDigest answers "digest": null, as GHES and GitHub before mid-2025 do.
	NoDigest bool
	// ReportedDigest, when set, is served as the digest instead of the
	// content's: a GitHub that reports something malformed or wrong.
	ReportedDigest string
}

// Digest is "sha256:HEX" of the content, as GitHub computes it.
func (a Asset) Digest() string {
	sum := sha256.Sum256(a.Data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Attestation is what POST /repos/{owner}/{repo}/attestations stored.
type Attestation struct {
	ID     int64
	Bundle json.RawMessage
	// ByURL lists it without an inline bundle, only by its bundle_url (see
	// blob.go), as GitHub lists newer records.
	ByURL bool
}

type releaseState struct {
	releases    map[int64]*Release
	assets      map[int64][]Asset // by release id
	attestation []Attestation
	byURL       bool // every attestation only by bundle_url
}

func (s *Server) registerReleases() {
	s.restPair("GET /repos/{owner}/{repo}/releases/{a}/{b}",
		restRoute("GET /repos/{owner}/{repo}/releases/tags/{tag}", "repos/get-release-by-tag", "contents:read", s.getReleaseByTag),
		restRoute("GET /repos/{owner}/{repo}/releases/{release_id}/assets", "repos/list-release-assets", "contents:read", s.listReleaseAssets),
		restRoute("GET /repos/{owner}/{repo}/releases/assets/{asset_id}", "repos/get-release-asset", "contents:read", s.getReleaseAsset))
	s.rest("GET /repos/{owner}/{repo}/releases", "repos/list-releases", "contents:read", s.listReleases)
	s.rest("DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}", "repos/delete-release-asset", "contents:write", s.deleteReleaseAsset)
	s.upload("POST /repos/{owner}/{repo}/releases/{release_id}/assets", "repos/upload-release-asset", "contents:write", s.uploadReleaseAsset)
	s.rest("POST /repos/{owner}/{repo}/attestations", "repos/create-attestation", "attestations:write", s.createAttestation)
	s.rest("GET /repos/{owner}/{repo}/attestations/{subject_digest}", "repos/list-attestations", "attestations:read", s.listAttestations)
}

func restRoute(pattern, operationID, permission string, h http.HandlerFunc) *route {
	method, path, _ := strings.Cut(pattern, " ")
	return &route{RouteInfo: RouteInfo{Name: pattern, Method: method, Path: path, OperationID: operationID, Permission: permission}, auth: authREST, h: h}
}

// restPair serves two GitHub routes that Go's ServeMux sees as conflicting
// (releases/tags/{tag} and releases/{release_id}/assets both match
// releases/tags/assets) through one pattern, dispatching as GitHub does:
// "tags" is never a release id.
func (s *Server) restPair(shared string, byTag, byID, asset *route) {
	method, path, _ := strings.Cut(shared, " ")
	pattern := method + " " + apiPrefix + path
	for _, rt := range []*route{byTag, byID, asset} {
		if _, dup := s.byName[rt.Name]; dup {
			panic("githubsim: duplicate route " + rt.Name)
		}
		s.byName[rt.Name] = rt
	}
	s.routes[pattern] = byID
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		a, b := r.PathValue("a"), r.PathValue("b")
		switch {
		case a == "tags":
			r.SetPathValue("tag", b)
			s.serveRoute(w, r, byTag)
		case a == "assets":
			r.SetPathValue("asset_id", b)
			s.serveRoute(w, r, asset)
		case b == "assets":
			r.SetPathValue("release_id", a)
			s.serveRoute(w, r, byID)
		default:
			writeError(w, http.StatusNotImplemented, "githubsim: no route for "+r.Method+" "+r.URL.Path, "")
		}
	})
}

// upload registers a route of the uploads API (below UploadURL()).
func (s *Server) upload(pattern, operationID, permission string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	rt := &route{RouteInfo: RouteInfo{Name: pattern, Method: method, Path: path, OperationID: operationID, Permission: permission}, auth: authREST, h: h}
	s.register(method+" "+uploadsPrefix+path, rt)
}

// UploadURL is the base of the uploads API, in the GHES layout.
func (s *Server) UploadURL() string { return s.url + uploadsPrefix }

func (s *Server) releasesLocked(owner, repo string) *releaseState {
	if s.releases == nil {
		s.releases = map[string]*releaseState{}
	}
	k := repoKey(owner, repo)
	if s.releases[k] == nil {
		s.releases[k] = &releaseState{releases: map[int64]*Release{}, assets: map[int64][]Asset{}}
	}
	return s.releases[k]
}

// AddRelease adds or replaces a release and returns its id.
func (s *Server) AddRelease(owner, repo string, r Release) int64 {
	if r.ID == 0 {
		r.ID = stableID("release", owner, repo, r.Tag)
	}
	if r.Name == "" {
		r.Name = r.Tag
	}
	now := s.cfg.now().UTC().Truncate(time.Second)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	if !r.Draft && r.PublishedAt.IsZero() {
		r.PublishedAt = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(owner, repo)
	rs := s.releasesLocked(owner, repo)
	rs.releases[r.ID] = &r
	return r.ID
}

// AddReleaseAsset attaches an asset to a release (as someone else's upload).
func (s *Server) AddReleaseAsset(owner, repo string, releaseID int64, a Asset) Asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addAssetLocked(owner, repo, releaseID, a)
}

func (s *Server) addAssetLocked(owner, repo string, releaseID int64, a Asset) Asset {
	rs := s.releasesLocked(owner, repo)
	if a.ID == 0 {
		a.ID = stableID("asset", owner, repo, strconv.FormatInt(releaseID, 10), a.Name, strconv.Itoa(len(rs.assets[releaseID])), strconv.FormatInt(s.cfg.now().UnixNano(), 10))
	}
	if a.ContentType == "" {
		a.ContentType = "application/octet-stream"
	}
	if a.Uploader.Login == "" {
		a.Uploader = User{Login: "github-actions[bot]", ID: 41898282}
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.cfg.now().UTC().Truncate(time.Second)
	}
	a.Data = append([]byte(nil), a.Data...)
	rs.assets[releaseID] = append(rs.assets[releaseID], a)
	return a
}

// ReleaseAssets returns copies of a release's assets.
func (s *Server) ReleaseAssets(owner, repo string, releaseID int64) []Asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.releasesLocked(owner, repo)
	out := make([]Asset, 0, len(rs.assets[releaseID]))
	for _, a := range rs.assets[releaseID] {
		a.Data = append([]byte(nil), a.Data...)
		out = append(out, a)
	}
	return out
}

// Attestations returns what was posted to the attestations API.
func (s *Server) Attestations(owner, repo string) []Attestation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attestation(nil), s.releasesLocked(owner, repo).attestation...)
}

func (s *Server) releaseJSON(owner, repo string, r *Release, assets []Asset) map[string]any {
	full := url.PathEscape(owner) + "/" + url.PathEscape(repo)
	api := s.APIURL() + "/repos/" + full + "/releases/" + strconv.FormatInt(r.ID, 10)
	as := make([]any, 0, len(assets))
	for _, a := range assets {
		as = append(as, s.assetJSON(owner, repo, r, a))
	}
	var published any
	if !r.PublishedAt.IsZero() {
		published = ghTime(r.PublishedAt)
	}
	return map[string]any{
		"url":              api,
		"html_url":         s.URL() + "/" + full + "/releases/tag/" + url.PathEscape(r.Tag),
		"assets_url":       api + "/assets",
		"upload_url":       s.UploadURL() + "/repos/" + full + "/releases/" + strconv.FormatInt(r.ID, 10) + "/assets{?name,label}",
		"tarball_url":      s.APIURL() + "/repos/" + full + "/tarball/" + url.PathEscape(r.Tag),
		"zipball_url":      s.APIURL() + "/repos/" + full + "/zipball/" + url.PathEscape(r.Tag),
		"id":               r.ID,
		"node_id":          nodeID("07:Release", r.ID),
		"tag_name":         r.Tag,
		"target_commitish": "main",
		"name":             r.Name,
		"body":             "",
		"draft":            r.Draft,
		"prerelease":       r.Prerelease,
		"immutable":        r.Immutable,
		"created_at":       ghTime(r.CreatedAt),
		"published_at":     published,
		"author":           s.userJSON(DefaultActor, DefaultActorID, "User"),
		"assets":           as,
	}
}

func (s *Server) assetJSON(owner, repo string, r *Release, a Asset) map[string]any {
	full := url.PathEscape(owner) + "/" + url.PathEscape(repo)
	var label any
	if a.Label != "" {
		label = a.Label
	}
	var digest any = a.Digest()
	switch {
	case a.NoDigest:
		digest = nil
	case a.ReportedDigest != "":
		digest = a.ReportedDigest
	}
	return map[string]any{
		"url":                  s.APIURL() + "/repos/" + full + "/releases/assets/" + strconv.FormatInt(a.ID, 10),
		"browser_download_url": s.URL() + "/" + full + "/releases/download/" + url.PathEscape(r.Tag) + "/" + url.PathEscape(a.Name),
		"id":                   a.ID,
		"node_id":              nodeID("012:ReleaseAsset", a.ID),
		"name":                 a.Name,
		"label":                label,
		"state":                "uploaded",
		"content_type":         a.ContentType,
		"size":                 len(a.Data),
		"digest":               digest,
		"download_count":       0,
		"created_at":           ghTime(a.CreatedAt),
		"updated_at":           ghTime(a.CreatedAt),
		"uploader":             s.userJSON(a.Uploader.Login, a.Uploader.ID, "Bot"),
	}
}

// releaseSnapshot returns a copy of a release and its assets.
func (s *Server) releaseSnapshot(owner, repo string, pick func(*Release) bool) (*Release, []Asset, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[repoKey(owner, repo)] == nil {
		return nil, nil, false
	}
	rs := s.releasesLocked(owner, repo)
	for _, id := range sortedReleaseIDs(rs) {
		if r := rs.releases[id]; pick(r) {
			cp := *r
			return &cp, append([]Asset(nil), rs.assets[id]...), true
		}
	}
	return nil, nil, false
}

func sortedReleaseIDs(rs *releaseState) []int64 {
	ids := make([]int64, 0, len(rs.releases))
	for id := range rs.releases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	return ids
}

func (s *Server) getReleaseByTag(w http.ResponseWriter, r *http.Request) {
	owner, repo, tag := r.PathValue("owner"), r.PathValue("repo"), r.PathValue("tag")
	rel, assets, ok := s.releaseSnapshot(owner, repo, func(x *Release) bool { return x.Tag == tag && !x.Draft })
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(owner, repo, rel, assets))
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	s.mu.Lock()
	if s.repos[repoKey(owner, repo)] == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	rs := s.releasesLocked(owner, repo)
	type pair struct {
		r Release
		a []Asset
	}
	var all []pair
	for _, id := range sortedReleaseIDs(rs) {
		if rs.releases[id].Draft && isAnonymous(r) {
			continue // GitHub shows drafts only to those who may push
		}
		all = append(all, pair{*rs.releases[id], append([]Asset(nil), rs.assets[id]...)})
	}
	s.mu.Unlock()
	lo, hi := s.paginate(w, r, len(all))
	out := make([]any, 0, hi-lo)
	for _, p := range all[lo:hi] {
		out = append(out, s.releaseJSON(owner, repo, &p.r, p.a))
	}
	writeJSON(w, http.StatusOK, out)
}

func releaseID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("release_id"), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) listReleaseAssets(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	id, ok := releaseID(r)
	if !ok {
		notFound(w)
		return
	}
	rel, assets, ok := s.releaseSnapshot(owner, repo, func(x *Release) bool { return x.ID == id && !(x.Draft && isAnonymous(r)) })
	if !ok {
		notFound(w)
		return
	}
	lo, hi := s.paginate(w, r, len(assets))
	out := make([]any, 0, hi-lo)
	for _, a := range assets[lo:hi] {
		out = append(out, s.assetJSON(owner, repo, rel, a))
	}
	writeJSON(w, http.StatusOK, out)
}

// getReleaseAsset answers with the asset's metadata, or its content when
// asked for application/octet-stream (GitHub redirects to its storage host;
// the simulator serves the bytes itself).
func (s *Server) getReleaseAsset(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	id, err := strconv.ParseInt(r.PathValue("asset_id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	s.mu.Lock()
	var rel Release
	var found *Asset
	if s.repos[repoKey(owner, repo)] != nil {
		rs := s.releasesLocked(owner, repo)
		for rid, as := range rs.assets {
			for i := range as {
				if as[i].ID == id && !(rs.releases[rid].Draft && isAnonymous(r)) {
					a := as[i]
					found, rel = &a, *rs.releases[rid]
				}
			}
		}
	}
	s.mu.Unlock()
	if found == nil {
		notFound(w)
		return
	}
	if r.Header.Get("Accept") == "application/octet-stream" {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(found.Data)
		return
	}
	writeJSON(w, http.StatusOK, s.assetJSON(owner, repo, &rel, *found))
}

func (s *Server) uploadReleaseAsset(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	id, ok := releaseID(r)
	if !ok {
		notFound(w)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: name is required", "")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body", "")
		return
	}
	s.mu.Lock()
	rs := s.releasesLocked(owner, repo)
	rel := rs.releases[id]
	if rel == nil || s.repos[repoKey(owner, repo)] == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	if rel.Immutable && !rel.Draft {
		s.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, "Cannot upload assets to an immutable release.", "")
		return
	}
	for _, a := range rs.assets[id] {
		if a.Name == name {
			s.mu.Unlock()
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
				"message": "Validation Failed", "documentation_url": docURL, "status": "422",
				"errors": []any{map[string]any{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}},
			})
			return
		}
	}
	a := s.addAssetLocked(owner, repo, id, Asset{Name: name, Label: r.URL.Query().Get("label"), ContentType: r.Header.Get("Content-Type"), Data: data})
	relCopy := *rel
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, s.assetJSON(owner, repo, &relCopy, a))
}

func (s *Server) deleteReleaseAsset(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	id, err := strconv.ParseInt(r.PathValue("asset_id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.releasesLocked(owner, repo)
	for relID, as := range rs.assets {
		for i, a := range as {
			if a.ID != id {
				continue
			}
			if rel := rs.releases[relID]; rel != nil && rel.Immutable && !rel.Draft {
				writeError(w, http.StatusUnprocessableEntity, "Cannot delete assets of an immutable release.", "")
				return
			}
			rs.assets[relID] = append(as[:i:i], as[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	notFound(w)
}

func (s *Server) createAttestation(w http.ResponseWriter, r *http.Request) {
	owner, repo := r.PathValue("owner"), r.PathValue("repo")
	var req struct {
		Bundle json.RawMessage `json:"bundle"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&req); err != nil || len(req.Bundle) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: bundle is required", "")
		return
	}
	var b struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(req.Bundle, &b) != nil || !strings.HasPrefix(b.MediaType, "application/vnd.dev.sigstore.bundle") {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: bundle is not a Sigstore bundle", "")
		return
	}
	s.mu.Lock()
	if s.repos[repoKey(owner, repo)] == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	rs := s.releasesLocked(owner, repo)
	id := int64(len(rs.attestation) + 1)
	rs.attestation = append(rs.attestation, Attestation{ID: id, Bundle: append(json.RawMessage(nil), req.Bundle...)})
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": id})
}

// subjectDigests reads the "alg:hex" digests of a bundle's in-toto subjects.
func subjectDigests(bundle []byte) []string {
	var b struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if json.Unmarshal(bundle, &b) != nil {
		return nil
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSE.Payload)
	if err != nil {
		return nil
	}
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return nil
	}
	var out []string
	for _, s := range st.Subject {
		for alg, v := range s.Digest {
			out = append(out, alg+":"+v)
		}
	}
	return out
}

func (s *Server) listAttestations(w http.ResponseWriter, r *http.Request) {
	owner, repo, digest := r.PathValue("owner"), r.PathValue("repo"), r.PathValue("subject_digest")
	s.mu.Lock()
	known := s.repos[repoKey(owner, repo)]
	var repoID int64
	if known != nil {
		repoID = known.repo.ID
	}
	rs := s.releasesLocked(owner, repo)
	atts, byURL := append([]Attestation(nil), rs.attestation...), rs.byURL
	s.mu.Unlock()
	if known == nil {
		notFound(w)
		return
	}
	out := []any{}
	for _, a := range atts {
		for _, d := range s.subjectDigestsOf(owner, repo, a) {
			if d == digest {
				rec := map[string]any{
					"repository_id": repoID, "initiator": "workflow",
					"bundle_url": s.attestationBlobURL(repoID, a.ID),
				}
				if !a.ByURL && !byURL {
					rec["bundle"] = a.Bundle
				}
				out = append(out, rec)
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"attestations": out})
}
