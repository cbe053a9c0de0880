package image

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-dev/airlock/internal/testsvc"
)

// The release and `make image` build the image one way: ko through
// scripts/ko-build.sh with .ko.yaml, whose release base is pinned by digest;
// GoReleaser builds binaries only; the Dockerfile, for those who build with
// Docker, lays the binary where ko does and runs it as the same user.
func TestReleaseBuildsTheImageAsMakeImageDoes(t *testing.T) {
	repo, err := testsvc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(repo, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	var ko struct {
		DefaultBaseImage string `yaml:"defaultBaseImage"`
		Builds           []struct {
			ID   string `yaml:"id"`
			Main string `yaml:"main"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal([]byte(read(".ko.yaml")), &ko); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if !regexp.MustCompile(`^gcr\.io/distroless/static-debian12@sha256:[0-9a-f]{64}$`).MatchString(ko.DefaultBaseImage) {
		t.Fatalf(".ko.yaml defaultBaseImage = %q, want distroless static pinned by digest", ko.DefaultBaseImage)
	}
	if len(ko.Builds) != 1 || ko.Builds[0].Main != "./cmd/airlock-rego" {
		t.Fatalf(".ko.yaml builds = %+v, want the one build of ./cmd/airlock-rego", ko.Builds)
	}

	release := read(".github/workflows/release.yml")
	if !regexp.MustCompile(`(?m)^\s+ref=\$\(scripts/ko-build\.sh .*--platform=linux/amd64,linux/arm64`).MatchString(release) {
		t.Fatal("release.yml does not build the image with scripts/ko-build.sh for linux/amd64 and arm64")
	}
	if regexp.MustCompile(`(?m)^kos:`).MatchString(read(".goreleaser.yaml")) {
		t.Fatal(".goreleaser.yaml builds an image of its own (kos:); the image is scripts/ko-build.sh's")
	}
	// Binaries and image say the same version and commit: both stamp them.
	for _, f := range []string{".goreleaser.yaml", ".ko.yaml"} {
		for _, v := range []string{"internal/cli.Version=", "internal/cli.Commit="} {
			if !strings.Contains(read(f), "-X github.com/airlock-dev/airlock/"+v) {
				t.Fatalf("%s does not set %s", f, v)
			}
		}
	}
	// Both binaries of the one program, built and stamped alike: airlock
	// starts airlock-rego and refuses nothing, airlock-rego refuses an
	// airlock of another build.
	var gr struct {
		Builds []struct {
			ID      string   `yaml:"id"`
			Main    string   `yaml:"main"`
			Binary  string   `yaml:"binary"`
			Flags   []string `yaml:"flags"`
			Ldflags []string `yaml:"ldflags"`
			Targets []string `yaml:"targets"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal([]byte(read(".goreleaser.yaml")), &gr); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if len(gr.Builds) != 2 || gr.Builds[0].Main != "./cmd/airlock" || gr.Builds[0].Binary != "airlock" ||
		gr.Builds[1].Main != "./cmd/airlock-rego" || gr.Builds[1].Binary != "airlock-rego" {
		t.Fatalf(".goreleaser.yaml builds = %+v, want airlock and airlock-rego", gr.Builds)
	}
	a, r := gr.Builds[0], gr.Builds[1]
	if strings.Join(a.Ldflags, " ") != strings.Join(r.Ldflags, " ") || strings.Join(a.Targets, " ") != strings.Join(r.Targets, " ") ||
		strings.Join(a.Flags, " ") != strings.Join(r.Flags, " ") || len(a.Targets) == 0 {
		t.Fatalf(".goreleaser.yaml: airlock and airlock-rego are built differently: %+v / %+v", a, r)
	}
	script := read("scripts/ko-build.sh")
	if !strings.Contains(script, " ./cmd/airlock-rego\n") {
		t.Fatal("scripts/ko-build.sh does not build ./cmd/airlock-rego, the image's one binary")
	}
	if !strings.Contains(script, "--image-user="+User) {
		t.Fatalf("scripts/ko-build.sh does not set the image user %s", User)
	}
	docker := read("Dockerfile")
	if !strings.Contains(docker, "\nUSER "+User+"\n") || !strings.Contains(docker, `ENTRYPOINT ["`+Entrypoint+`"]`) {
		t.Fatalf("Dockerfile: want USER %s and ENTRYPOINT [%q], as ko's image", User, Entrypoint)
	}
	// Dependabot (docker) updates the Dockerfile's base; .ko.yaml must follow.
	if !strings.Contains(docker, "\nFROM "+ko.DefaultBaseImage+"\n") {
		t.Fatalf("Dockerfile's distroless base is not .ko.yaml's %s", ko.DefaultBaseImage)
	}
}
