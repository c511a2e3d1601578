package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "refdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addReferral stores one inbound message and one referral made from it.
func addReferral(t *testing.T, s *Store, uid uint32, status string, mod func(*Referral)) *Referral {
	t.Helper()
	r := &Referral{PartnerID: "northside", Decision: status, Status: status, ClientName: "Dana Whitfield",
		NameKey: "dana whitfield", ClientPhone: "5550142", ReceivedAt: s.Now()}
	if mod != nil {
		mod(r)
	}
	err := s.InTx(context.Background(), func(tx *Tx) error {
		m := &Message{Mailbox: "INBOX", UIDValidity: 7, UID: uid, SHA256: "sum" + string(rune('a'+uid)),
			MessageID: "in-" + string(rune('a'+uid)) + "@x", ReceivedAt: s.Now(), ProcessedAt: s.Now(),
			Disposition: DispReferral}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		if _, ok := s.stmts["raw_insert"]; ok { // not in schemas before migration 5 (migration tests)
			if err := tx.PutRaw(m.ID, []byte("raw")); err != nil {
				return err
			}
		}
		r.MessageID = m.ID
		return tx.CreateReferral(r, &m.ID, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenCreatesPrivateFilesAndRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "refdesk.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	addReferral(t, s, 1, StatusAccepted, nil)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
	if _, err := s.DB().Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), path); !errors.Is(err, ErrTooNew) {
		t.Fatalf("opening a newer database: got %v, want ErrTooNew", err)
	}
}

func TestReferencesStartAt1001(t *testing.T) {
	s := openTest(t)
	r := addReferral(t, s, 1, StatusAccepted, nil)
	if r.Ref() != "R-1001" {
		t.Fatalf("first reference is %s, want R-1001", r.Ref())
	}
	got, err := s.Referral(context.Background(), 1001)
	if err != nil || got.ClientPhone != "5550142" || got.Status != StatusAccepted {
		t.Fatalf("read back: %+v, %v", got, err)
	}
}

func TestIntakeIsIdempotentPerUID(t *testing.T) {
	s := openTest(t)
	addReferral(t, s, 5, StatusAccepted, nil)
	err := s.InTx(context.Background(), func(tx *Tx) error {
		return tx.InsertMessage(&Message{Mailbox: "INBOX", UIDValidity: 7, UID: 5, SHA256: "other",
			ReceivedAt: s.Now(), ProcessedAt: s.Now(), Disposition: DispIgnored})
	})
	if err == nil {
		t.Fatal("a second message with the same mailbox, UIDVALIDITY and UID was stored")
	}
	seen, err := s.SeenUIDs(context.Background(), "INBOX", 7, []uint32{4, 5, 6})
	if err != nil || len(seen) != 1 || seen[5].Disposition != DispReferral {
		t.Fatalf("SeenUIDs = %+v, %v", seen, err)
	}
}

func TestStatusMachine(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	r := addReferral(t, s, 1, StatusAccepted, nil)
	_, err := s.UpdateStatus(ctx, r.ID, Change{To: StatusCompleted, By: "coach"})
	var te *TransitionError
	if !errors.As(err, &te) || !errors.Is(err, ErrTransition) {
		t.Fatalf("accepted -> completed: got %v, want a TransitionError", err)
	}
	if _, err := s.UpdateStatus(ctx, r.ID, Change{To: StatusClientDeclined, By: "coach"}); !errors.Is(err, ErrReasonRequired) {
		t.Fatalf("client-declined without reason: got %v", err)
	}
	for _, to := range []string{StatusScheduled, StatusEnrolled} {
		if _, err := s.UpdateStatus(ctx, r.ID, Change{To: to, By: "coach", Note: "ok"}); err != nil {
			t.Fatalf("-> %s: %v", to, err)
		}
	}
	got, err := s.UpdateStatus(ctx, r.ID, Change{To: StatusAccepted, By: "lead", Force: true, Note: "reopened"})
	if err != nil || got.Status != StatusAccepted {
		t.Fatalf("forced change: %v", err)
	}
	ev, err := s.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := ev[len(ev)-1]
	if len(ev) != 4 || !last.Forced || last.By != "lead" || last.FromStatus != StatusEnrolled || last.ToStatus != StatusAccepted {
		t.Fatalf("events = %+v", ev)
	}
}

func TestOutboxClaimLeaseAndRetry(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	r := addReferral(t, s, 1, StatusAccepted, nil)
	key := "report/northside/2026-10"
	for i := 0; i < 2; i++ {
		err := s.InTx(ctx, func(tx *Tx) error {
			added, err := tx.Enqueue(&OutMsg{Kind: "monthly-report", MessageID: "m" + string(rune('0'+i)) + "@eastside.example", To: "a@b.example", DedupeKey: &key, ReferralID: &r.ID})
			if added != (i == 0) {
				t.Errorf("enqueue %d: added = %v", i, added)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Claim(ctx, 10, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %d rows, %v", len(got), err)
	}
	if again, _ := s.Claim(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased row was claimed twice")
	}
	if err := s.MarkRetry(ctx, got[0].ID, now.Add(time.Hour), "421 try later"); err != nil {
		t.Fatal(err)
	}
	due, err := s.NextDue(ctx)
	if err != nil || !due.Equal(now.Add(time.Hour)) {
		t.Fatalf("NextDue = %v, %v", due, err)
	}
	now = now.Add(2 * time.Hour)
	got, _ = s.Claim(ctx, 10, time.Minute)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "421 try later" {
		t.Fatalf("after retry time: %+v", got)
	}
	if err := s.MarkSent(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.Outbox(ctx, OutSent, 0); len(rows) != 1 || rows[0].SentAt == nil {
		t.Fatalf("sent rows: %+v", rows)
	}
}

func TestDuplicateLookup(t *testing.T) {
	s := openTest(t)
	addReferral(t, s, 1, StatusAccepted, func(r *Referral) { r.DateOfBirth = "1980-02-03"; r.ClientEmail = "dana@example.org" })
	addReferral(t, s, 2, StatusCompleted, func(r *Referral) { r.ClientPhone = "5550199" })
	cases := []struct {
		name, phone, email, key, dob string
		want                         bool
	}{
		{"same phone", "5550142", "", "", "", true},
		{"same email", "", "dana@example.org", "", "", true},
		{"name and dob", "", "", "dana whitfield", "1980-02-03", true},
		{"name without dob", "", "", "dana whitfield", "", false},
		{"closed referral's phone", "5550199", "", "", "", false},
		{"nothing", "", "", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.InTxRead(context.Background(), func(tx *Tx) error {
				_, err := tx.OpenDuplicate(c.phone, c.email, c.key, c.dob)
				return err
			})
			if got := err == nil; got != c.want {
				t.Fatalf("found = %v (%v), want %v", got, err, c.want)
			}
		})
	}
}

// TestStatusTableIsSPEC3 checks every (from, to) pair against the table of
// SPEC §3, and which moves need a reason.
func TestStatusTableIsSPEC3(t *testing.T) {
	spec := map[string][]string{
		StatusNeedsInfo:       {StatusAccepted, StatusRedirected, StatusWaitlisted, StatusWithdrawn},
		StatusAccepted:        {StatusScheduled, StatusWaitlisted, StatusClientDeclined, StatusUnableToContact, StatusWithdrawn},
		StatusRedirected:      nil,
		StatusWaitlisted:      {StatusScheduled, StatusAccepted, StatusWithdrawn},
		StatusScheduled:       {StatusEnrolled, StatusNoShow, StatusClientDeclined},
		StatusNoShow:          {StatusScheduled, StatusUnableToContact, StatusClientDeclined},
		StatusEnrolled:        {StatusCompleted, StatusDisengaged},
		StatusCompleted:       nil,
		StatusDisengaged:      nil,
		StatusClientDeclined:  nil,
		StatusUnableToContact: nil,
		StatusWithdrawn:       nil,
		StatusEnteredInError:  nil,
	}
	if len(spec) != len(Statuses) {
		t.Fatalf("%d statuses, SPEC has %d", len(Statuses), len(spec))
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := slices.Contains(spec[from], to) || to == StatusEnteredInError && from != StatusEnteredInError
			if got := CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		final := len(spec[from]) == 0
		if IsFinal(from) != final {
			t.Errorf("IsFinal(%s) = %v, want %v", from, IsFinal(from), final)
		}
	}
	closing := []string{StatusRedirected, StatusClientDeclined, StatusUnableToContact, StatusDisengaged, StatusWithdrawn}
	for _, s := range Statuses {
		if NeedsReason(s) != slices.Contains(closing, s) {
			t.Errorf("NeedsReason(%s) = %v", s, NeedsReason(s))
		}
	}
}

// TestSQLListsMatchGo checks the status and kind lists written out in the
// SQL files against the Go lists they must equal: adding a status or a reply
// kind in one place and not the other fails here.
func TestSQLListsMatchGo(t *testing.T) {
	src := ""
	for _, f := range []string{"queries.sql", "queries_reports.sql"} {
		b, err := queryFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	inList := regexp.MustCompile(`(status|kind) IN \(([^)?]*)\)`)
	lists := map[string]bool{}
	for _, m := range inList.FindAllStringSubmatch(src, -1) {
		lists[m[1]+":"+strings.Join(strings.Fields(m[2]), " ")] = true
	}
	quote := func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = "'" + s + "',"
		}
		return strings.TrimSuffix(strings.Join(q, " "), ",")
	}
	known := map[string]string{
		"status:" + quote(OpenStatuses):                                   "open statuses",
		"status:" + quote(CaseloadStatuses):                               "caseload statuses",
		"status:" + quote(OutcomeStatuses):                                "outcome statuses",
		"kind:" + quote(CapKinds):                                         "reply-cap kinds",
		"status:" + quote([]string{OutFailed, OutBounced}):                "outbox failures",
		"status:" + quote([]string{OutFailed, OutBounced, OutSuppressed}): "outbox failures and suppressions",
	}
	// Every list in the SQL is one of the Go lists: one copy changed
	// without the others fails here.
	for l := range lists {
		if known[l] == "" {
			t.Errorf("the SQL list %s is none of the Go lists", l)
		}
	}
	for _, want := range []string{"status:" + quote(OpenStatuses), "status:" + quote(CaseloadStatuses), "kind:" + quote(CapKinds)} {
		if !lists[want] {
			t.Errorf("no SQL list equals the Go list of %s (%s); the SQL has %v", known[want], want, lists)
		}
	}
}

// A read transaction (a report, show, the scheduler's look at the month)
// held open while intake writes must not hold the write lock: the write
// goes through at once, the reader keeps its snapshot, and a write inside
// the read transaction is refused.
func TestReadTransactionNeverBlocksAWriter(t *testing.T) {
	ctx := context.Background()
	s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "refdesk.db"), Options{BusyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := addReferral(t, s, 1, StatusAccepted, nil)

	reading, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTxRead(ctx, func(tx *Tx) error {
			if _, err := tx.Referral(r.ID); err != nil {
				return err
			}
			// Before any other write: in a DEFERRED transaction that is
			// not query-only this write would take the lock and succeed.
			if _, err := tx.tx.ExecContext(ctx, "UPDATE referrals SET notes = 'x' WHERE id = ?", r.ID); err == nil || !strings.Contains(err.Error(), "readonly") {
				t.Errorf("a write inside a read transaction: %v, want it refused as read-only", err)
			}
			close(reading)
			<-release
			// Still the snapshot taken before the note below.
			var n int
			if err := tx.tx.GetContext(ctx, &n, "SELECT count(*) FROM events WHERE referral_id = ?", r.ID); err != nil {
				return err
			}
			if n != 1 {
				t.Errorf("the read transaction saw %d events, want the 1 of its snapshot", n)
			}
			return nil
		})
	}()
	select {
	case <-reading:
	case err := <-done:
		t.Fatalf("the read transaction ended early: %v", err)
	}
	if err := s.AddNote(ctx, r.ID, "called, left a message", "coach", true); err != nil {
		t.Fatalf("a write while a read transaction is open: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ev, err := s.Events(ctx, r.ID)
	if err != nil || len(ev) != 2 {
		t.Fatalf("events after the note: %d, %v; want 2", len(ev), err)
	}
}

// A read cancelled before the read pool's statements were prepared leaves
// nothing broken: the next read prepares them.
func TestCancelledFirstReadDoesNotBreakTheNext(t *testing.T) {
	s := openTest(t)
	r := addReferral(t, s, 1, StatusAccepted, nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Referral(cancelled, r.ID); err == nil {
		t.Fatal("a read with a cancelled context succeeded")
	}
	if got, err := s.Referral(context.Background(), r.ID); err != nil || got.ID != r.ID {
		t.Fatalf("the next read: %v, %v", got, err)
	}
}

// Message-IDs made later sort later (the outbox's unique index grows at
// its end), are unique, and are valid msg-ids in the given domain.
func TestNewMessageIDsSortByTime(t *testing.T) {
	var ids []string
	seen := map[string]bool{}
	for i := 0; i < 3000; i++ {
		id := NewMessageID("Eastside.Example")
		if seen[id] {
			t.Fatalf("%s made twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
		if i%1000 == 999 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	for i := 1000; i < len(ids); i += 1000 {
		if ids[i] <= ids[i-1] {
			t.Errorf("%s, made after %s, sorts before it", ids[i], ids[i-1])
		}
	}
	if ok, _ := regexp.MatchString(`^[0-9a-f]{28}\.refdesk@eastside\.example$`, ids[0]); !ok {
		t.Errorf("Message-ID %q", ids[0])
	}
}
