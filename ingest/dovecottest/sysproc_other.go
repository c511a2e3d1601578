//go:build unix && !linux

package dovecottest

import (
	"syscall"
	"time"
)

// sysProcAttr puts the dovecot master (and the children it forks) into its
// own process group, so Stop can kill stragglers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// CPUTime is zero here: only Linux's /proc is read.
func (s *Server) CPUTime() time.Duration { return 0 }

// SettleSessions does nothing here.
func (s *Server) SettleSessions() {}
