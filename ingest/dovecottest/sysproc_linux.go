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
// already reaped. Benchmarks use it to tell how much of a run was Dovecot's
// own work. It is zero for a stopped server or where /proc cannot be read.
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
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces: cut at
		// the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15,
		// cutime 16, cstime 17.
		if len(f) < 15 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
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
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
