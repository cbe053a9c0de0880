package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-dev/airlock/internal/fault"
)

// DirSource is a user policy directory as a Source, named by its path
// relative to the repository it belongs to, so that the digest (which
// hashes file names) is the same however the directory is spelled
// (`pol`, `./pol`, `$PWD/pol`, through a symlink) and wherever the
// repository is checked out. The root is, in this order:
//
//  1. the nearest directory at or above dir holding `.git` (a directory, or
//     the file a worktree or submodule has): the repository's top level,
//     which is where an auditor's clone and the gate's checkout agree even
//     when the workflow checks out into a subdirectory of the workspace;
//  2. workspace (GITHUB_WORKSPACE in the action; "" elsewhere) when dir is
//     inside it: a checkout without .git (a REST download) is still named
//     as the repository names it;
//  3. dir's parent: a directory outside any repository is named by its own
//     name (so errors say `pol/params/agent.json`), and has the same digest
//     wherever it is copied.
func DirSource(dir, workspace string) (Source, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Source{}, fault.Configf("input policy: %w", err)
	}
	if !st.IsDir() {
		return Source{}, fault.Configf("input policy: %s is not a directory", dir)
	}
	real, err := realPath(dir)
	if err != nil {
		return Source{}, fault.Configf("input policy: %w", err)
	}
	name, err := rootName(real, workspace)
	if err != nil {
		return Source{}, fault.Configf("input policy %s: %w", dir, err)
	}
	return Source{Name: name, FS: os.DirFS(real)}, nil
}

func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func rootName(real, workspace string) (string, error) {
	for d := real; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return relName(d, real)
		}
		up := filepath.Dir(d)
		if up == d {
			break
		}
		d = up
	}
	if workspace != "" {
		ws, err := realPath(workspace)
		if err != nil {
			return "", fmt.Errorf("GITHUB_WORKSPACE: %w", err)
		}
		if rel, err := filepath.Rel(ws, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel), nil
		}
	}
	if b := filepath.Base(real); b != string(filepath.Separator) && b != "." {
		return b, nil
	}
	return ".", nil
}

func relName(root, real string) (string, error) {
	rel, err := filepath.Rel(root, real)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}
