//go:build unix

package dovecottest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const testMessage = "From: Intake <intake@clinic.example>\r\n" +
	"To: referrals@eastside.example\r\n" +
	"Subject: Referral 42\r\n" +
	"Message-ID: <referral-42@clinic.example>\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"\r\n" +
	"Please see the attached referral.\r\n"

func TestServer(t *testing.T) {
	t0 := time.Now()
	srv := Start(t)
	t.Logf("Start took %v (addr %s, dir %s)", time.Since(t0).Round(time.Millisecond), srv.Addr, srv.Dir)
	defer func() {
		if t.Failed() {
			t.Logf("dovecot log:\n%s", srv.Log())
		}
	}()

	c := srv.Dial(t)
	caps := c.Caps()
	for _, capa := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if !caps.Has(capa) {
			t.Fatalf("capability %s not advertised; have %v", capa, caps)
		}
	}

	// A second client IDLEs on INBOX and must see the new message.
	// The handler runs on the client's reader goroutine: never block.
	exists := make(chan uint32, 16)
	idler := srv.DialOptions(t, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages == nil {
					return
				}
				select {
				case exists <- *data.NumMessages:
				default:
				}
			},
		},
	})
	sel, err := idler.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("idler SELECT INBOX: %v", err)
	}
	if sel.NumMessages != 0 {
		t.Fatalf("fresh INBOX has %d messages", sel.NumMessages)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}

	appendStart := time.Now()
	app := c.Append("INBOX", int64(len(testMessage)), nil)
	if _, err := app.Write([]byte(testMessage)); err != nil {
		t.Fatalf("APPEND write: %v", err)
	}
	if err := app.Close(); err != nil {
		t.Fatalf("APPEND close: %v", err)
	}
	appData, err := app.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if appData.UID == 0 {
		t.Fatalf("APPEND returned no APPENDUID: %+v", appData)
	}

	select {
	case n := <-exists:
		t.Logf("IDLE saw EXISTS %d %v after APPEND", n, time.Since(appendStart).Round(time.Millisecond))
		if n != 1 {
			t.Errorf("EXISTS = %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no EXISTS during IDLE within 10s of APPEND")
	}
	// Commands block while IDLE is running: end it before using idler.
	if err := idle.Close(); err != nil {
		t.Fatalf("IDLE close: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if err := idler.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after IDLE: %v", err)
	}

	if err := c.Create("Processed", nil).Wait(); err != nil {
		t.Fatalf("CREATE Processed: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<referral-42@clinic.example>"}},
	}, nil).Wait()
	if err != nil {
		t.Fatalf("UID SEARCH: %v", err)
	}
	if uids := found.AllUIDs(); len(uids) != 1 || uids[0] != appData.UID {
		t.Fatalf("UID SEARCH = %v, want [%d]", uids, appData.UID)
	}
	moved, err := c.Move(imap.UIDSetNum(appData.UID), "Processed").Wait()
	if err != nil {
		t.Fatalf("UID MOVE: %v", err)
	}
	destUIDs, ok := moved.DestUIDs.(imap.UIDSet)
	if !ok || len(destUIDs) == 0 {
		t.Fatalf("UID MOVE returned no COPYUID: %+v", moved)
	}
	st, err := c.Status("Processed", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS Processed: %v", err)
	}
	if st.NumMessages == nil || *st.NumMessages != 1 {
		t.Fatalf("Processed has %v messages, want 1", st.NumMessages)
	}

	srv.Stop()
	srv.Stop() // idempotent
	t1 := time.Now()
	srv.Restart(t)
	t.Logf("Restart took %v", time.Since(t1).Round(time.Millisecond))

	c2 := srv.Dial(t)
	inbox, err := c2.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS INBOX after restart: %v", err)
	}
	if *inbox.NumMessages != 0 {
		t.Errorf("INBOX has %d messages after MOVE+restart, want 0", *inbox.NumMessages)
	}
	proc, err := c2.Select("Processed", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT Processed after restart: %v", err)
	}
	if proc.NumMessages != 1 {
		t.Fatalf("Processed has %d messages after restart, want 1", proc.NumMessages)
	}
	msgs, err := c2.Fetch(destUIDs, &imap.FetchOptions{
		UID:         true,
		Flags:       true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("UID FETCH after restart: %v", err)
	}
	if len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
		t.Fatalf("UID FETCH %v returned %d messages", destUIDs, len(msgs))
	}
	body := msgs[0].BodySection[0].Bytes
	if !bytes.Contains(body, []byte("Subject: Referral 42")) {
		t.Errorf("moved message body = %q", body)
	}
	for _, f := range msgs[0].Flags {
		if f == imap.FlagSeen {
			t.Errorf("message became \\Seen although only peeked: %v", msgs[0].Flags)
		}
	}
	srv.Stop()
	checkLogClean(t, srv)
}

func TestKillRestart(t *testing.T) {
	srv := Start(t)
	addr := srv.Addr
	c := srv.Dial(t)
	if err := c.Create("Processed", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	app := c.Append("Processed", int64(len(testMessage)), nil)
	app.Write([]byte(testMessage))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}

	t0 := time.Now()
	srv.Kill()
	t.Logf("Kill took %v", time.Since(t0).Round(time.Millisecond))
	srv.Kill() // idempotent
	// The old connection must be dead.
	if err := c.Noop().Wait(); err == nil {
		t.Errorf("NOOP on a killed server succeeded")
	}

	srv.Restart(t)
	srv.Restart(t) // Restart on a running server stops it first
	if srv.Addr != addr {
		t.Fatalf("Restart changed address %s -> %s", addr, srv.Addr)
	}
	st, err := srv.Dial(t).Status("Processed", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS after kill+restart: %v", err)
	}
	if *st.NumMessages != 1 {
		t.Errorf("Processed has %d messages after kill+restart, want 1", *st.NumMessages)
	}
	if log := srv.Log(); strings.Count(log, "starting up for imap") != 3 {
		t.Errorf("Log() should show 3 startups:\n%s", log)
	}
}

// Long test names give long temp dirs; unix socket paths under base_dir must
// still fit.
func TestLongTempDirName(t *testing.T) {
	t.Run(strings.Repeat("very_long_subtest_name_", 5), func(t *testing.T) {
		srv := Start(t)
		t.Logf("Dir %s (%d bytes), base_dir %s", srv.Dir, len(srv.Dir), srv.baseDir)
		if len(srv.baseDir)+longestSockName > maxSunPath {
			t.Fatalf("base_dir %q too long", srv.baseDir)
		}
		if err := srv.Dial(t).Noop().Wait(); err != nil {
			t.Fatalf("NOOP: %v", err)
		}
		srv.Stop()
		checkLogClean(t, srv)
	})
}

// checkLogClean fails the test if Dovecot logged errors, e.g. because one of
// its unprivileged processes could not reach a socket or file.
func checkLogClean(t *testing.T, srv *Server) {
	t.Helper()
	for _, line := range strings.Split(srv.Log(), "\n") {
		for _, bad := range []string{" Error: ", " Fatal: ", " Panic: ", "Permission denied"} {
			if strings.Contains(line, bad) {
				t.Errorf("dovecot logged a problem: %s", line)
			}
		}
	}
}
