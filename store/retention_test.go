package store

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

func TestPurgeAppliesRetention(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return base }
	old := addReferral(t, s, 1, StatusAccepted, func(r *Referral) { r.ClientName = "Zebulon Quartermain" })
	keep := addReferral(t, s, 2, StatusAccepted, func(r *Referral) { r.ClientPhone = "5550199" })
	if err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Enqueue(&OutMsg{Kind: "accepted", MessageID: "o1@x", To: "a@x", ReferralID: &old.ID, Data: []byte(`{"items":[{"client":"Zebulon Q."}]}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The old referral closes; three years and a day later it is purged.
	if _, err := s.UpdateStatus(ctx, old.ID, Change{To: StatusWithdrawn, Reason: "moved away", By: "coach"}); err != nil {
		t.Fatal(err)
	}
	later := base.Add(26281 * time.Hour)
	s.Now = func() time.Time { return later }

	dry, err := s.Purge(ctx, later.Add(-4320*time.Hour), later.Add(-26280*time.Hour), true)
	if err != nil || dry.ClosedReferrals != 1 || dry.RawMessages != 2 {
		t.Fatalf("dry run = %+v, %v; want 1 closed referral and 2 raw messages", dry, err)
	}
	if _, err := s.Referral(ctx, old.ID); err != nil {
		t.Fatalf("the dry run deleted: %v", err)
	}
	res, err := s.Purge(ctx, later.Add(-4320*time.Hour), later.Add(-26280*time.Hour), false)
	if err != nil || res.ClosedReferrals != 1 || res.RawMessages != 1 {
		t.Fatalf("purge = %+v, %v; want 1 closed referral, and 1 more raw message", res, err)
	}
	if _, err := s.Referral(ctx, old.ID); err == nil {
		t.Error("the closed referral is still there")
	}
	if _, err := s.Referral(ctx, keep.ID); err != nil {
		t.Errorf("the open referral was purged: %v", err)
	}
	var n int
	s.db.Get(&n, "SELECT count(*) FROM events WHERE referral_id = ?", old.ID)
	var o int
	s.db.Get(&o, "SELECT count(*) FROM outbox")
	var raw int
	s.db.Get(&raw, "SELECT count(*) FROM messages WHERE raw IS NOT NULL")
	if n != 0 || o != 0 || raw != 0 {
		t.Errorf("left: %d events, %d outbox rows, %d raw messages", n, o, raw)
	}
	s.Close()
	for _, f := range []string{s.path, s.path + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("Zebulon")) {
			t.Errorf("%s still holds the purged client's name at %d", f, bytes.Index(b, []byte("Zebulon")))
		}
	}
}

func TestFailedSince(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var id int64
	s.InTx(ctx, func(tx *Tx) error {
		o := &OutMsg{Kind: "accepted", MessageID: "f@x", To: "a@x"}
		_, err := tx.Enqueue(o)
		id = o.ID
		return err
	})
	if err := s.MarkFailed(ctx, id, "550 5.1.1 no such user"); err != nil {
		t.Fatal(err)
	}
	got, err := s.FailedSince(ctx, s.Now().Add(-time.Hour))
	if err != nil || len(got) != 1 || got[0].LastError != "550 5.1.1 no such user" {
		t.Fatalf("FailedSince = %+v, %v", got, err)
	}
}
