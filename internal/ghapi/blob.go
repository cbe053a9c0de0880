package ghapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// Attestation bundles that GitHub hands out only by bundle_url: a pre-signed
// URL on its blob storage (Azure, "….json.sn?se=…&sig=…") whose body is the
// bundle JSON in Snappy block format, as gh's attestation client reads it.
//
// The URL's query is a shared-access signature, itself a credential: it goes
// to the URL's host and nowhere else, never into an error or a log. The
// GitHub token never goes to blob storage: the request is built here without
// go-github and without authorize, through a client that carries no cookie
// jar and follows redirects only to https (or loopback).

// maxBlobWorkers bounds concurrent blob downloads per Attestations call.
const maxBlobWorkers = 4

// MaxAttestationBundleBytes caps a bundle fetched from a bundle_url, both
// as downloaded and once decompressed: the cap an inline bundle has
// (MaxAssetBytes, and verify.MaxBundleBytes downstream).
const MaxAttestationBundleBytes = MaxAssetBytes

// blobJob is a record of the list that must be fetched: its index in the
// result and its bundle_url as GitHub sent it.
type blobJob struct {
	index int
	raw   string
}

// blobClient is the injected client without credentials: no cookie jar,
// and redirects only to https or loopback with every credential header
// dropped (none is set; this keeps it so whatever the redirect). A refused
// redirect (httpx.ErrRedirectRefused) is a fault of the record, like such a
// bundle_url.
func (c *Client) blobClient() *http.Client {
	return httpx.Harden(c.hc, httpx.CrossOriginWithoutCredentials)
}

// blobURL checks where a bundle_url points. Its errors name the host only:
// the query is a signature.
func blobURL(kind string, u *url.URL) (host string, err error) {
	host = truncate(u.Host, 100)
	if err := httpx.CheckURL(u); err != nil {
		return host, fmt.Errorf("%s: %w", kind, err)
	}
	return host, nil
}

// fetchBlobs fills out[j.index] for every job, a few at a time; subject
// names the list in errors ("sha256:HEX in OWNER/REPO"). The first
// operational error cancels the rest and is returned.
func (c *Client) fetchBlobs(ctx context.Context, subject string, out []Attestation, jobs []blobJob) error {
	if len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hc := c.blobClient()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	done := make([]bool, len(jobs))
	feed := make(chan int)
	for range min(maxBlobWorkers, len(jobs)) {
		wg.Go(func() {
			for k := range feed {
				a, err := c.fetchBlob(ctx, hc, subject, jobs[k])
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
						cancel()
					}
				} else {
					out[jobs[k].index], done[k] = a, true
				}
				mu.Unlock()
			}
		})
	}
feeding:
	for k := range jobs {
		select {
		case feed <- k:
		case <-ctx.Done():
			break feeding
		}
	}
	close(feed)
	wg.Wait()
	if first != nil {
		return first
	}
	for k, ok := range done {
		if !ok { // the caller's ctx ended before this one was fetched
			return fault.Operationalf("get attestation #%d of %s: %w", jobs[k].index+1, subject, context.Cause(ctx))
		}
	}
	return nil
}

// fetchBlob downloads and decodes one bundle_url with bounded retries. A
// record that is bad in itself comes back as Attestation.Err; what stops
// airlock from reading it at all is the error.
func (c *Client) fetchBlob(ctx context.Context, hc *http.Client, subject string, j blobJob) (Attestation, error) {
	what := fmt.Sprintf("attestation #%d of %s", j.index+1, subject)
	u, err := url.Parse(j.raw)
	if err != nil { // url.Parse's error quotes the URL, signature included
		return Attestation{Err: fmt.Errorf("%s: bundle_url is not a URL", what)}, nil
	}
	host, err := blobURL("bundle_url", u)
	if err != nil {
		return Attestation{Err: fmt.Errorf("%s: %w", what, err)}, nil
	}
	what += fmt.Sprintf(": bundle_url on host %q", host)
	var body []byte
	var bad error
	err = c.retry().Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		body, wait, bad, err = c.blobOnce(ctx, hc, u, what)
		if bad != nil {
			return httpx.Final, nil
		}
		return wait, err
	})
	switch {
	case bad != nil:
		return Attestation{Err: bad}, nil
	case err != nil:
		return Attestation{}, gaveUp(err)
	}
	return decodeBlob(what, body), nil
}

// blobOnce makes one request. bad is a fault of the record itself.
func (c *Client) blobOnce(ctx context.Context, hc *http.Client, u *url.URL, what string) (body []byte, wait httpx.Wait, bad, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, httpx.Final, nil, fault.Operationalf("get %s: build request: %w", what, httpx.StripURL(err))
	}
	resp, err := httpx.Do(hc, req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, httpx.Final, nil, fault.Operationalf("get %s: %w", what, ctx.Err())
		case errors.Is(err, httpx.ErrRedirectRefused):
			return nil, httpx.Final, fmt.Errorf("%s: %w", what, err), nil
		}
		return nil, httpx.ForError(ctx, true, err), nil, fault.Operationalf("get %s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		// The body is not read into errors: Azure's explain the signature
		// check and may quote the signature.
		httpx.Discard(resp.Body)
		base := fmt.Sprintf("get %s: HTTP %d", what, resp.StatusCode)
		if code := resp.Header.Get("X-Ms-Error-Code"); isToken(code) {
			base += " (" + code + ")"
		}
		switch s := resp.StatusCode; {
		case s == http.StatusForbidden || s == http.StatusUnauthorized:
			return nil, httpx.Final, nil, fault.Operational(errors.New(base + ": blob storage refused the pre-signed URL (it expires within hours: run again for a fresh one)"))
		default:
			return nil, httpx.ForStatus(true, resp.StatusCode, resp.Header, c.now()), nil, fault.Operational(errors.New(base))
		}
	}
	defer resp.Body.Close()
	body, err = httpx.ReadBody(resp.Body, MaxAttestationBundleBytes)
	var tooLarge *httpx.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return nil, httpx.Final, fmt.Errorf("%s: larger than %d bytes", what, MaxAttestationBundleBytes), nil
	case err != nil && ctx.Err() != nil:
		return nil, httpx.Final, nil, fault.Operationalf("get %s: read response: %w", what, ctx.Err())
	case err != nil:
		return nil, httpx.ForError(ctx, true, err), nil, fault.Operationalf("get %s: read response: %w", what, err)
	}
	return body, httpx.Final, nil, nil
}

// decodeBlob decompresses a Snappy block after checking the length it
// announces, so a small body cannot make airlock allocate beyond the cap.
func decodeBlob(what string, body []byte) Attestation {
	data, err := decodeSnappy(body, MaxAttestationBundleBytes)
	var tooLarge *snappyTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return Attestation{Err: fmt.Errorf("%s: %w", what, err)}
	case err != nil:
		return Attestation{Err: fmt.Errorf("%s: not a snappy-compressed bundle: %w", what, err)}
	}
	if !json.Valid(data) {
		// Snappy blocks carry no checksum: corruption can decode.
		return Attestation{Err: fmt.Errorf("%s: the snappy block decodes to something that is not JSON", what)}
	}
	return Attestation{Bundle: data}
}

// isToken: a short ASCII word such as Azure's error codes, safe to quote.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
