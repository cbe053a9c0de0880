package ghapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// File returns the content of a file of owner/repo at ref, as the API serves
// it. Asking the API (not the runner's checkout) ties the content to the
// verified commit: a workspace can be modified by earlier steps, the commit
// cannot.
func (c *Client) File(ctx context.Context, owner, repo, path, ref string) ([]byte, error) {
	p, err := repoPath(owner, repo)
	if err != nil {
		return nil, err
	}
	clean := strings.Trim(path, "/")
	if clean == "" || ref == "" {
		return nil, fault.Usagef("get file: path and ref are required, got %q at %q", path, ref)
	}
	var segs []string
	for _, s := range strings.Split(clean, "/") {
		e, err := segment("path", s)
		if err != nil {
			return nil, err
		}
		segs = append(segs, e)
	}
	o := op{resource: fmt.Sprintf("file %s of %s/%s at %s", clean, owner, repo, ref), permission: "contents: read"}
	body, _, err := c.get(ctx, o, p+"/contents/"+strings.Join(segs, "/")+"?ref="+url.QueryEscape(ref))
	if err != nil {
		return nil, err
	}
	var f struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
		Content  string `json:"content"`
	}
	if err := decodeStrict(body, &f); err != nil {
		return nil, fault.Operationalf("get %s: %w", o.resource, err)
	}
	if f.Type != "file" || f.Encoding != "base64" {
		return nil, fault.Configf("get %s: not a file (type %q, encoding %q)", o.resource, f.Type, f.Encoding)
	}
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(f.Content, "\n", ""))
	if err != nil {
		return nil, fault.Operationalf("get %s: content is not base64: %w", o.resource, err)
	}
	return b, nil
}
