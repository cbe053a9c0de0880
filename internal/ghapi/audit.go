package ghapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// What an auditor reads: release assets' bytes and the attestation store.
// Both are untrusted bytes for the caller to verify; nothing here judges them.

// MaxAssetBytes caps one downloaded release asset. The auditor's path reads
// Sigstore bundles and trusted roots, which are far smaller.
const MaxAssetBytes = 16 << 20

// downloadClient follows GitHub's redirect from the asset API to its storage
// host (a signed URL on another origin) without the token or any other
// credential header; a downgrade to plain http is refused unless the target
// is loopback.
func (c *Client) downloadClient() *http.Client {
	return httpx.Harden(c.hc, httpx.CrossOriginWithoutCredentials)
}

// DownloadReleaseAsset returns the content of a release asset, at most
// MaxAssetBytes.
func (c *Client) DownloadReleaseAsset(ctx context.Context, owner, repo string, assetID int64) ([]byte, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("release asset %d of %s/%s", assetID, owner, repo), permission: "contents: read",
		method: http.MethodGet, download: true, maxBody: MaxAssetBytes}
	return c.send(ctx, o, func() (*http.Request, error) {
		req, err := c.gh.NewRequest(http.MethodGet, p+"/releases/assets/"+strconv.FormatInt(assetID, 10), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/octet-stream")
		return req, nil
	}, nil)
}

// Attestation is one record of GitHub's attestation store. Its bundle is
// untrusted bytes for the caller to verify.
type Attestation struct {
	// Bundle is the Sigstore bundle JSON: inline in the list, or fetched
	// from the record's bundle_url and decompressed. Nil when Err is set.
	Bundle json.RawMessage
	// Err says why this record's bundle could not be read from its
	// bundle_url: a URL airlock does not fetch from, a body that is not a
	// snappy-compressed JSON bundle, one over the size cap. Only this record
	// failed; the caller must count it as a failed bundle, never skip it.
	Err error
}

// Attestations returns the records GitHub's attestation store holds for
// subjectDigest ("sha256:HEX") in a repository, in GitHub's order. GitHub
// answers 404 both when there are none and when the repository is unknown
// or hidden from the token: the caller gets a *NotFoundError either way.
//
// A record may come without an inline bundle and only a bundle_url: a
// pre-signed blob storage URL whose body is the bundle in Snappy block
// format. Those are fetched (a few at a time) without the token and
// decoded; see Attestation.Err for what fails only the record. A URL that
// cannot be fetched (network, 4xx such as an expired signature, 5xx after
// retries) is an operational error: the store's answer is then incomplete.
func (c *Client) Attestations(ctx context.Context, owner, repo, subjectDigest string) ([]Attestation, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	d, err := segment("subject digest", subjectDigest)
	if err != nil {
		return nil, err
	}
	o := op{resource: fmt.Sprintf("attestations of %s in %s/%s", subjectDigest, owner, repo), permission: "attestations: read"}
	ref := p + "/attestations/" + d + "?per_page=100"
	out := []Attestation{}
	var blobs []blobJob
	for page := 1; page <= maxPages; page++ {
		body, hdr, err := c.getCapped(ctx, o, ref)
		if err != nil && page > 1 && IsNotFound(err) {
			// "None" is page 1's answer. A later page that vanishes
			// leaves the list incomplete, and the records already read
			// must not be dropped as if there were none.
			return nil, fault.Operationalf("get %s: page %d: %v", o.resource, page, err)
		}
		if err != nil {
			return nil, err
		}
		var w struct {
			Attestations *[]struct {
				Bundle    json.RawMessage `json:"bundle"`
				BundleURL string          `json:"bundle_url"`
			} `json:"attestations"`
		}
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fault.Operationalf("get %s: page %d: decode: %w", o.resource, page, err)
		}
		if w.Attestations == nil {
			return nil, fault.Operational(fmt.Errorf("get %s: page %d: expected an attestations array", o.resource, page))
		}
		for _, a := range *w.Attestations {
			n := len(out) + 1
			if b := bytes.TrimSpace(a.Bundle); len(b) > 0 && string(b) != "null" {
				out = append(out, Attestation{Bundle: append(json.RawMessage(nil), a.Bundle...)})
				continue
			}
			if a.BundleURL == "" {
				// Skipping it would hide a record.
				return nil, fault.Operational(fmt.Errorf("get %s: attestation #%d has neither a bundle nor a bundle_url", o.resource, n))
			}
			out = append(out, Attestation{})
			blobs = append(blobs, blobJob{index: n - 1, raw: a.BundleURL})
		}
		next, err := c.nextLink(hdr)
		if err != nil {
			return nil, fault.Operational(fmt.Errorf("get %s: %w", o.resource, err))
		}
		if next == "" {
			if err := c.fetchBlobs(ctx, fmt.Sprintf("%s in %s/%s", subjectDigest, owner, repo), out, blobs); err != nil {
				return nil, err
			}
			return out, nil
		}
		ref = next
	}
	return nil, fault.Operational(fmt.Errorf("get %s: more than %d pages", o.resource, maxPages))
}

// getCapped is get with the asset cap: a page of attestations carries whole
// bundles and can outgrow the default 1 MiB.
func (c *Client) getCapped(ctx context.Context, o op, ref string) ([]byte, http.Header, error) {
	if c.maxBody >= MaxAssetBytes {
		return c.get(ctx, o, ref)
	}
	cp := *c
	cp.maxBody = MaxAssetBytes
	return cp.get(ctx, o, ref)
}

// IsNotFound reports whether err is GitHub's 404.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
