package ghapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/httpx"
)

// MaxStreamedAssetBytes is a cap for StreamReleaseAsset: GitHub accepts
// release assets under 2 GiB; twice that leaves room for GHES and still ends
// a storage host that never stops sending.
const MaxStreamedAssetBytes int64 = 4 << 30

// defaultIdle bounds each wait for bytes when the caller's client has no
// timeout.
const defaultIdle = 30 * time.Second

var errStalled = errors.New("no data within the client's timeout")

// StreamReleaseAsset writes the content of a release asset to w as it
// arrives, at most maxBytes, and returns how many bytes it wrote: an auditor
// hashing a release's assets holds none of them in memory.
//
// It retries what the other calls retry, but only until the first byte
// reaches w: w cannot take bytes back, so a failure mid-body is final. The
// client's timeout bounds each wait for data (the answer, then every read),
// not the whole transfer: a large asset on a slow link completes, a stalled
// one does not hang. ctx ends it at any point.
func (c *Client) StreamReleaseAsset(ctx context.Context, owner, repo string, assetID int64, w io.Writer, maxBytes int64) (int64, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return 0, err
	}
	if maxBytes <= 0 {
		return 0, fault.Usagef("stream release asset %d: max bytes: expected > 0, got %d", assetID, maxBytes)
	}
	o := op{resource: fmt.Sprintf("release asset %d of %s/%s", assetID, owner, repo), permission: "contents: read", download: true}
	var written int64
	err = c.retry().Do(ctx, func(ctx context.Context, n int) (httpx.Wait, error) {
		var wait httpx.Wait
		var err error
		written, wait, err = c.streamOnce(ctx, o, p+"/releases/assets/"+strconv.FormatInt(assetID, 10), w, maxBytes)
		if written > 0 && err != nil {
			wait = httpx.Final
		}
		return wait, err
	})
	if err != nil {
		return written, gaveUp(err)
	}
	return written, nil
}

func (c *Client) streamOnce(ctx context.Context, o op, ref string, w io.Writer, maxBytes int64) (int64, httpx.Wait, error) {
	idle := c.hc.Timeout
	if idle <= 0 {
		idle = defaultIdle
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(idle, func() { cancel(errStalled) })
	defer stall.Stop()

	req, err := c.gh.NewRequest(http.MethodGet, ref, nil)
	if err != nil {
		return 0, httpx.Final, fault.Operationalf("get %s: build request: %w", o.resource, httpx.StripURL(err))
	}
	req.Header.Set("Accept", "application/octet-stream")
	req = req.WithContext(ctx)
	c.authorize(req)
	client := c.downloadClient()
	client.Timeout = 0 // the stall timer bounds each wait instead
	resp, err := httpx.Do(client, req)
	if err != nil {
		switch {
		case parent.Err() != nil:
			return 0, httpx.Final, fault.Operationalf("get %s: %w", o.resource, parent.Err())
		case errors.Is(err, httpx.ErrRedirectRefused):
			return 0, httpx.Final, fault.Operationalf("get %s: %w", o.resource, err)
		case errors.Is(context.Cause(ctx), errStalled):
			return 0, httpx.Backoff(), fault.Operationalf("get %s: waiting for an answer: %w (%s)", o.resource, errStalled, idle)
		}
		return 0, httpx.ForError(parent, true, err), fault.Operationalf("get %s: %w", o.resource, err)
	}
	defer resp.Body.Close()
	body := &progress{r: resp.Body, stall: stall, idle: idle}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, err := io.ReadAll(io.LimitReader(body, c.maxBody)) // the message only: cut, not refused
		if err != nil {
			return 0, httpx.Backoff(), fault.Operationalf("get %s: HTTP %d: read response: %w", o.resource, resp.StatusCode, httpx.StripURL(err))
		}
		wait, err := c.classify(resp, msg, o)
		return 0, wait, err
	}
	written, err := io.Copy(w, io.LimitReader(body, maxBytes+1))
	switch {
	case parent.Err() != nil:
		return written, httpx.Final, fault.Operationalf("get %s: after %d bytes: %w", o.resource, written, parent.Err())
	case err != nil && errors.Is(context.Cause(ctx), errStalled):
		return written, httpx.Backoff(), fault.Operationalf("get %s: after %d bytes: %w (%s)", o.resource, written, errStalled, idle)
	case err != nil:
		return written, httpx.Backoff(), fault.Operationalf("get %s: after %d bytes: %w", o.resource, written, httpx.StripURL(err))
	case written > maxBytes:
		return written, httpx.Final, fault.Operationalf("get %s: HTTP %d: content exceeds %d bytes", o.resource, resp.StatusCode, maxBytes)
	}
	return written, httpx.Final, nil
}

// progress re-arms the stall timer whenever data arrives.
type progress struct {
	r     io.Reader
	stall *time.Timer
	idle  time.Duration
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.stall.Reset(p.idle)
	}
	return n, err
}
