//go:build linux

package dovecottest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysProcAttr puts the dovecot master (and the children it forks) into its
// own process group, so Stop can kill stragglers, and kills it if the test
// binary dies without running cleanups (panic, timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// CPUTime is the processor time (user and system) the server has used so
// far: every live process of its group, and the children the master has
// already reaped. Benchmarks use it to tell how much of a run was
// Dovecot's own work. A session that ended a moment ago may be in neither
// until its process is reaped: call SettleSessions first. It is zero for a
// stopped server or where /proc cannot be read.
func (s *Server) CPUTime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	pgid := s.cmd.Process.Pid
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		if _, t, ok := groupProc(e.Name(), pgid); ok {
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// SettleSessions waits (up to five seconds) until no IMAP session process
// of the server is left, so that the time of sessions that ended is counted
// by CPUTime.
func (s *Server) SettleSessions() {
	s.mu.Lock()
	if s.cmd == nil {
		s.mu.Unlock()
		return
	}
	pgid := s.cmd.Process.Pid
	s.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		busy := false
		for _, e := range ents {
			if comm, _, ok := groupProc(e.Name(), pgid); ok && comm == "imap" {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
	}
}

// groupProc reads /proc/NAME/stat of a process of group pgid: its command
// and its processor time in clock ticks (with its reaped children's for
// the group leader).
func groupProc(name string, pgid int) (string, int64, bool) {
	var ticks int64
	pid, err := strconv.Atoi(name)
	if err != nil {
		return "", 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces: cut at
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	j := bytes.IndexByte(b, '(')
	if i < 0 || j < 0 || j > i {
		return "", 0, false
	}
	comm := string(b[j+1 : i])
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15,
	// cutime 16, cstime 17.
	if len(f) < 15 {
		return "", 0, false
	}
	if g, _ := strconv.Atoi(f[2]); g != pgid {
		return "", 0, false
	}
	for _, k := range []int{11, 12} {
		n, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += n
	}
	if pid == pgid {
		for _, k := range []int{13, 14} {
			n, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += n
		}
	}
	return comm, ticks, true
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
