//go:build unix && !linux

package dovecottest

import "syscall"

// sysProcAttr puts the dovecot master (and the children it forks) into its
// own process group, so Stop can kill stragglers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
