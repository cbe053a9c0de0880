package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// A container action runs with the workspace mounted at /github/workspace
// and GITHUB_WORKSPACE naming that path inside the container; the next step
// runs on the host, where only the workspace is the same directory (the
// runner's temp is mounted elsewhere, or not at all on older runners:
// actions/runner#1984). So everything airlock writes for later steps lives
// under the workspace, and every path it outputs is relative to it: a host
// step (whose working directory is the workspace) opens it as given.

// outputDirName is the workspace folder airlock writes its documents to.
const outputDirName = ".airlock"

// workspaceDir is GITHUB_WORKSPACE, which must name an existing directory.
func workspaceDir(getenv func(string) string) (string, error) {
	ws := getenv("GITHUB_WORKSPACE")
	if ws == "" {
		return "", fault.Usagef("GITHUB_WORKSPACE is not set: airlock runs as a GitHub Actions step and writes its documents to the workspace (see `airlock demo` to try it locally)")
	}
	if st, err := os.Stat(ws); err != nil || !st.IsDir() {
		return "", fault.Usagef("GITHUB_WORKSPACE %q is not a directory", ws)
	}
	return filepath.Clean(ws), nil
}

// inWorkspace resolves a path input against the workspace, as the runner's
// working directory would; an absolute path is taken as given.
func inWorkspace(getenv func(string) string, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if ws := getenv("GITHUB_WORKSPACE"); ws != "" {
		return filepath.Join(ws, p)
	}
	return p
}

// newRunDir creates a fresh folder for one run's documents under
// <workspace>/.airlock. The documents hold no secret and the container
// writes as root while later steps run as the runner's user, so they are
// world-readable. A .gitignore keeps them out of a commit a later step makes.
func newRunDir(ws, prefix string) (string, error) {
	root := filepath.Join(ws, outputDirName)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fault.Operationalf("create %s in the workspace: %w", outputDirName, err)
	}
	ignore := filepath.Join(root, ".gitignore")
	if _, err := os.Stat(ignore); os.IsNotExist(err) {
		if err := os.WriteFile(ignore, []byte("# written by airlock; not part of the repository\n*\n"), 0o644); err != nil {
			return "", fault.Operationalf("write %s: %w", ignore, err)
		}
	}
	dir, err := os.MkdirTemp(root, prefix)
	if err != nil {
		return "", fault.Operationalf("create output directory in %s: %w", root, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fault.Operationalf("create output directory %s: %w", dir, err)
	}
	return dir, nil
}

// workspaceRel is p as the path output names it: relative to the workspace.
func workspaceRel(ws, p string) string {
	if p == "" {
		return ""
	}
	rel, err := filepath.Rel(ws, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return filepath.ToSlash(rel)
}
