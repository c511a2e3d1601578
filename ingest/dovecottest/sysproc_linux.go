//go:build linux

package dovecottest

import "syscall"

// sysProcAttr puts the dovecot master (and the children it forks) into its
// own process group, so Stop can kill stragglers, and kills it if the test
// binary dies without running cleanups (panic, timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
