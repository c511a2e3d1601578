package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"refdesk/ingest/dovecottest"
	"refdesk/notify/smtpsink"
)

// e2eEnv is one world for an end-to-end test: a private Dovecot holding the
// referrals mailbox, an SMTP sink standing in for the program's relay, a
// config file pointing refdesk at both, and the refdesk binary.
type e2eEnv struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	srv     *dovecottest.Server
	sink    *smtpsink.Sink
	env     []string // environment of every refdesk process
	logPath string   // every serve run's stdout+stderr, appended

	imapMu sync.Mutex
	imap   *imapclient.Client // the test's own IMAP session (APPEND, STATUS)

	serveMu sync.Mutex
	serve   *serveProc
	starts  int
}

// e2eOptions tune the config an environment writes.
type e2eOptions struct {
	batchSize   int    // imap.batch_size; 0 = refdesk's default
	smtpTimeout string // smtp.timeout; "" = refdesk's default
	maxSize     string // intake.max_message_size; "" = refdesk's default
}

const e2ePasswordEnv = "REFDESK_E2E_IMAP_PASSWORD"

func newE2E(t *testing.T, opt e2eOptions) *e2eEnv {
	t.Helper()
	bin := refdeskBinary(t)
	srv := dovecottest.Start(t)
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatalf("smtpsink: %v", err)
	}
	t.Cleanup(func() { sink.Close() })
	e := &e2eEnv{t: t, bin: bin, dir: t.TempDir(), srv: srv, sink: sink}
	e.cfgPath = filepath.Join(e.dir, "refdesk.toml")
	e.logPath = filepath.Join(e.dir, "serve.log")
	e.env = append(os.Environ(), e2ePasswordEnv+"="+srv.Password, "REFDESK_USER=e2e-coach")
	if err := os.WriteFile(e.cfgPath, []byte(e2eConfig(e.dir, srv, sink.Addr(), opt)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.imap = srv.Dial(t)
	// Registered after Dovecot and the sink: runs before them, so a serve
	// left running by a failed test dies before its peers do.
	t.Cleanup(e.killServe)
	return e
}

// e2eConfig is a config like configs/demo.toml, pointed at the test's
// Dovecot and sink.
func e2eConfig(dir string, srv *dovecottest.Server, smtpAddr string, opt e2eOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by the refdesk end-to-end tests
[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
phone = "555-0100"
timezone = "America/Chicago"
first_contact_days = 2
capacity = 0
coaches = ["coach@eastside.example"]

[database]
path = %q

[imap]
address = %q
security = "none"
auth = "password"
username = %q
password_env = %q
mailbox = "INBOX"
processed = "Processed"
quarantine = "Quarantine"
poll_interval = "1s"
`, filepath.Join(dir, "refdesk.db"), srv.Addr, srv.User, e2ePasswordEnv)
	if opt.batchSize > 0 {
		fmt.Fprintf(&b, "batch_size = %d\n", opt.batchSize)
	}
	fmt.Fprintf(&b, `
[smtp]
address = %q
security = "none"
auth = "none"
`, smtpAddr)
	if opt.smtpTimeout != "" {
		fmt.Fprintf(&b, "timeout = %q\n", opt.smtpTimeout)
	}
	b.WriteString(`
[intake]
required = ["client_name", "contact", "consent"]
unknown_senders = "hold"
trusted_authserv_id = "mx.eastside.example"
`)
	if opt.maxSize != "" {
		fmt.Fprintf(&b, "max_message_size = %q\n", opt.maxSize)
	}
	b.WriteString(`
[grant]
name = "County Financial Empowerment FY27"
start = 2026-07-01
end = 2027-06-30
target_clients = 120

[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]
report_to = ["referrals@northside-housing.example"]

[[partners]]
id = "westside-workforce"
name = "Westside Workforce Center"
domains = ["westside-workforce.example"]
report_to = ["director@westside-workforce.example"]

[[services]]
id = "emergency-desk"
name = "Emergency Assistance Desk, 2nd floor"
contact = "555-0199, walk in Mon-Fri 9-4"
email = "emergency@eastside.example"
about = "food boxes, utility shut-off help, eviction prevention"

[[services]]
id = "county-211"
name = "County 2-1-1 resource line"
contact = "dial 2-1-1, 24 hours"
about = "finds the financial coaching program that serves the client's area"

[[services]]
id = "youth-money"
name = "Youth Money Skills (Eastside Teen Center)"
contact = "555-0177"
about = "financial coaching for people under 18"

[[rules]]
id = "crisis-words"
then = "redirect"
service = "emergency-desk"
reason = "The client seems to be in crisis; the emergency desk can help today."
keywords = ["eviction", "evicted", "shut-off", "shutoff", "disconnection", "no food", "homeless"]

[[rules]]
id = "crisis-screen"
then = "redirect"
service = "emergency-desk"
reason = "The crisis screen says yes; the emergency desk can help today."
field_yes = "crisis"

[[rules]]
id = "out-of-area"
then = "redirect"
service = "county-211"
reason = "The client lives outside our service area."
zip_not_in = ["60601", "60602", "60603", "60604", "60605", "60606", "60607"]

[[rules]]
id = "minor"
then = "redirect"
service = "youth-money"
reason = "Our coaching is for adults; the teen center coaches young people."
age_below = 18
`)
	return b.String()
}

// ---- failure messages ----

// fatalf fails the test with the tails of the serve log and Dovecot's log.
func (e *e2eEnv) fatalf(format string, args ...any) {
	e.t.Helper()
	e.t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), e.logs())
}

// errorf records a failure (the test goes on) with the logs' tails.
func (e *e2eEnv) errorf(format string, args ...any) {
	e.t.Helper()
	e.t.Errorf("%s\n%s", fmt.Sprintf(format, args...), e.logs())
}

func (e *e2eEnv) logs() string {
	serveLog, _ := os.ReadFile(e.logPath)
	return "--- refdesk serve log (" + e.logPath + "), last lines ---\n" + lastLines(string(serveLog), 40) +
		"\n--- dovecot log (" + e.srv.Dir + "), last lines ---\n" + lastLines(e.srv.Log(), 25)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 50 ms until it holds or timeout passes; then the
// test fails with what cond last said.
func (e *e2eEnv) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- refdesk serve ----

type serveProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startServe runs `refdesk serve --config FILE`, its output appended to the
// serve log.
func (e *e2eEnv) startServe() {
	e.t.Helper()
	e.serveMu.Lock()
	defer e.serveMu.Unlock()
	if e.serve != nil {
		e.t.Fatal("e2e: serve is already running")
	}
	e.starts++
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== e2e: serve start #%d at %s ===\n", e.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(e.bin, "serve", "--config", e.cfgPath)
	cmd.Env = e.env
	cmd.Dir = e.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("e2e: start refdesk serve: %v", err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	e.serve = p
}

// takeServe hands over the running serve to be stopped or killed; serve
// must still be running.
func (e *e2eEnv) takeServe(how string) *serveProc {
	e.t.Helper()
	e.serveMu.Lock()
	p := e.serve
	e.serve = nil
	e.serveMu.Unlock()
	if p == nil {
		e.t.Fatal("e2e: serve is not running")
	}
	select {
	case <-p.done:
		e.fatalf("refdesk serve exited on its own before it was %s: %v", how, p.waitErr)
	default:
	}
	return p
}

// stopServe stops serve the way an init system does (SIGTERM) and requires
// a clean exit (status 0) within five seconds.
func (e *e2eEnv) stopServe() {
	e.t.Helper()
	p := e.takeServe("stopped")
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		e.fatalf("refdesk serve did not exit within 5s of SIGTERM")
	}
	if p.waitErr != nil {
		e.fatalf("refdesk serve did not exit cleanly after SIGTERM: %v", p.waitErr)
	}
	e.appendLog(fmt.Sprintf("=== e2e: serve stopped by SIGTERM, exit 0 after %v ===\n", time.Since(start).Round(time.Millisecond)))
}

// crashServe kills serve with SIGKILL (no chance to clean up) and waits for
// it to be gone.
func (e *e2eEnv) crashServe() {
	e.t.Helper()
	p := e.takeServe("killed")
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		e.fatalf("refdesk serve still running 5s after SIGKILL")
	}
	e.appendLog("=== e2e: serve killed with SIGKILL ===\n")
}

// killServe is the cleanup for a test that failed with serve running.
func (e *e2eEnv) killServe() {
	e.serveMu.Lock()
	p := e.serve
	e.serve = nil
	e.serveMu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// serveAlive fails the test if serve died on its own.
func (e *e2eEnv) serveAlive() {
	e.t.Helper()
	e.serveMu.Lock()
	p := e.serve
	e.serveMu.Unlock()
	if p == nil {
		return
	}
	select {
	case <-p.done:
		e.fatalf("refdesk serve exited on its own: %v", p.waitErr)
	default:
	}
}

// serveLog looks for clients' personal data in the serve log (SPEC §9:
// logs carry references and UIDs, never names or phone numbers).
func (e *e2eEnv) serveLog() *leakFinder {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	return newLeakFinder(string(b))
}

func (e *e2eEnv) appendLog(s string) {
	if f, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		f.WriteString(s)
		f.Close()
	}
}

// ---- the CLI ----

// cli runs `refdesk ARGS --config FILE` and returns its stdout; a non-zero
// exit fails the test.
func (e *e2eEnv) cli(args ...string) []byte {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append(args, "--config", e.cfgPath)...)
	cmd.Env = e.env
	cmd.Dir = e.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.fatalf("refdesk %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// cliJSON runs a --json command and decodes its output into v.
func (e *e2eEnv) cliJSON(v any, args ...string) {
	e.t.Helper()
	out := e.cli(append(args, "--json")...)
	if err := json.Unmarshal(out, v); err != nil {
		e.fatalf("refdesk %s --json: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliReferral is the part of `list --json` and `show --json` the tests read
// (SPEC §7 field names).
type cliReferral struct {
	ID         string            `json:"id"`
	Status     string            `json:"status"`
	Decision   string            `json:"decision"`
	Partner    string            `json:"partner"`
	ReceivedAt string            `json:"received_at"`
	ClientName string            `json:"client_name"`
	Service    string            `json:"service"`
	Fields     map[string]string `json:"fields"`
	Events     []struct {
		Kind string `json:"kind"`
		From string `json:"from"`
		To   string `json:"to"`
		Note string `json:"note"`
	} `json:"events"`
}

type cliMessage struct {
	ID          string `json:"id"`
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Disposition string `json:"disposition"`
	Reason      string `json:"reason"`
	Folder      string `json:"folder"`
}

type cliOut struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	To        string `json:"to"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	MessageID string `json:"message_id"`
}

func (e *e2eEnv) list() []cliReferral {
	e.t.Helper()
	var rs []cliReferral
	e.cliJSON(&rs, "list")
	return rs
}

func (e *e2eEnv) show(id string) cliReferral {
	e.t.Helper()
	var r cliReferral
	e.cliJSON(&r, "show", id)
	return r
}

func (e *e2eEnv) outbox() []cliOut {
	e.t.Helper()
	var os []cliOut
	e.cliJSON(&os, "outbox")
	return os
}

// ---- IMAP, as the mailbox owner sees it ----

// appendInbox APPENDs raw messages to the INBOX, as an MTA would deliver them.
func (e *e2eEnv) appendInbox(msgs ...[]byte) {
	e.t.Helper()
	e.imapMu.Lock()
	defer e.imapMu.Unlock()
	for _, raw := range msgs {
		cmd := e.imap.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			e.fatalf("imap append: %v", err)
		}
		if err := cmd.Close(); err != nil {
			e.fatalf("imap append: %v", err)
		}
		if _, err := cmd.Wait(); err != nil {
			e.fatalf("imap append: %v", err)
		}
	}
}

// counts returns the number of messages in each mailbox (IMAP STATUS); a
// mailbox that does not exist (yet) counts as -1.
func (e *e2eEnv) counts(mailboxes ...string) map[string]int {
	e.t.Helper()
	e.imapMu.Lock()
	defer e.imapMu.Unlock()
	out := map[string]int{}
	for _, mb := range mailboxes {
		st, err := e.imap.Status(mb, &imap.StatusOptions{NumMessages: true}).Wait()
		var ie *imap.Error
		if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeNonExistent || strings.Contains(ie.Text, "doesn't exist")) {
			out[mb] = -1
			continue
		}
		if err != nil {
			e.fatalf("imap status %s: %v", mb, err)
		}
		out[mb] = int(*st.NumMessages)
	}
	return out
}

// messageIDs returns the Message-IDs (without brackets) of every message in
// a mailbox, examined read-only so nothing about it changes.
func (e *e2eEnv) messageIDs(mailbox string) map[string]int {
	e.t.Helper()
	e.imapMu.Lock()
	defer e.imapMu.Unlock()
	sel, err := e.imap.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		e.fatalf("imap examine %s: %v", mailbox, err)
	}
	defer func() { e.imap.Unselect().Wait() }()
	out := map[string]int{}
	if sel.NumMessages == 0 {
		return out
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0) // 1:*
	got, err := e.imap.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		e.fatalf("imap fetch envelopes of %s: %v", mailbox, err)
	}
	for _, m := range got {
		if m.Envelope != nil {
			out[m.Envelope.MessageID]++
		}
	}
	return out
}

// mailboxState is "INBOX=3 Processed=2 Quarantine=0" for failure messages.
func mailboxState(c map[string]int) string {
	return fmt.Sprintf("INBOX=%d Processed=%d Quarantine=%d", c["INBOX"], c["Processed"], c["Quarantine"])
}

func (e *e2eEnv) folders() map[string]int {
	e.t.Helper()
	return e.counts("INBOX", "Processed", "Quarantine")
}

// waitProcessed waits until the INBOX is empty and Processed and Quarantine
// hold what the test expects.
func (e *e2eEnv) waitProcessed(processed, quarantined int, timeout time.Duration) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("INBOX=0 Processed=%d Quarantine=%d", processed, max(quarantined, 0)), timeout, func() (bool, string) {
		e.serveAlive()
		c := e.folders()
		q := max(c["Quarantine"], 0)
		return c["INBOX"] == 0 && c["Processed"] == processed && q == quarantined, mailboxState(c)
	})
}
