package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"refdesk/store"
)

const (
	maria   = "Maria Lopez <maria.lopez@northside-housing.example>"
	goodRef = `
Client name: Dana Whitfield
Phone: 555-014-2000
ZIP: 60601
Needs: a budget
Consent: yes
`
)

func countRows(t *testing.T, st *store.Store, q string) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDaemonTakesInMailAndMovesItAfterCommit(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	st := openStore(t, cfg)
	m.appendMsg(t, "INBOX", referral(maria, "New referral", goodRef))
	m.appendMsg(t, "INBOX", referral(maria, "Crisis", `
Client name: Luis Ortega
Phone: 555-013-7788
Needs: eviction notice, rent behind
Consent: yes
`))
	m.appendMsg(t, "INBOX", referral(maria, "Incomplete", "Client name: Terrence Hall\nZIP: 60603\n"))
	m.appendMsg(t, "INBOX", referral(maria, "Automatic reply: out of office", "I am away.", "Auto-Submitted: auto-replied"))
	m.appendMsg(t, "INBOX", []byte("this line is not a header\r\nneither: is this one\r\n\r\nbody\r\n"))
	big := referral(maria, "Huge", goodRef+"\nNotes: "+strings.Repeat("x", 70<<10)+"\n")
	m.appendMsg(t, "INBOX", big)

	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "inbox not emptied", func() bool { return m.Count(t, "INBOX") == 0 })

	if got := m.Count(t, "Processed"); got != 4 {
		t.Errorf("Processed has %d messages, want 4 (three referrals and the auto-reply)", got)
	}
	if got := m.Count(t, "Quarantine"); got != 2 {
		t.Errorf("Quarantine has %d messages, want 2 (the malformed one and the oversize one)", got)
	}
	for _, fl := range m.flags(t, "Processed") {
		if slices.Contains(fl, imap.FlagSeen) {
			t.Errorf("a processed message is \\Seen: intake must fetch with BODY.PEEK[]")
		}
	}
	var decisions []string
	if err := st.DB().Select(&decisions, "SELECT decision FROM referrals ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"accepted", "redirected", "needs-info"}; !slices.Equal(decisions, want) {
		t.Errorf("decisions = %v, want %v", decisions, want)
	}
	if n := countRows(t, st, "SELECT count(*) FROM outbox WHERE status = 'pending' AND kind <> 'too-large'"); n != 3 {
		t.Errorf("%d replies queued, want 3 (none for the auto-reply or unparseable mail)", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM outbox WHERE kind = 'too-large' AND to_addr = 'maria.lopez@northside-housing.example'"); n != 1 {
		t.Errorf("%d too-large replies to the partner, want 1", n)
	}
	var reasons []string
	if err := st.DB().Select(&reasons, "SELECT reason FROM messages WHERE disposition = 'quarantined' ORDER BY uid"); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 2 || !strings.HasPrefix(reasons[0], "unparseable") || !strings.HasPrefix(reasons[1], "too large") {
		t.Errorf("quarantine reasons = %q", reasons)
	}
	if n := countRows(t, st, "SELECT count(*) FROM messages m WHERE reason LIKE 'too large%' AND NOT EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = m.id)"); n != 1 {
		t.Errorf("the oversize message was fetched (raw stored) or not recorded: %d rows", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM messages WHERE moved_to = ''"); n != 0 {
		t.Errorf("%d messages not recorded as moved", n)
	}
}

func TestWithoutMoveOrUIDPlusMessagesAreFlaggedAndLeft(t *testing.T) {
	m := startMem(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}})
	cfg := testConfig(t, m.addr)
	st := openStore(t, cfg)
	// Another client's message waiting to be expunged: a plain EXPUNGE
	// would destroy it.
	m.appendMsg(t, "INBOX", referral(maria, "Deleted by a coach", goodRef), imap.FlagDeleted)
	m.appendMsg(t, "INBOX", referral(maria, "New referral", goodRef))
	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "message not copied to Processed", func() bool { return m.Count(t, "Processed") == 1 })
	time.Sleep(300 * time.Millisecond) // give a wrong EXPUNGE the chance to happen
	if got := m.Count(t, "INBOX"); got != 2 {
		t.Fatalf("INBOX has %d messages, want both left in place", got)
	}
	fl := m.flags(t, "INBOX")
	hasDone := func(fl []imap.Flag) bool {
		return slices.ContainsFunc(fl, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(doneFlag)) })
	}
	if !hasDone(fl[1]) {
		t.Errorf("processed message flags = %v, want %s", fl[1], doneFlag)
	}
	if hasDone(fl[0]) {
		t.Errorf("the \\Deleted message of another client was processed")
	}
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 1 {
		t.Errorf("%d referrals, want 1", n)
	}
}

func TestUIDPlusWithoutMoveExpungesOnlyItsOwnMessages(t *testing.T) {
	m := startMem(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}})
	cfg := testConfig(t, m.addr)
	st := openStore(t, cfg)
	m.appendMsg(t, "INBOX", referral(maria, "Deleted by a coach", goodRef), imap.FlagDeleted)
	m.appendMsg(t, "INBOX", referral(maria, "New referral", goodRef))
	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "message not moved", func() bool { return m.Count(t, "Processed") == 1 })
	// COPY, STORE and UID EXPUNGE are three commands: the inbox shrinks
	// after the copy arrives.
	eventually(t, 10*time.Second, "message not expunged", func() bool { return m.Count(t, "INBOX") <= 1 })
	time.Sleep(200 * time.Millisecond)
	if got := m.Count(t, "INBOX"); got != 1 {
		t.Fatalf("INBOX has %d messages, want 1: the other client's \\Deleted message must survive UID EXPUNGE", got)
	}
}

func TestCrashBetweenCommitAndMoveAnswersOnce(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	st := openStore(t, cfg)
	raw := referral(maria, "New referral", goodRef)
	m.appendMsg(t, "INBOX", raw)
	// A previous run committed this message (UIDVALIDITY and UID as the
	// server has them) and died before the MOVE.
	c := m.client(t)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	proc := NewProcessor(cfg)
	err = st.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := proc.Process(tx, Inbound{Mailbox: "INBOX", UIDValidity: sel.UIDValidity, UID: 1, Raw: raw, Size: int64(len(raw))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "message not moved", func() bool { return m.Count(t, "INBOX") == 0 })
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 1 {
		t.Errorf("%d referrals, want 1", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM outbox"); n != 1 {
		t.Errorf("%d replies queued, want 1", n)
	}
}

func TestUIDValidityChangeNeitherLosesNorDuplicates(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.IMAP.Mailbox = "Referrals"
	st := openStore(t, cfg)
	c := m.client(t)
	if err := c.Create("Referrals", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	first := referral(maria, "New referral", goodRef)
	m.appendMsg(t, "Referrals", first)
	runDaemon(t, cfg, st, nil)
	eventually(t, 10*time.Second, "first message not processed", func() bool { return m.Count(t, "Processed") == 1 })

	// The server recreates the mailbox (new UIDVALIDITY) and the same
	// message shows up again, with a new one beside it.
	if err := c.Delete("Referrals").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Referrals", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "Referrals", first)
	m.Restart(t) // servers disconnect a session whose mailbox was deleted
	m.appendMsg(t, "Referrals", referral(maria, "Another", "Client name: Ruth Park\nPhone: 555-016-1234\nConsent: yes\n"))
	eventually(t, 15*time.Second, "messages after the UIDVALIDITY change not moved", func() bool { return m.Count(t, "Processed") == 3 })
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 2 {
		t.Errorf("%d referrals, want 2 (the copy is not a new referral)", n)
	}
	if n := countRows(t, st, "SELECT count(*) FROM outbox"); n != 2 {
		t.Errorf("%d replies queued, want 2 (no second reply to the copy)", n)
	}
}

func TestIdleNoticesNewMailAndReconnects(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.IMAP.PollInterval.Duration = time.Hour // only IDLE can notice the mail
	st := openStore(t, cfg)
	log := &logBuffer{}
	runDaemon(t, cfg, st, log)
	eventually(t, 5*time.Second, "daemon not connected", func() bool { return strings.Contains(log.String(), "imap connected") })
	// go-imap's in-memory server does not announce mail that arrived just
	// before an IDLE began (Dovecot does); let the daemon start idling.
	time.Sleep(200 * time.Millisecond)
	m.appendMsg(t, "INBOX", referral(maria, "New referral", goodRef))
	eventually(t, 5*time.Second, "new mail not noticed in IDLE", func() bool { return m.Count(t, "Processed") == 1 })

	m.Restart(t) // the server drops every connection
	m.appendMsg(t, "INBOX", referral(maria, "After the restart", "Client name: Ruth Park\nPhone: 555-016-1234\nConsent: yes\n"))
	eventually(t, 15*time.Second, "mail after a reconnect not taken in", func() bool { return m.Count(t, "Processed") == 2 })
	if !strings.Contains(log.String(), "imap session ended") {
		t.Errorf("the dropped connection was not logged")
	}
	if strings.Contains(log.String(), "Dana") || strings.Contains(log.String(), "5550142000") {
		t.Errorf("the log names a client:\n%s", log.String())
	}
}

// TestMovesGatherAfterTheirCommits lets committed messages gather into
// moves of several chunks while the drain goes on: each message is moved
// once, only after its transaction committed, and its folder is recorded.
func TestMovesGatherAfterTheirCommits(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr) // batch_size = 3
	st := openStore(t, cfg)
	const n = 11
	for i := range n {
		m.appendMsg(t, "INBOX", referral(maria, fmt.Sprint("Referral ", i), fmt.Sprintf("Client name: Client %c\nPhone: 555-000-%04d\nConsent: yes\n", 'A'+i, i)))
	}
	d := NewDaemon(cfg, st, NewProcessor(cfg), testLogger(nil))
	d.moveMin = 4
	var mu sync.Mutex
	seen := map[int64]int{}
	d.OnProcessed = func(p Processed) {
		// Moved: the message must be committed already.
		var stored int
		if err := st.DB().Get(&stored, "SELECT count(*) FROM messages WHERE id = ?", p.ID); err != nil || stored != 1 {
			t.Errorf("M-%d moved before its commit (%v)", p.ID, err)
		}
		mu.Lock()
		seen[p.ID]++
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually(t, 10*time.Second, "inbox not emptied", func() bool { return m.Count(t, "INBOX") == 0 })
	eventually(t, 5*time.Second, "moves not recorded", func() bool {
		return countRows(t, st, "SELECT count(*) FROM messages WHERE moved_to = 'Processed'") == n
	})
	if got := m.Count(t, "Processed"); got != n {
		t.Errorf("Processed has %d messages, want %d", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("%d messages reported processed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("M-%d reported %d times", id, k)
		}
	}
}

// TestMoveOutScatteredUIDs: a move whose UID set is too long for one
// command line (every other message, so the set does not shrink to runs)
// goes in several commands and leaves none behind, the parts' edges
// included.
func TestMoveOutScatteredUIDs(t *testing.T) {
	m := startMem(t, rev2)
	const n = 2001
	c := m.client(t)
	for i := range n {
		appendAll(t, c, fmt.Appendf(nil, "From: a@x\r\nSubject: %d\r\n\r\nbody\r\n", i))
	}
	if err := EnsureMailbox(c, "Processed"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var odd []imap.UID
	for u := imap.UID(1); u <= n; u += 2 {
		odd = append(odd, u)
	}
	if sets := uidSets(odd, maxSetLen); len(sets) < 2 {
		t.Fatalf("%d UIDs in %d command(s): the test needs more", len(odd), len(sets))
	}
	if err := MoveOut(c, odd, "Processed", nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got, left := m.Count(t, "Processed"), m.Count(t, "INBOX"); got != len(odd) || left != n-len(odd) {
		t.Errorf("moved %d of %d, %d left of %d", got, len(odd), left, n-len(odd))
	}
}

// uidSets keeps every UID once, in sets written within the limit, and a
// run of UIDs as one range.
func TestUIDSets(t *testing.T) {
	if sets := uidSets([]imap.UID{5, 1, 2, 3, 9, 3}, 100); len(sets) != 1 || sets[0].String() != "1:3,5,9" {
		t.Errorf("uidSets = %v", sets)
	}
	if sets := uidSets(nil, 100); len(sets) != 0 {
		t.Errorf("uidSets(nil) = %v", sets)
	}
	var uids []imap.UID
	for u := imap.UID(4000000000); len(uids) < 3000; u += 3 {
		uids = append(uids, u, u+1)
	}
	sets := uidSets(uids, 4000)
	var got []imap.UID
	for _, s := range sets {
		if len(s.String()) > 4000 {
			t.Errorf("a set of %d bytes", len(s.String()))
		}
		for _, r := range s {
			for u := r.Start; u <= r.Stop; u++ {
				got = append(got, u)
			}
		}
	}
	if !slices.Equal(got, uids) {
		t.Errorf("%d UIDs in %d sets, want %d", len(got), len(sets), len(uids))
	}
}

// TestIntakeOfAScatteredInbox: an inbox whose messages to take in are every
// other one (the rest flagged done by an earlier run on a server without
// MOVE), in a batch larger than one command line holds as a UID set: the
// sizes and the bodies are fetched in several commands, and every message
// is taken in once.
func TestIntakeOfAScatteredInbox(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.IMAP.BatchSize = 5000
	st := openStore(t, cfg)
	const n = 2001
	c := m.client(t)
	for i := range n {
		var flags []imap.Flag
		if i%2 == 1 {
			flags = []imap.Flag{doneFlag}
		}
		raw := referral(maria, fmt.Sprint("Referral ", i), fmt.Sprintf("Client name: Client %d\nPhone: 555-%07d\nConsent: yes\n", i, i))
		appendOne(t, c, "INBOX", raw, flags...)
	}
	c.Close()
	var fresh []imap.UID
	for u := imap.UID(1); u <= n; u += 2 {
		fresh = append(fresh, u)
	}
	if sets := uidSets(fresh, maxSetLen); len(sets) < 2 {
		t.Fatalf("the %d UIDs to take in fit one command: the test needs more", len(fresh))
	}
	d := NewDaemon(cfg, st, NewProcessor(cfg), testLogger(nil))
	var processed atomic.Int64
	d.OnProcessed = func(Processed) { processed.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	want := (n + 1) / 2
	eventually(t, 30*time.Second, "the messages not done not all taken in", func() bool {
		return processed.Load() == int64(want) && m.Count(t, "Processed") == want
	})
	if got := countRows(t, st, "SELECT count(*) FROM messages"); got != want {
		t.Errorf("%d messages stored, want %d", got, want)
	}
	if left := m.Count(t, "INBOX"); left != n-want {
		t.Errorf("%d messages left in the inbox, want the %d done before", left, n-want)
	}
}
