package store

import (
	"bytes"
	"context"
	"os"
	"strings"
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
	// Its attachment, an outcome, and a held message's attachment.
	if err := s.InTx(ctx, func(tx *Tx) error {
		if err := tx.InsertAttachment(&Attachment{MessageID: old.MessageID, ReferralID: &old.ID, Filename: "form.csv"},
			strings.NewReader("name\nZebulon Quartermain\n")); err != nil {
			return err
		}
		held := &Message{Mailbox: "INBOX", UIDValidity: 7, UID: 9, SHA256: "held", ReceivedAt: base, ProcessedAt: base, Disposition: DispHeld}
		if err := tx.InsertMessage(held); err != nil {
			return err
		}
		if err := tx.PutRaw(held.ID, []byte("raw of Yolanda Heldmessage")); err != nil {
			return err
		}
		if err := tx.InsertAttachment(&Attachment{MessageID: held.ID, Filename: "card.vcf"}, strings.NewReader("FN:Yolanda Heldmessage")); err != nil {
			return err
		}
		// A caseworker's follow-up to the open referral, with the signed
		// consent: part of that referral's record, whatever its message.
		fu := &Message{Mailbox: "INBOX", UIDValidity: 7, UID: 10, SHA256: "followup", ReceivedAt: base, ProcessedAt: base, Disposition: DispFollowUp}
		if err := tx.InsertMessage(fu); err != nil {
			return err
		}
		return tx.InsertAttachment(&Attachment{MessageID: fu.ID, ReferralID: &keep.ID, Filename: "consent.pdf"}, strings.NewReader("signed"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateStatus(ctx, old.ID, Change{To: StatusScheduled, By: "coach"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateStatus(ctx, old.ID, Change{To: StatusEnrolled, By: "coach"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOutcome(ctx, &Outcome{ReferralID: old.ID, Kind: "goal-set", By: "coach", Date: "2026-01-01", Note: "Zebulon's goal"}, false); err != nil {
		t.Fatal(err)
	}
	// The old referral closes; three years and a day later it is purged.
	if _, err := s.UpdateStatus(ctx, old.ID, Change{To: StatusDisengaged, Reason: "moved away", By: "coach"}); err != nil {
		t.Fatal(err)
	}
	later := base.Add(26281 * time.Hour)
	s.Now = func() time.Time { return later }

	dry, err := s.Purge(ctx, later.Add(-4320*time.Hour), later.Add(-26280*time.Hour), true)
	if err != nil || dry.ClosedReferrals != 1 || dry.RawMessages != 3 {
		t.Fatalf("dry run = %+v, %v; want 1 closed referral and 3 raw messages", dry, err)
	}
	if _, err := s.Referral(ctx, old.ID); err != nil {
		t.Fatalf("the dry run deleted: %v", err)
	}
	res, err := s.Purge(ctx, later.Add(-4320*time.Hour), later.Add(-26280*time.Hour), false)
	if err != nil || res.ClosedReferrals != 1 || res.RawMessages != 2 {
		t.Fatalf("purge = %+v, %v; want 1 closed referral, and 2 more raw messages", res, err)
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
	s.db.Get(&raw, "SELECT count(*) FROM message_raw")
	var att, outc int
	s.db.Get(&att, "SELECT count(*) FROM attachments")
	var attData int
	s.db.Get(&attData, "SELECT count(*) FROM attachment_data")
	s.db.Get(&outc, "SELECT count(*) FROM outcomes")
	if n != 0 || o != 0 || raw != 0 || att != 1 || attData != 1 || outc != 0 {
		t.Errorf("left: %d events, %d outbox rows, %d raw chunks, %d attachments (%d chunks), %d outcomes; want only the open referral's consent form", n, o, raw, att, attData, outc)
	}
	s.Close()
	for _, f := range []string{s.path, s.path + "-wal"} {
		b, _ := os.ReadFile(f)
		for _, name := range []string{"Zebulon", "Yolanda"} {
			if bytes.Contains(b, []byte(name)) {
				t.Errorf("%s still holds the purged client's name %s at %d", f, name, bytes.Index(b, []byte(name)))
			}
		}
	}
}

func TestDigestRemindsOfAFailureForAWeek(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)
	queue := func(at time.Time, id string) {
		s.Now = func() time.Time { return at }
		var oid int64
		if err := s.InTx(ctx, func(tx *Tx) error {
			o := &OutMsg{Kind: "accepted", MessageID: id, To: "a@x"}
			_, err := tx.Enqueue(o)
			oid = o.ID
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, oid, "550 no such user"); err != nil {
			t.Fatal(err)
		}
	}
	queue(now.Add(-8*24*time.Hour), "old@x")
	queue(now.Add(-2*24*time.Hour), "recent@x")
	d, err := s.DigestData(ctx, now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Failed) != 1 || d.Failed[0].MessageID != "recent@x" || d.Failed[0].LastError != "550 no such user" {
		t.Errorf("digest names %d failures (%+v); want only the one from two days ago", len(d.Failed), d.Failed)
	}
}
