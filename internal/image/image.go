// Package image builds airlock's OCI image without a Docker engine and with
// the release's builder: ko (tools/ko/go.mod), its configuration (.ko.yaml)
// and the one invocation both use (scripts/ko-build.sh). The only difference
// from the release is the base. Instead of pulling distroless static, Base
// makes its equivalent offline (root and nonroot users, Debian's CA bundle,
// /tmp), and Build serves it to ko from a registry on loopback.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/internal/httpx"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entrypoint and User are the image's, here and in the release: ko lays the
// binary at /ko-app/<name>, and scripts/ko-build.sh sets the user (the
// Dockerfile follows both).
const (
	Entrypoint = "/ko-app/airlock-rego"
	User       = "0:0"
)

// OfflineBaseName is the base's name in the manifest of an image built by
// Build (the .invalid domain never resolves: nothing can pull it).
const OfflineBaseName = "airlock-offline-base.invalid/static"

type file struct {
	name string
	mode int64
	body []byte
}

func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if f.body == nil {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("image layer %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("image layer %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
}

// Base is the offline stand-in for distroless static: the files airlock
// needs from it (users, the CA bundle at caPath, /tmp) for linux/arch.
func Base(caPath, arch string) (v1.Image, error) {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("image ca bundle: %w", err)
	}
	files, err := layer([]file{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca},
		{name: "tmp/", mode: 0o1777},
	})
	if err != nil {
		return nil, err
	}
	oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(oci, files)
	if err != nil {
		return nil, fmt.Errorf("image base: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: time.Unix(0, 0)}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image base config: %w", err)
	}
	return img, nil
}

// Options says where ko, the checkout and the CA bundle are, and where the
// OCI layout goes.
type Options struct {
	Ko       string    // the ko binary (scripts/tool.sh ko)
	Repo     string    // the checkout: .ko.yaml, scripts/ko-build.sh, ./cmd/airlock-rego
	CABundle string    // PEM bundle laid into the base
	Dir      string    // the OCI layout to write; must not exist
	Arch     string    // GOARCH of the image
	Env      []string  // extra environment for the build (AIRLOCK_VERSION=…)
	Log      io.Writer // ko's progress; nil discards it
}

// Build makes the base, serves it on a loopback registry for as long as ko
// runs, builds the image with scripts/ko-build.sh into an OCI layout at
// o.Dir and returns it.
func Build(ctx context.Context, o Options) (v1.Image, error) {
	if _, err := os.Stat(o.Dir); err == nil {
		return nil, fmt.Errorf("image layout %s: already exists", o.Dir)
	}
	base, err := Base(o.CABundle, o.Arch)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("image base registry: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// ko speaks plain HTTP to a registry on 127.0.0.1 (go-containerregistry's rule).
	repo, err := name.NewRepository(ln.Addr().String() + "/airlock-base")
	if err != nil {
		return nil, err
	}
	d, err := push(ctx, "http://"+repo.RegistryStr()+"/v2/"+repo.RepositoryStr(), base)
	if err != nil {
		return nil, fmt.Errorf("image base registry: push %s: %w", repo, err)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	// ko names the layout's image after its path, which must then be a valid
	// repository name (lowercase): it writes into a temporary directory of
	// ours, and the image is copied to o.Dir.
	tmp, err := os.MkdirTemp("", "airlock-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(o.Repo, "scripts", "ko-build.sh"),
		"--push=false", "--sbom=none", "--oci-layout-path="+tmp, "--platform=linux/"+o.Arch)
	cmd.Dir = o.Repo
	cmd.Env = append(os.Environ(), "KO="+o.Ko, "KO_DEFAULTBASEIMAGE="+repo.Digest(d.String()).String())
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = &stdout, logw
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("image: scripts/ko-build.sh: %w", err)
	}
	ref := strings.TrimSpace(stdout.String())
	idx, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return nil, fmt.Errorf("image: ko's layout: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: ko's layout: %w", err)
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("image: ko's layout has %d manifests, want the one ko built (%s)", len(m.Manifests), ref)
	}
	d = m.Manifests[0].Digest
	if !strings.HasSuffix(ref, "@"+d.String()) {
		return nil, fmt.Errorf("image: ko printed %q, its layout holds %s", ref, d)
	}
	img, err := idx.Image(d)
	if err != nil {
		return nil, fmt.Errorf("image: ko's layout: %w", err)
	}
	// ko names the base in the manifest, and this base's name carries the
	// loopback port of this one build: a stable name makes two builds of one
	// commit one digest. Config and layers are ko's as built.
	img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.base.name": OfflineBaseName}).(v1.Image)
	if d, err = img.Digest(); err != nil {
		return nil, err
	}
	p, err := layout.Write(o.Dir, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("image layout %s: %w", o.Dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		return nil, fmt.Errorf("image layout %s: %w", o.Dir, err)
	}
	return p.Image(d)
}

// push uploads img's blobs (layers, then config) and manifest to the
// registry repository at u (the distribution API: POST an upload, PUT the
// blob; PUT the manifest) and returns the manifest's digest. Written out
// rather than with go-containerregistry's remote, whose credential helpers
// would bring the Docker CLI's modules into go.mod for one loopback push.
func push(ctx context.Context, u string, img v1.Image) (v1.Hash, error) {
	client := httpx.NewClient(httpx.Options{Timeout: time.Minute, Redirects: httpx.NoRedirects})
	send := func(method, url, ctype string, body []byte, want int) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := httpx.Do(client, req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, url, err)
		}
		httpx.Discard(resp.Body)
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: HTTP %d, want %d", method, url, resp.StatusCode, want)
		}
		return resp, nil
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range append(layers, cfg) {
		d, err := l.Digest()
		if err != nil {
			return v1.Hash{}, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
		resp, err := send(http.MethodPost, u+"/blobs/uploads/", "", nil, http.StatusAccepted)
		if err != nil {
			return v1.Hash{}, err
		}
		loc, err := resp.Location()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("upload location: %w", err)
		}
		q := loc.Query()
		q.Set("digest", d.String())
		loc.RawQuery = q.Encode()
		if _, err := send(http.MethodPut, loc.String(), "application/octet-stream", b, http.StatusCreated); err != nil {
			return v1.Hash{}, err
		}
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	_, err = send(http.MethodPut, u+"/manifests/"+d.String(), string(mt), m, http.StatusCreated)
	return d, err
}
