package ghapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/airlock-dev/airlock/internal/endpoint"
	"github.com/airlock-dev/airlock/internal/fault"
)

// What an auditor reads: release assets' bytes and the attestation store.
// Both are untrusted bytes for the caller to verify; nothing here judges them.

// MaxAssetBytes caps one downloaded release asset. The auditor's path reads
// Sigstore bundles and trusted roots, which are far smaller.
const MaxAssetBytes = 16 << 20

// downloadClient follows GitHub's redirect from the asset API to its storage
// host (a signed URL on another origin) without the token; a downgrade to
// plain http is refused unless the target is loopback.
func (c *Client) downloadClient() *http.Client {
	own := *c.hc
	own.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		first := via[0].URL
		if req.URL.Scheme == first.Scheme && req.URL.Host == first.Host {
			return nil
		}
		if req.URL.Scheme != "https" && !(req.URL.Scheme == "http" && endpoint.IsLoopback(req.URL.Hostname())) {
			return fmt.Errorf("%w: from %s://%s to %s://%s", errRedirectRefused, first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
		}
		req.Header.Del("Authorization")
		return nil
	}
	return &own
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

// Attestations returns the Sigstore bundles GitHub's attestation store holds
// for subjectDigest ("sha256:HEX") in a repository. GitHub answers 404 both
// when there are none and when the repository is unknown or hidden from the
// token: the caller gets a *NotFoundError either way.
func (c *Client) Attestations(ctx context.Context, owner, repo, subjectDigest string) ([]json.RawMessage, error) {
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
	out := []json.RawMessage{}
	for page := 1; page <= maxPages; page++ {
		body, hdr, err := c.getCapped(ctx, o, ref)
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
		for i, a := range *w.Attestations {
			if b := bytes.TrimSpace(a.Bundle); len(b) == 0 || string(b) == "null" {
				// Newer GitHub may hand only a URL to blob storage; fetching
				// it is not implemented, and skipping it would hide a record.
				return nil, fault.Operational(fmt.Errorf("get %s: page %d: attestation %d has no inline bundle (bundle_url %q is not fetched)",
					o.resource, page, i, truncate(a.BundleURL, 200)))
			}
			out = append(out, append(json.RawMessage(nil), a.Bundle...))
		}
		next, err := c.nextLink(hdr)
		if err != nil {
			return nil, fault.Operational(fmt.Errorf("get %s: %w", o.resource, err))
		}
		if next == "" {
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
