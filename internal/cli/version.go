package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:     "version",
		Short:   "print the version, commit and Go version (also airlock --version)",
		Example: "  airlock version",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(e.stdio.Out, buildID())
			return nil
		},
	}
	setExitCodes(c, "0  printed", "2  usage")
	return c
}

// Commit is set at build time with -ldflags "-X .../internal/cli.Commit=…"
// by make build and the release; otherwise it comes from the build info.
var Commit = ""

// buildID is this binary's build, as `airlock version` prints it (without
// the newline) and as airlock-rego compares it with the airlock that
// started it (dispatch.go).
func buildID() string {
	info, ok := debug.ReadBuildInfo()
	return strings.TrimSuffix(versionLine(info, ok), "\n")
}

// versionLine is what `airlock version` prints: version, commit and Go
// version. A binary built by `go install …@vX.Y.Z` has no -ldflags, so the
// module version and the VCS revision come from its build info.
func versionLine(info *debug.BuildInfo, ok bool) string {
	version, commit, goVersion := Version, Commit, runtime.Version()
	if ok && info != nil {
		if version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		if commit == "" {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("airlock %s (commit %s, %s)\n", version, commit, goVersion)
}
