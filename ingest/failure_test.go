//go:build unix

package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/mattn/go-sqlite3"

	"refdesk/configs"
	"refdesk/ingest/dovecottest"
	"refdesk/store"
)

// Failure injection against real peers: a real Dovecot killed mid-batch and
// during IDLE, the database locked by another process or out of space, and
// a mailbox recreated under a new UIDVALIDITY. Each ends with every message
// taken in exactly once.

// dovecotConfig points testConfig at a Dovecot.
func dovecotConfig(t *testing.T, srv *dovecottest.Server, batch int) *configs.Config {
	t.Helper()
	cfg := testConfig(t, srv.Addr)
	t.Setenv("REFDESK_TEST_IMAP_PASSWORD", srv.Password)
	cfg.IMAP.Username = srv.User
	cfg.IMAP.BatchSize = batch
	cfg.Intake.RepliesPerSenderPerHour = 100000
	return cfg
}

func numbered(i int) []byte {
	return referral(fmt.Sprintf("Caseworker %d <cw%d@northside-housing.example>", i%7, i%7), fmt.Sprintf("Referral %d", i),
		fmt.Sprintf("Client name: Client Number%d\nPhone: 555-2%02d-%04d\nZIP: 60601\nConsent: yes\n", i, i/10000, i%10000))
}

// status counts a mailbox's messages; -1 while the server is down.
func status(t *testing.T, srv *dovecottest.Server, mailbox string) int {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		return -1
	}
	defer c.Close()
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		return -1
	}
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// exactlyOnce checks that n messages became n referrals with n replies, and
// that nothing is left in the inbox.
func exactlyOnce(t *testing.T, st *store.Store, srv *dovecottest.Server, n int) {
	t.Helper()
	if r := countRows(t, st, "SELECT count(*) FROM referrals"); r != n {
		t.Errorf("%d referrals for %d messages", r, n)
	}
	if r := countRows(t, st, "SELECT count(*) FROM outbox"); r != n {
		t.Errorf("%d replies queued for %d messages", r, n)
	}
	if r := countRows(t, st, "SELECT count(DISTINCT sha256) FROM messages"); r != n {
		t.Errorf("%d distinct messages stored for %d", r, n)
	}
	if got := status(t, srv, "Processed"); got != n {
		t.Errorf("Processed holds %d, want %d", got, n)
	}
}

func TestDovecotRestartedMidBatch(t *testing.T) {
	srv := dovecottest.Start(t)
	cfg := dovecotConfig(t, srv, 25)
	st := openStore(t, cfg)
	const n = 200
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, numbered(i))
	}
	appendAll(t, srv.Dial(t), msgs...)
	d := NewDaemon(cfg, st, NewProcessor(cfg), testLogger(nil))
	var once sync.Once
	killed := make(chan struct{})
	d.OnCommit = func() {
		// After the first chunk committed, before it is moved: the
		// server dies (it comes back a second later).
		once.Do(func() { srv.Kill(); close(killed) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing committed")
	}
	time.Sleep(time.Second)
	srv.Restart(t)
	eventually(t, 60*time.Second, "inbox not emptied after the restart", func() bool { return status(t, srv, "INBOX") == 0 })
	exactlyOnce(t, st, srv, n)
}

func TestDovecotCutDuringIdle(t *testing.T) {
	srv := dovecottest.Start(t)
	cfg := dovecotConfig(t, srv, 25)
	st := openStore(t, cfg)
	logs := &logBuffer{}
	runDaemon(t, cfg, st, logs)
	appendAll(t, srv.Dial(t), numbered(1))
	eventually(t, 20*time.Second, "first message not taken in", func() bool { return status(t, srv, "Processed") == 1 })
	time.Sleep(300 * time.Millisecond) // back in IDLE
	srv.Kill()
	srv.Restart(t)
	appendAll(t, srv.Dial(t), numbered(2), numbered(3))
	eventually(t, 30*time.Second, "mail after the cut not taken in", func() bool { return status(t, srv, "Processed") == 3 })
	exactlyOnce(t, st, srv, 3)
	if !strings.Contains(logs.String(), "imap session ended") {
		t.Errorf("the cut was not logged:\n%s", logs)
	}
}

// TestDatabaseLockedKeepsMailInInbox: another process holds the database
// past the busy timeout: intake fails with a clear error, the message stays
// in the inbox, and it is taken in once the lock is gone.
func TestDatabaseLockedKeepsMailInInbox(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	st, err := store.OpenWith(context.Background(), cfg.Database.Path, store.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := sql.Open("sqlite3", "file:"+cfg.Database.Path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	m.appendMsg(t, "INBOX", referral(maria, "New referral", goodRef))
	runDaemon(t, cfg, st, logs)
	eventually(t, 10*time.Second, "no error logged", func() bool { return strings.Contains(logs.String(), "database is locked") })
	if !strings.Contains(logs.String(), "the messages stay in the inbox") {
		t.Errorf("the error does not say the mail stays: %s", logs)
	}
	if got := m.Count(t, "INBOX"); got != 1 {
		t.Fatalf("INBOX has %d messages while the database is locked, want 1", got)
	}
	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()
	eventually(t, 15*time.Second, "not taken in after the lock went", func() bool { return m.Count(t, "Processed") == 1 })
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 1 {
		t.Errorf("%d referrals, want 1", n)
	}
}

// TestDiskFullKeepsMailInInbox puts the database on a tiny tmpfs (root
// only: the test is skipped where mount is not allowed) and fills it: the
// error says the disk is full and the mail stays in the inbox.
func TestDiskFullKeepsMailInInbox(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s); the disk-full test needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.Database.Path = filepath.Join(dir, "refdesk.db")
	cfg.Intake.MaxMessageSize = 1 << 20
	cfg.Intake.RepliesPerSenderPerHour = 1000
	st := openStore(t, cfg)
	logs := &logBuffer{}
	pad := strings.Repeat("x", 40<<10)
	for i := range 12 {
		m.appendMsg(t, "INBOX", referral(maria, fmt.Sprintf("Referral %d", i), fmt.Sprintf("Client name: Client %d\nPhone: 555-301-%04d\nConsent: yes\nNotes: %s\n", i, i, pad)))
	}
	runDaemon(t, cfg, st, logs)
	eventually(t, 20*time.Second, "no disk-full error logged", func() bool { return strings.Contains(logs.String(), "database or disk is full") })
	time.Sleep(300 * time.Millisecond)
	left := m.Count(t, "INBOX")
	stored := countRows(t, st, "SELECT count(*) FROM messages")
	if left == 0 || left+stored != 12 {
		t.Errorf("INBOX has %d and the database %d of 12 messages: every message not stored must stay in the inbox", left, stored)
	}
	if got := m.Count(t, "Processed"); got != stored {
		t.Errorf("Processed has %d, but %d were stored: only committed mail may move", got, stored)
	}
	if fi, err := os.Stat(cfg.Database.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode: %v %v", fi.Mode(), err)
	}
}

// TestUIDValidityChange: the server recreates the mailbox (a new
// UIDVALIDITY) holding copies of messages already taken in and one new one:
// the copies are recognised by their hash and not answered again, the
// oversize one (never fetched) by the hash of its header and its size.
func TestUIDValidityChange(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.IMAP.Mailbox = "Referrals"
	cfg.IMAP.IdleTimeout.Duration = time.Second
	c := m.client(t)
	if err := c.Create("Referrals", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, cfg)
	a, b := referral(maria, "Referral A", goodRef), referral(maria, "Referral B", "Client name: Luis Ortega\nPhone: 555-013-7788\nZIP: 60601\nConsent: yes\n")
	big := referral(maria, "Huge", goodRef+"\nNotes: "+strings.Repeat("x", 70<<10)+"\n")
	m.appendMsg(t, "Referrals", a)
	m.appendMsg(t, "Referrals", b)
	m.appendMsg(t, "Referrals", big)
	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "first messages not taken in", func() bool {
		return m.Count(t, "Processed") == 2 && m.Count(t, "Quarantine") == 1
	})
	// The mailbox is deleted and made again; an old backup is restored
	// into it with one message that is new.
	if err := c.Delete("Referrals").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Referrals", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "Referrals", a)
	m.appendMsg(t, "Referrals", big)
	m.appendMsg(t, "Referrals", b)
	m.appendMsg(t, "Referrals", referral(maria, "Referral C", "Client name: Terrence Hall\nPhone: 555-014-9999\nZIP: 60601\nConsent: yes\n"))
	eventually(t, 20*time.Second, "recreated mailbox not emptied", func() bool { return m.Count(t, "Referrals") == 0 })
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 3 {
		t.Errorf("%d referrals, want 3", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM outbox"); n != 4 {
		t.Errorf("%d replies, want 4 (three referrals, one too-large): the copies must not be answered again", n)
	}
	if n := countRows(t, st, "SELECT count(DISTINCT uidvalidity) FROM messages"); n != 2 {
		t.Errorf("messages under %d UIDVALIDITYs, want 2", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM messages WHERE reason LIKE 'copy of M-%'"); n != 3 {
		t.Errorf("%d messages recognised as copies, want 3", n)
	}
	if n := m.Count(t, "Quarantine"); n != 2 {
		t.Errorf("Quarantine holds %d messages, want the oversize one twice", n)
	}
}
