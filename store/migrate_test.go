package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// rawStore opens a database without migrating it.
func rawStore(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sqlx.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Store{db: db, Now: time.Now}
}

func fakeMigrations(ns ...int) []migration {
	var out []migration
	for _, n := range ns {
		name := "t" + string(rune('0'+n))
		out = append(out, migration{n: n, name: name + ".sql", sql: "CREATE TABLE " + name + " (x INTEGER)"})
	}
	return out
}

func tables(t *testing.T, s *Store) []string {
	t.Helper()
	var ts []string
	if err := s.db.Select(&ts, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't_' ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestMigrationsWithGapsAndOutOfOrderArrivals(t *testing.T) {
	ctx := context.Background()
	s := rawStore(t)
	steps := []struct {
		name    string
		have    []int
		tables  []string
		version int
		tooNew  bool
	}{
		{"a gap: 1 and 3", []int{1, 3}, []string{"t1", "t3"}, 3, false},
		{"again: nothing to do", []int{1, 3}, []string{"t1", "t3"}, 3, false},
		{"2 and 4 arrive later: both applied", []int{1, 2, 3, 4}, []string{"t1", "t2", "t3", "t4"}, 4, false},
		{"an older binary is refused", []int{1, 2, 3}, nil, 0, true},
		{"a binary without 2 is refused", []int{1, 3, 4}, nil, 0, true},
	}
	for _, st := range steps {
		err := s.migrateWith(ctx, fakeMigrations(st.have...))
		if st.tooNew {
			if !errors.Is(err, ErrTooNew) {
				t.Errorf("%s: got %v, want ErrTooNew", st.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := tables(t, s); !slices.Equal(got, st.tables) {
			t.Errorf("%s: tables %v, want %v", st.name, got, st.tables)
		}
		if v, _ := s.SchemaVersion(ctx); v != st.version {
			t.Errorf("%s: user_version %d, want %d", st.name, v, st.version)
		}
	}
}

func TestMigrationsFromBeforeTheBookkeepingTable(t *testing.T) {
	// A database written by a refdesk that recorded only user_version: 1
	// is applied (re-running it would fail: its table exists), 3 is not.
	ctx := context.Background()
	s := rawStore(t)
	if _, err := s.db.Exec("CREATE TABLE t1 (x INTEGER); PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.migrateWith(ctx, fakeMigrations(1, 3)); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, s); !slices.Equal(got, []string{"t1", "t3"}) {
		t.Errorf("tables %v", got)
	}
	var applied []int
	s.db.Select(&applied, "SELECT version FROM schema_migrations ORDER BY version")
	if !slices.Equal(applied, []int{1, 3}) {
		t.Errorf("schema_migrations = %v, want [1 3]", applied)
	}
}

func TestEmbeddedMigrationsAreSortedAndUnique(t *testing.T) {
	list, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 2 || list[0].n != 1 {
		t.Fatalf("migrations = %+v", list)
	}
	for i := 1; i < len(list); i++ {
		if list[i].n <= list[i-1].n {
			t.Errorf("%s after %s", list[i].name, list[i-1].name)
		}
	}
	s := openTest(t)
	v, _ := s.SchemaVersion(context.Background())
	if v != list[len(list)-1].n {
		t.Errorf("a new database is at version %d, want %d", v, list[len(list)-1].n)
	}
}

func TestMigration3BackfillsTimesOfExistingReferrals(t *testing.T) {
	ctx := context.Background()
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sqlx.Open("sqlite3", "file:"+path+"?_txlock=immediate&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: old, Now: time.Now}
	if err := s.migrateWith(ctx, all[:1]); err != nil { // a database of refdesk before outcomes
		t.Fatal(err)
	}
	if err := s.prepareOnly(ctx, "message_insert", "event_insert", "outbox_insert", "outbox_sent"); err != nil {
		t.Fatal(err)
	}
	if s.stmts["referral_insert"], err = s.db.PreparexContext(ctx, referralInsertBefore6); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 5, 15, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	r := addReferral(t, s, 1, StatusAccepted, nil)
	err = s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Enqueue(&OutMsg{Kind: "accepted", MessageID: "r@x", To: "cw@x", InboundID: &r.MessageID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	at = at.Add(time.Minute)
	if err := s.MarkSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var f Facts
	if err := s2.DB().Get(&f, "SELECT * FROM referral_facts WHERE id = ?", r.ID); err != nil {
		t.Fatal(err)
	}
	if !f.AcceptedAt.Equal(at.Add(-time.Minute)) || !f.RepliedAt.Equal(at) || !f.EnrolledAt.IsZero() {
		t.Errorf("backfilled times: accepted %v, replied %v, enrolled %v", f.AcceptedAt, f.RepliedAt, f.EnrolledAt)
	}
}

// referralInsertBefore6 is referral_insert for schemas before migration 6
// (no created_status), taking the same arguments.
const referralInsertBefore6 = `
INSERT INTO referrals (partner_id, message_id, source, decision, status, rule_id, service_id, reason, missing,
                       client_name, name_key, client_phone, client_email, date_of_birth, partner_case_id,
                       share_outcomes, referrer_addr, fields, extra, notes, received_at, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?22)`

// prepareOnly prepares the named queries only (tests of old schemas, where
// the newer queries do not prepare).
func (s *Store) prepareOnly(ctx context.Context, names ...string) error {
	qs, err := loadQueries()
	if err != nil {
		return err
	}
	s.stmts = map[string]*sqlx.Stmt{}
	for _, n := range names {
		st, err := s.db.PreparexContext(ctx, qs[n])
		if err != nil {
			return fmt.Errorf("store: prepare %s: %w", n, err)
		}
		s.stmts[n] = st
	}
	return nil
}

func TestMigration5MovesRawMessagesAndAttachmentsIntoChunks(t *testing.T) {
	ctx := context.Background()
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var before []migration
	for _, m := range all {
		if m.n < 5 {
			before = append(before, m)
		}
	}
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sqlx.Open("sqlite3", "file:"+path+"?_txlock=immediate&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: old, Now: time.Now}
	if err := s.migrateWith(ctx, before); err != nil {
		t.Fatal(err)
	}
	// Messages as refdesk stored them before: the raw bytes in the row
	// (empty, small, exactly one chunk, several chunks with a short
	// last one), none at all, and attachments alike.
	big := make([]byte, 2*ChunkSize+1000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	raws := [][]byte{{}, []byte("From: a@x\r\n\r\nhello"), big[:ChunkSize], big, nil}
	for i, raw := range raws {
		if _, err := old.Exec(`INSERT INTO messages (id, mailbox, uidvalidity, uid, sha256, raw, received_at, processed_at, disposition)
			VALUES (?, 'INBOX', 1, ?, ?, ?, ?, ?, 'held')`, i+1, i+1, fmt.Sprint("sum", i), raw, time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(`INSERT INTO attachments (id, message_id, sha256, size, data, created_at) VALUES (?, ?, 'x', ?, ?, ?)`,
			i+1, i+1, len(raw), raw, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for i, raw := range raws {
		for _, what := range []string{"raw", "attachment"} {
			var got bytes.Buffer
			var n int64
			if what == "raw" {
				n, err = s2.WriteRaw(ctx, int64(i+1), &got)
			} else {
				n, err = s2.WriteAttachment(ctx, int64(i+1), &got)
			}
			if raw == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s %d: %v, want ErrNotFound", what, i+1, err)
				}
				continue
			}
			if err != nil || n != int64(len(raw)) || !bytes.Equal(got.Bytes(), raw) {
				t.Errorf("%s %d: %d bytes (%v), want the %d stored before", what, i+1, n, err, len(raw))
			}
		}
	}
	var chunks int
	s2.DB().Get(&chunks, "SELECT count(*) FROM message_raw WHERE message_id = 4")
	if chunks != 3 {
		t.Errorf("a message of %d bytes is %d chunks, want 3", len(big), chunks)
	}
	for _, q := range []string{"SELECT raw FROM messages", "SELECT data FROM attachments"} {
		if _, err := s2.DB().Exec(q); err == nil {
			t.Errorf("%s: the column is still there", q)
		}
	}
}

// TestFirstTimesMatchTheHistory checks referral_facts' first times (since
// migration 6, a referral created accepted or waitlisted takes them from its
// own row) against the history itself, computed as migration 3 backfilled
// them: the first event into each set of statuses, the first reply sent.
func TestFirstTimesMatchTheHistory(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	at := time.Date(2026, 10, 5, 15, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { at = at.Add(time.Minute); return at }
	move := func(r *Referral, to ...string) {
		for _, st := range to {
			if _, err := s.UpdateStatus(ctx, r.ID, Change{To: st, By: "coach", Reason: "test", Force: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var uid uint32
	add := func(status string) *Referral {
		uid++
		return addReferral(t, s, uid, status, func(r *Referral) { r.ClientPhone = fmt.Sprint(5550100 + uid) })
	}
	move(add(StatusAccepted))
	move(add(StatusAccepted), StatusScheduled, StatusEnrolled, StatusCompleted)
	move(add(StatusWaitlisted))
	move(add(StatusWaitlisted), StatusAccepted, StatusWaitlisted, StatusScheduled)
	move(add(StatusNeedsInfo), StatusAccepted, StatusScheduled, StatusNoShow)
	move(add(StatusNeedsInfo), StatusWaitlisted, StatusScheduled, StatusEnrolled)
	move(add(StatusNeedsInfo))
	move(add(StatusRedirected), StatusAccepted)
	move(add(StatusAccepted), StatusClientDeclined)
	move(add(StatusScheduled))
	move(add(StatusEnrolled), StatusCompleted)
	// A refdesk from before migration 6, still running when a newer one
	// migrated the database, inserts without created_status.
	current := s.stmts["referral_insert"]
	old, err := s.db.PreparexContext(ctx, referralInsertBefore6)
	if err != nil {
		t.Fatal(err)
	}
	s.stmts["referral_insert"] = old
	move(add(StatusWaitlisted), StatusScheduled)
	s.stmts["referral_insert"] = current
	old.Close()
	replied := add(StatusAccepted)
	err = s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Enqueue(&OutMsg{Kind: "accepted", MessageID: "r@x", To: "cw@x", InboundID: &replied.MessageID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, 1); err != nil {
		t.Fatal(err)
	}

	type times struct {
		ID         int64 `db:"id"`
		Accepted   When  `db:"accepted_at"`
		Waitlisted When  `db:"waitlisted_at"`
		Enrolled   When  `db:"enrolled_at"`
		Replied    When  `db:"replied_at"`
	}
	var got, want []times
	if err := s.DB().Select(&got, "SELECT id, accepted_at, waitlisted_at, enrolled_at, replied_at FROM referral_facts ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	err = s.DB().Select(&want, `
		SELECT r.id,
		       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id
		           AND e.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged')) AS accepted_at,
		       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id AND e.to_status = 'waitlisted') AS waitlisted_at,
		       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id
		           AND e.to_status IN ('enrolled', 'completed', 'disengaged')) AS enrolled_at,
		       (SELECT min(o.sent_at) FROM outbox o WHERE o.inbound_id = r.message_id AND o.sent_at IS NOT NULL) AS replied_at
		FROM referrals r ORDER BY r.id`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != int(uid) || len(want) != int(uid) {
		t.Fatalf("%d referrals in referral_facts, %d in the history, want %d", len(got), len(want), uid)
	}
	for i := range want {
		w, g := want[i], got[i]
		if !g.Accepted.Equal(w.Accepted.Time) || !g.Waitlisted.Equal(w.Waitlisted.Time) ||
			!g.Enrolled.Equal(w.Enrolled.Time) || !g.Replied.Equal(w.Replied.Time) {
			t.Errorf("%s: referral_facts gives %+v, the history %+v", FormatRef(w.ID), g, w)
		}
	}
	var rows int
	if err := s.DB().Get(&rows, "SELECT count(*) FROM referral_times"); err != nil {
		t.Fatal(err)
	}
	// Rows only for the referrals with a first time after their creation
	// (the 2nd, 4th, 5th, 6th, 8th, 11th and 12th) or a reply sent (the
	// 13th).
	if rows != 8 {
		t.Errorf("%d referral_times rows, want 8: a referral created accepted or waitlisted needs none", rows)
	}
}
