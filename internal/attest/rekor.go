package attest

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	rekorclient "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/airlock-dev/airlock/internal/httpx"
)

// newRekorClient builds Rekor's generated client over our transport, as
// rekor's own GetRekorClient does but without its retrying HTTP client (the
// transport retries, bounded, and honours Retry-After).
func newRekorClient(raw string, t http.RoundTripper) (sign.RekorClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", raw, err)
	}
	path := u.Path
	if path == "" || path == "/" {
		path = rekorclient.DefaultBasePath
	}
	// t bounds each attempt and hands no redirect to the client.
	hc := httpx.NewClient(httpx.Options{Transport: t, Timeout: -1, Redirects: httpx.NoRedirects})
	rt := httptransport.NewWithClient(u.Host, path, []string{u.Scheme}, hc)
	rt.Consumers["application/json"] = runtime.JSONConsumer()
	rt.Consumers["application/x-pem-file"] = runtime.TextConsumer()
	rt.Producers["application/json"] = runtime.JSONProducer()
	registry := strfmt.NewFormats()
	registry.Add("signedCheckpoint", &util.SignedNote{}, util.SignedCheckpointValidator)
	return rekorclient.New(rt, registry).Entries, nil
}
