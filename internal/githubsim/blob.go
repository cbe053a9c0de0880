package githubsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GitHub's attestation store hands out bundles by bundle_url: a pre-signed
// URL on Azure blob storage ("…/attestations/REPO_ID/…/ID.json.sn?se=…&sig=…")
// whose body is the bundle in Snappy block format. The simulator serves such
// blobs itself, on its own listener, with a shared-access-signature-shaped
// query that it checks (a URL signed for one blob does not open another, and
// one past its "se" expiry is refused as Azure does). No token is needed or
// wanted: the request log's HasAuth shows whether a client sent one anyway.
//
// Faults on RouteAttestationBlob model what blob storage can do:
// Fault{Status: 403} an expired or revoked signature, Fault{Body: …} a blob
// that is not Snappy (a corrupt upload), Fault{Status: 503} a transient outage.

const (
	blobPrefix = "/blobs/attestations"
	// blobLifetime is how long a bundle_url stays valid; GitHub's are
	// signed for about a day.
	blobLifetime = time.Hour
)

func (s *Server) registerBlobs() {
	s.handleSpecial(RouteAttestationBlob, "GET "+blobPrefix+"/{repository_id}/{blob}", authNone, s.getAttestationBlob)
}

// AddAttestation stores an attestation as if it had been posted, and
// returns its id (a.ID is assigned).
func (s *Server) AddAttestation(owner, repo string, a Attestation) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(owner, repo)
	rs := s.releasesLocked(owner, repo)
	a.ID = int64(len(rs.attestation) + 1)
	a.Bundle = append([]byte(nil), a.Bundle...)
	rs.attestation = append(rs.attestation, a)
	return a.ID
}

// SetAttestationsByURL makes the list of a repository's attestations carry
// every bundle only by bundle_url (no "bundle" key), as GitHub does for
// newer records, including those posted later; false restores inline
// bundles for those not added with Attestation.ByURL.
func (s *Server) SetAttestationsByURL(owner, repo string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releasesLocked(owner, repo).byURL = on
}

// blobSig is the signature of one blob path until expiry.
func (s *Server) blobSig(path, expiry string) string {
	m := hmac.New(sha256.New, s.blobKey)
	m.Write([]byte(path + "\n" + expiry))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// attestationBlobURL is the pre-signed URL of an attestation's blob, in the
// shape of GitHub's (Azure SAS query parameters).
func (s *Server) attestationBlobURL(repoID, id int64) string {
	// Signed per minute: within a minute the list of attestations is the
	// same bytes, so a conditional request can be answered 304.
	now := s.cfg.now().UTC().Truncate(time.Minute)
	path := fmt.Sprintf("%s/%d/%d.json.sn", blobPrefix, repoID, id)
	se := now.Add(blobLifetime).Format(time.RFC3339)
	q := url.Values{
		"se": {se}, "sig": {s.blobSig(path, se)}, "sp": {"r"}, "spr": {"https,http"}, "sr": {"b"},
		"st": {now.Format(time.RFC3339)}, "sv": {"2024-08-04"},
	}
	return s.url + path + "?" + q.Encode()
}

// blobError answers as Azure blob storage does: an XML error body and the
// code in x-ms-error-code.
func blobError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Ms-Error-Code", code)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func (s *Server) getAttestationBlob(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	se, err := time.Parse(time.RFC3339, q.Get("se"))
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(s.blobSig(r.URL.Path, q.Get("se")))) {
		blobError(w, http.StatusForbidden, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
		return
	}
	if !s.cfg.now().Before(se) {
		blobError(w, http.StatusForbidden, "AuthenticationFailed", "Signed expiry time must be after the current time.")
		return
	}
	repoID, err1 := strconv.ParseInt(r.PathValue("repository_id"), 10, 64)
	idText, ok := strings.CutSuffix(r.PathValue("blob"), ".json.sn")
	id, err2 := strconv.ParseInt(idText, 10, 64)
	if err1 != nil || err2 != nil || !ok {
		blobError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	var bundle []byte
	s.mu.Lock()
	for k, st := range s.repos {
		if st.repo.ID != repoID {
			continue
		}
		if rs := s.releases[k]; rs != nil {
			for _, a := range rs.attestation {
				if a.ID == id {
					bundle = a.Bundle
				}
			}
		}
	}
	s.mu.Unlock()
	if bundle == nil {
		blobError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	body := snappyLiterals(bundle)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// snappyLiterals encodes data as one Snappy block of literals only: valid
// Snappy that any decoder reads (no compression, which the simulator does not
// need). Back-references are exercised by ghapi's decoder tests against a
// real encoder; keeping the encoder here small keeps a compression library
// out of the airlock binary, which links the simulator for `airlock demo`.
func snappyLiterals(data []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(data)))
	for len(data) > 0 {
		n := min(len(data), 1<<16)
		// Tag 61<<2: the literal's length-1 follows in two bytes.
		out = append(out, 61<<2, byte(n-1), byte((n-1)>>8))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}
