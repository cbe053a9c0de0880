//go:build unix

package cli

import "syscall"

// execEngine replaces this process with path; it returns only on failure.
func execEngine(path string, argv, env []string) error {
	return syscall.Exec(path, argv, env)
}
