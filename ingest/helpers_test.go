package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"refdesk/configs"
	"refdesk/ingest/imaptest"
	"refdesk/store"
)

const (
	testUser = "referrals@eastside.example"
	testPass = "secret-imap-password"
)

// memServer is go-imap's in-memory IMAP server on a loopback port
// (imaptest), with the helpers intake's tests use.
type memServer struct {
	*imaptest.Server
	addr string
}

// startMem starts an in-memory IMAP server with the given capabilities
// (IMAP4rev2 implies IDLE, MOVE and UIDPLUS).
func startMem(t *testing.T, caps imap.CapSet) *memServer {
	t.Helper()
	s := imaptest.Start(t, imaptest.Options{User: testUser, Password: testPass, Caps: caps})
	return &memServer{Server: s, addr: s.Addr}
}

var rev2 = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}

// client logs in to the server; closed at cleanup.
func (m *memServer) client(t *testing.T) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(m.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (m *memServer) appendMsg(t *testing.T, mailbox string, raw []byte, flags ...imap.Flag) {
	t.Helper()
	c := m.client(t)
	appendOne(t, c, mailbox, raw, flags...)
	c.Close()
}

// appendOne appends raw to mailbox over c, with flags.
func appendOne(t *testing.T, c *imapclient.Client, mailbox string, raw []byte, flags ...imap.Flag) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// flags returns the flags of every message in a mailbox.
func (m *memServer) flags(t *testing.T, mailbox string) [][]imap.Flag {
	t.Helper()
	c := m.client(t)
	defer c.Close()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) == 0 {
		// an empty mailbox: nothing to fetch
		return nil
	}
	var out [][]imap.Flag
	for _, m := range msgs {
		out = append(out, m.Flags)
	}
	return out
}

// testConfig is a config for a memServer: partners, services and the rules
// of the demo.
func testConfig(t *testing.T, imapAddr string) *configs.Config {
	t.Helper()
	t.Setenv("REFDESK_TEST_IMAP_PASSWORD", testPass)
	src := fmt.Sprintf(`
[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
phone = "555-0100"
timezone = "America/Chicago"
capacity = 0

[database]
path = %q

[imap]
address = %q
security = "none"
username = %q
password_env = "REFDESK_TEST_IMAP_PASSWORD"
poll_interval = "1s"
batch_size = 3

[smtp]
address = "127.0.0.1:1"
security = "none"
auth = "none"

[intake]
trusted_authserv_id = "mx.eastside.example"
max_message_size = "64KB"
replies_per_sender_per_hour = 5

[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]

[[partners]]
id = "westside-workforce"
name = "Westside Workforce Center"
domains = ["westside-workforce.example"]

[[services]]
id = "emergency-desk"
name = "Emergency Assistance Desk"
contact = "555-0199"

[[services]]
id = "county-211"
name = "County 2-1-1"
contact = "dial 2-1-1"

[[services]]
id = "youth-money"
name = "Youth Money Skills"
contact = "555-0177"

[[rules]]
id = "crisis-words"
then = "redirect"
service = "emergency-desk"
reason = "The client seems to be in crisis."
keywords = ["eviction", "shut-off", "no food"]

[[rules]]
id = "crisis-screen"
then = "redirect"
service = "emergency-desk"
reason = "The crisis screen says yes."
field_yes = "crisis"

[[rules]]
id = "out-of-area"
then = "redirect"
service = "county-211"
reason = "Outside our service area."
zip_not_in = ["60601", "60602", "60603"]

[[rules]]
id = "minor"
then = "redirect"
service = "youth-money"
reason = "Our coaching is for adults."
age_below = 18

[[rules]]
id = "spanish-waitlist"
then = "waitlist"
reason = "Our Spanish-speaking coach is fully booked."
field = "language"
in = ["spanish"]
`, filepath.Join(t.TempDir(), "refdesk.db"), imapAddr, testUser)
	cfg, err := configs.Parse("test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openStore(t *testing.T, cfg *configs.Config) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// logBuffer is a concurrency-safe log sink for tests that read the log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(w *logBuffer) *slog.Logger {
	if w == nil {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// referral writes a referral email. Extra header lines go before the body.
func referral(from, subject, body string, headers ...string) []byte {
	var b strings.Builder
	id := strings.NewReplacer(" ", "", "@", ".").Replace(subject+from) + fmt.Sprint(time.Now().UnixNano())
	fmt.Fprintf(&b, "From: %s\r\nTo: referrals@eastside.example\r\nSubject: %s\r\nDate: Mon, 23 Nov 2026 10:00:00 -0600\r\nMessage-ID: <%s@test.example>\r\n", from, subject, id)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.TrimLeft(body, "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

// runDaemon runs an intake daemon until the test ends.
func runDaemon(t *testing.T, cfg *configs.Config, st *store.Store, log *logBuffer) *Daemon {
	t.Helper()
	return runDaemonWith(t, cfg, st, NewProcessor(cfg), log)
}

// runDaemonWith is runDaemon with a processor of the test's own.
func runDaemonWith(t *testing.T, cfg *configs.Config, st *store.Store, p *Processor, log *logBuffer) *Daemon {
	t.Helper()
	d := NewDaemon(cfg, st, p, testLogger(log))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop within 10s of its context ending")
		}
	})
	return d
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appendAll APPENDs msgs to INBOX over c, one after the other.
func appendAll(t *testing.T, c *imapclient.Client, msgs ...[]byte) {
	t.Helper()
	for _, raw := range msgs {
		appendOne(t, c, "INBOX", raw)
	}
}
