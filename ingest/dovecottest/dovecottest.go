//go:build unix

// Package dovecottest starts a private, real Dovecot IMAP server for tests.
//
// Each server gets its own generated configuration, Maildir, state and logs
// under t.TempDir() and listens on a free port on 127.0.0.1 with plaintext
// LOGIN/AUTHENTICATE PLAIN (no TLS). It is meant for integration tests of IMAP
// clients: IDLE, MOVE and UIDPLUS are available, and Stop/Restart allow
// failure-injection tests against the same port and mailbox data.
//
// When no dovecot binary is installed, Start skips the test, unless the
// environment variable REFDESK_REQUIRE_DOVECOT=1 is set (CI), in which case
// it fails the test.
package dovecottest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// RequireEnv is the environment variable that turns a missing dovecot binary
// into a test failure instead of a skip.
const RequireEnv = "REFDESK_REQUIRE_DOVECOT"

const (
	defaultUser     = "referrals@eastside.example"
	defaultPassword = "eastside-test-password"

	startTimeout = 10 * time.Second // until the port answers with a greeting
	termTimeout  = 10 * time.Second // SIGTERM -> SIGKILL
	portTimeout  = 5 * time.Second  // until the port can be bound again after Stop
	dialTimeout  = 5 * time.Second

	// maxSunPath is the usable length of a unix socket path on Linux
	// (sizeof(sun_path) - 1); Dovecot puts sockets up to ~25 bytes deep
	// below base_dir.
	maxSunPath      = 107
	longestSockName = len("/token-login/imap-urlauth") + 8
)

// Server is a running (or stopped) private Dovecot instance.
type Server struct {
	Addr     string // "127.0.0.1:PORT"
	User     string // login name, e.g. "referrals@eastside.example"
	Password string // plaintext password for User
	Dir      string // temp dir holding config, Maildir, logs

	bin        string // dovecot binary
	conf       string // generated dovecot.conf
	baseDir    string // Dovecot base_dir (sockets, master.pid)
	logPath    string // log_path / info_log_path
	stderrPath string // stdout+stderr of the master process (early fatal errors)
	port       int

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when stopped
	done chan struct{} // closed when cmd has exited and was reaped
}

// Start starts a private Dovecot on a free loopback port with a generated
// config under t.TempDir(); t.Cleanup stops it. When no dovecot binary is
// found it calls t.Skip, unless REFDESK_REQUIRE_DOVECOT=1 is set, then
// t.Fatal.
func Start(t testing.TB) *Server {
	t.Helper()

	bin, err := findDovecot()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("dovecottest: %v (and %s=1)", err, RequireEnv)
		}
		t.Skipf("dovecottest: %v; install dovecot-imapd or set %s=1 to make this a failure", err, RequireEnv)
	}

	s := &Server{
		User:     defaultUser,
		Password: defaultPassword,
		Dir:      t.TempDir(),
		bin:      bin,
	}
	s.conf = filepath.Join(s.Dir, "dovecot.conf")
	s.logPath = filepath.Join(s.Dir, "dovecot.log")
	s.stderrPath = filepath.Join(s.Dir, "dovecot.stderr")
	s.baseDir = filepath.Join(s.Dir, "run")
	if len(s.baseDir)+longestSockName > maxSunPath {
		// Long test names make long temp dirs; unix socket paths are
		// limited, so put only the sockets somewhere short.
		short, err := os.MkdirTemp("", "dcvt")
		if err != nil || len(short)+longestSockName > maxSunPath {
			short, err = os.MkdirTemp("/tmp", "dcvt")
		}
		if err != nil {
			t.Fatalf("dovecottest: short base_dir: %v", err)
		}
		// Like /run above /run/dovecot: unprivileged Dovecot processes
		// must reach the sockets.
		_ = os.Chmod(short, 0o755)
		t.Cleanup(func() { os.RemoveAll(short) })
		s.baseDir = filepath.Join(short, "run")
	}

	ids, err := chooseIdentity()
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	if err := s.prepareDirs(ids); err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	// Registered after t.TempDir, so it runs before the temp dir is removed.
	t.Cleanup(s.Stop)

	const attempts = 3
	for i := 1; ; i++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("dovecottest: free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if err := s.writeConfig(ids); err != nil {
			t.Fatalf("dovecottest: %v", err)
		}
		err = s.launch()
		if err == nil {
			return s
		}
		s.stop(false, false)
		// Someone else may have grabbed the port between freePort and
		// dovecot's bind; try another one.
		if i < attempts && strings.Contains(s.Log(), "Address already in use") {
			t.Logf("dovecottest: port %d taken, retrying: %v", s.port, err)
			continue
		}
		t.Fatalf("dovecottest: start dovecot: %v\n%s", err, s.tail())
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after a bounded wait), waits
// for it to exit and for its port to become bindable again. Mail data, config
// and logs are kept. Stop is safe to call more than once and on a stopped
// server. A graceful Dovecot shutdown takes about one second (the master
// sleeps 1 s to let its children close their listeners).
func (s *Server) Stop() { s.stop(true, true) }

// Kill simulates a crash: it SIGKILLs the master and all its children at
// once, without a graceful shutdown, and waits for the port to become free.
// Data Dovecot already acknowledged stays on disk. Restart works afterwards.
// Safe to call on a stopped server.
func (s *Server) Kill() { s.stop(false, true) }

func (s *Server) stop(graceful, waitPort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	if graceful {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(termTimeout):
			graceful = false
		}
	}
	if !graceful {
		// The master is still alive (not reaped), so its process
		// group id cannot have been reused: kill the whole group.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	// Dovecot's children notice the master's death and exit on their own;
	// make sure no straggler from our process group keeps the port or the
	// Maildir busy. (The group id stays reserved while any member lives,
	// so this cannot hit an unrelated process.)
	if syscall.Kill(-pid, 0) == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	s.cmd = nil
	s.done = nil
	if waitPort {
		_ = waitPortFree(s.Addr, portTimeout)
	}
}

// Restart starts the server again on the same port with the same data (for
// failure-injection tests). A running server is stopped first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := waitPortFree(s.Addr, portTimeout); err != nil {
		t.Fatalf("dovecottest: restart: %v", err)
	}
	if err := s.launch(); err != nil {
		s.Stop()
		t.Fatalf("dovecottest: restart dovecot: %v\n%s", err, s.tail())
	}
}

// Dial returns a client connected to the server and logged in as s.User. It
// is closed when the test finishes.
func (s *Server) Dial(t testing.TB) *imapclient.Client {
	t.Helper()
	return s.DialOptions(t, nil)
}

// DialOptions is like Dial with client options, e.g. an
// UnilateralDataHandler for IDLE tests. A nil Dialer in opts is replaced by
// one with a short timeout.
func (s *Server) DialOptions(t testing.TB, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	var o imapclient.Options
	if opts != nil {
		o = *opts
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{Timeout: dialTimeout}
	}
	c, err := imapclient.DialInsecure(s.Addr, &o)
	if err != nil {
		t.Fatalf("dovecottest: dial %s: %v\n%s", s.Addr, err, s.tail())
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatalf("dovecottest: login as %s: %v\n%s", s.User, err, s.tail())
	}
	return c
}

// Log returns the contents of the Dovecot log file (and anything the master
// process printed to stdout/stderr), for test failure messages.
func (s *Server) Log() string {
	var b strings.Builder
	if data, err := os.ReadFile(s.logPath); err == nil {
		b.Write(data)
	}
	if data, err := os.ReadFile(s.stderrPath); err == nil && len(bytes.TrimSpace(data)) > 0 {
		b.WriteString("--- dovecot stdout/stderr ---\n")
		b.Write(data)
	}
	return b.String()
}

// tail returns the last lines of Log for failure messages.
func (s *Server) tail() string {
	const n = 40
	lines := strings.Split(strings.TrimRight(s.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return "dovecot log (" + s.Dir + "):\n" + strings.Join(lines, "\n")
}

// launch starts the master process in the foreground and waits until the
// IMAP port greets. On error the process may still be running; call Stop.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	// A master killed by SIGKILL leaves master.pid behind; if that pid got
	// reused, dovecot would refuse to start ("already running").
	_ = os.Remove(filepath.Join(s.baseDir, "master.pid"))

	out, err := os.OpenFile(s.stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy

	cmd := exec.Command(s.bin, "-F", "-c", s.conf)
	cmd.Dir = s.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(startTimeout)
	for {
		err := probeGreeting(s.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("dovecot exited during startup: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no IMAP greeting on %s after %v: %v", s.Addr, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probeGreeting connects to addr and expects an untagged OK greeting.
func probeGreeting(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	_, _ = conn.Write([]byte("a LOGOUT\r\n"))
	return nil
}

// identity describes the users Dovecot's processes and mail run as.
type identity struct {
	root bool
	// Mail (userdb) uid/gid; never 0.
	mailUID, mailGID int
	// For a non-root master: the current user/group names, used for
	// default_internal_user, default_login_user and default_internal_group.
	userName, groupName string
}

func chooseIdentity() (identity, error) {
	if os.Geteuid() == 0 {
		// Dovecot refuses to access mail as root. Prefer the dovecot
		// user (its group may use the stats-writer socket), else nobody.
		for _, name := range []string{"dovecot", "nobody"} {
			u, err := user.Lookup(name)
			if err != nil {
				continue
			}
			uid, err1 := strconv.Atoi(u.Uid)
			gid, err2 := strconv.Atoi(u.Gid)
			if err1 != nil || err2 != nil || uid == 0 || gid == 0 {
				continue
			}
			return identity{root: true, mailUID: uid, mailGID: gid}, nil
		}
		return identity{}, errors.New(`running as root, but neither a "dovecot" nor a "nobody" user exists to own the mail`)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return identity{}, fmt.Errorf("current uid %d has no user name (Dovecot needs one): %v", uid, err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		return identity{}, fmt.Errorf("current gid %d has no group name (Dovecot needs one): %v", gid, err)
	}
	return identity{mailUID: uid, mailGID: gid, userName: u.Username, groupName: g.Name}, nil
}

// prepareDirs creates the directory layout and makes it usable by the mail
// uid and Dovecot's unprivileged processes.
func (s *Server) prepareDirs(ids identity) error {
	home := filepath.Join(s.Dir, "home")
	for _, d := range []string{s.baseDir, filepath.Join(s.Dir, "state"), home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	passwd := fmt.Sprintf("%s:{PLAIN}%s\n", s.User, s.Password)
	// Read by the auth process, which runs as default_internal_user.
	if err := os.WriteFile(filepath.Join(s.Dir, "passwd"), []byte(passwd), 0o644); err != nil {
		return err
	}
	if !ids.root {
		return nil
	}
	if err := os.Chown(home, ids.mailUID, ids.mailGID); err != nil {
		return err
	}
	// t.TempDir() and its parent are 0700 root; the mail and auth
	// processes must be able to traverse to home and the passwd file.
	// Only touch directories below os.TempDir().
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(s.Dir); ; d = filepath.Dir(d) {
		rel, err := filepath.Rel(tmp, d)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			break
		}
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) writeConfig(ids identity) error {
	q := strconv.Quote
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# Generated by refdesk/ingest/dovecottest for a private test instance.")
	w("base_dir = %s", q(s.baseDir))
	w("state_dir = %s", q(filepath.Join(s.Dir, "state")))
	w("log_path = %s", q(s.logPath))
	w("info_log_path = %s", q(s.logPath))
	w("protocols = imap")
	w("listen = 127.0.0.1")
	w("ssl = no")
	w("disable_plaintext_auth = no")
	w("auth_mechanisms = plain login")
	w("auth_verbose = yes")
	w("auth_failure_delay = 0")
	if ids.root {
		w("# Running as root: master as root, internal/login users from the package defaults.")
	} else {
		w("# Running as an unprivileged user: every process runs as that user.")
		w("default_internal_user = %s", q(ids.userName))
		w("default_internal_group = %s", q(ids.groupName))
		w("default_login_user = %s", q(ids.userName))
	}
	w("first_valid_uid = %d", ids.mailUID)
	w("last_valid_uid = %d", ids.mailUID)
	w("first_valid_gid = %d", ids.mailGID)
	w("last_valid_gid = %d", ids.mailGID)
	w("mail_privileged_group =")
	w("mail_location = maildir:~/Maildir")
	w("mail_fsync = never")
	w("# New mail is normally noticed via inotify (~0.5 s); this is the fallback poll.")
	w("mailbox_idle_check_interval = 1 secs")
	w("")
	w("namespace inbox {")
	w("  inbox = yes")
	w("  separator = /")
	w("}")
	w("")
	w("passdb {")
	w("  driver = passwd-file")
	w("  args = scheme=PLAIN username_format=%%u %s", filepath.Join(s.Dir, "passwd"))
	w("}")
	w("userdb {")
	w("  driver = static")
	w("  args = uid=%d gid=%d home=%s", ids.mailUID, ids.mailGID, filepath.Join(s.Dir, "home"))
	w("}")
	w("")
	w("protocol imap {")
	w("  mail_max_userip_connections = 100")
	w("}")
	w("")
	w("service imap-login {")
	w("  inet_listener imap {")
	w("    address = 127.0.0.1")
	w("    port = %d", s.port)
	w("  }")
	w("  inet_listener imaps {")
	w("    port = 0")
	w("  }")
	if !ids.root {
		w("  chroot =")
	}
	w("}")
	w("# No auth penalty: failed-login tests must not slow down later logins.")
	w("service anvil {")
	w("  unix_listener anvil-auth-penalty {")
	w("    mode = 0")
	w("  }")
	if !ids.root {
		w("  chroot =")
	}
	w("}")
	w("service stats {")
	w("  unix_listener stats-writer {")
	w("    mode = 0666")
	w("  }")
	w("}")
	if !ids.root {
		for _, svc := range []string{"ipc", "aggregator", "director", "imap-urlauth-login"} {
			w("service %s {", svc)
			w("  chroot =")
			w("}")
		}
	}
	return os.WriteFile(s.conf, []byte(b.String()), 0o644)
}

func findDovecot() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	// /usr/sbin is often not in PATH for non-root users.
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("no dovecot binary found in PATH, /usr/sbin or /usr/local/sbin")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPortFree waits until addr can be bound again.
func waitPortFree(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s still in use after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
