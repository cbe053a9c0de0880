package image

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

const caBundle = "/etc/ssl/certs/ca-certificates.crt" // Debian's ca-certificates

// The image is built offline, extracted, and its entrypoint run the way the
// Actions runner runs a container action: as the image's user, in
// /github/workspace, with the runner's variables and GITHUB_OUTPUT /
// GITHUB_STEP_SUMMARY files owned by another user (the runner's).
func TestImageRunsLikeAContainerAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the image; skipped with -short")
	}
	if _, err := os.Stat(caBundle); err != nil {
		t.Fatalf("CA bundle: %v (apt-get install ca-certificates)", err)
	}
	repo, err := testsvc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var koLog strings.Builder
	const version = "v0.0.0-imagetest"
	img, err := Build(context.Background(), Options{
		Ko: testsvc.KoBinary(t), Repo: repo, CABundle: caBundle, Dir: filepath.Join(dir, "oci"), Arch: runtime.GOARCH,
		Env: []string{"AIRLOCK_VERSION=" + version}, Log: &koLog,
	})
	if err != nil {
		t.Fatalf("%v\nko:\n%s", err, koLog.String())
	}
	// Reproducible: a second build of the same checkout is the same image.
	again, err := Build(context.Background(), Options{
		Ko: testsvc.KoBinary(t), Repo: repo, CABundle: caBundle, Dir: filepath.Join(dir, "oci-again"), Arch: runtime.GOARCH,
		Env: []string{"AIRLOCK_VERSION=" + version},
	})
	if err != nil {
		t.Fatal(err)
	}
	d1, err1 := img.Digest()
	d2, err2 := again.Digest()
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Fatalf("two builds of one checkout: %v (%v) and %v (%v), want one digest", d1, err1, d2, err2)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != Entrypoint {
		t.Fatalf("entrypoint = %q, want [%s] (where ko lays the binary)", got, Entrypoint)
	}
	if cfg.Config.User != "0:0" {
		t.Fatalf("user = %q, want 0:0 (GitHub runs container actions as root)", cfg.Config.User)
	}
	// Compressed size: what a runner pulls.
	var size int64
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		size += n
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		extract(t, rc, rootfs)
		rc.Close()
	}
	t.Logf("image compressed size: %d bytes (%.1f MB)", size, float64(size)/1e6)
	if size > 25<<20 {
		t.Fatalf("image is %d bytes compressed, over the 25 MB target", size)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		t.Fatalf("image has no CA bundle: %v", err)
	}

	// The runner's files: owned by the runner user (uid 1001), not the container's.
	work := filepath.Join(rootfs, "github", "workspace")
	fileCmds := filepath.Join(rootfs, "github", "file_commands")
	for _, d := range []string{work, fileCmds} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"output", "summary"} {
		p := filepath.Join(fileCmds, f)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 1001, 1001); err != nil {
			t.Logf("chown %s to the runner's uid: %v (not root; the files stay ours)", p, err)
		}
	}
	run := func(args ...string) (int, string) {
		cmd := exec.Command(cfg.Config.Entrypoint[0], args...)
		cmd.Dir = "/github/workspace"
		cmd.Env = []string{
			"GITHUB_ACTIONS=true", "CI=true", "HOME=/github/home", "GITHUB_WORKSPACE=/github/workspace",
			"GITHUB_OUTPUT=/github/file_commands/output", "GITHUB_STEP_SUMMARY=/github/file_commands/summary",
			"RUNNER_TEMP=/tmp", "GITHUB_REPOSITORY=octo/app", "GITHUB_RUN_ID=1",
		}
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: 0, Gid: 0}}
		} else {
			t.Skip("running the entrypoint inside the image's root needs chroot (root); not root here")
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatalf("run %v: %v", args, err)
		}
		return 0, string(out)
	}
	// .ko.yaml's ldflags reached the binary ko built.
	if code, out := run("version"); code != 0 || !strings.HasPrefix(out, "airlock "+version+" ") {
		t.Fatalf("airlock version in the image: exit %d, %q, want airlock %s …", code, out, version)
	}
	// The gate with no inputs is a configuration error (2), never an allow.
	if code, out := run("gate"); code != 2 {
		t.Fatalf("airlock gate without inputs in the image: exit %d, want 2\n%s", code, out)
	}
}

func extract(t *testing.T, r io.Reader, root string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)|0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
