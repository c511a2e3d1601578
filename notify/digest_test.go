package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"refdesk/notify"
	"refdesk/store"
)

func TestDigestSectionsAndPrivacy(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, chicago(2026, 10, 26, 10, 0)) // a Monday
	late := w.refer("northside-housing", dana, "accepted", nil)
	contacted := w.refer("northside-housing", rosa, "accepted", nil)
	w.refer("northside-housing", terry, "needs-info", func(r *store.Referral) { r.Missing = store.List{"consent"} })
	w.now = chicago(2026, 10, 27, 9, 0)
	w.st.AddNote(ctx, contacted.ID, "called", "coach", true)
	w.now = chicago(2026, 10, 29, 18, 0)
	fresh := w.refer("westside-workforce", west, "accepted", nil)
	bad := w.refer("westside-workforce", person{"Pat Error", "5550100001", "", false}, "accepted", nil)
	w.move(bad, "entered-in-error")
	err := w.st.InTx(ctx, func(tx *store.Tx) error {
		for i, h := range []struct{ disp, reason, from string }{
			{store.DispHeld, "reply cap: 20 automatic replies to this sender in the last hour (limit 20)", "loop@northside-housing.example"},
			{store.DispHeld, "unknown sender", "sam@gmail.example"},
			{store.DispQuarantined, "unparseable: malformed MIME header", "x@y.example"},
		} {
			m := &store.Message{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(100 + i), SHA256: "h" + h.reason, FromAddr: h.from,
				ReceivedAt: w.now, ProcessedAt: w.now, Disposition: h.disp, Reason: h.reason}
			if err := tx.InsertMessage(m); err != nil {
				return err
			}
		}
		_, err := tx.Enqueue(&store.OutMsg{Kind: "accepted", MessageID: "f@x", To: "gone@westside-workforce.example",
			Status: store.OutFailed, LastError: "550 5.1.1 no such user"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	now := chicago(2026, 10, 30, 8, 0) // Friday
	g, err := notify.BuildDigest(ctx, w.cfg, w.st, now, now)
	if err != nil {
		t.Fatal(err)
	}
	refs := func(rs []notify.DigestRef) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Ref)
		}
		return strings.Join(s, " ")
	}
	// Accepted Monday, promised by Wednesday: late on Friday morning.
	if got := refs(g.Late); got != late.Ref() {
		t.Errorf("late = %q, want %s", got, late.Ref())
	}
	if got := refs(g.New); got != fresh.Ref() {
		t.Errorf("new since Thursday 08:00 = %q, want %s (not the one entered in error)", got, fresh.Ref())
	}
	if len(g.NeedsInfo) != 1 || !strings.Contains(g.NeedsInfo[0].Note, "Consent") {
		t.Errorf("needs-info = %+v", g.NeedsInfo)
	}
	if len(g.ReplyCap) != 1 || len(g.Held) != 1 || len(g.Quarantined) != 1 || len(g.Failed) != 1 {
		t.Errorf("reply cap %d, held %d, quarantined %d, failed %d; want 1 each", len(g.ReplyCap), len(g.Held), len(g.Quarantined), len(g.Failed))
	}
	if g.Late[0].Client != "Dana W." {
		t.Errorf("client = %q, want first name and last initial", g.Late[0].Client)
	}

	res, err := notify.QueueDigest(ctx, w.cfg, w.st, now, now)
	if err != nil || !res.Added || res.Key != "digest/2026-10-30" || res.Out.To != "coach@eastside.example" {
		t.Fatalf("queue digest: %+v, %v", res, err)
	}
	got, err := newRenderer(t, w.cfg).Render(res.Out)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{got.Subject, got.Text, got.HTML} {
		for _, leak := range []string{"5550142000", "555-014", "Whitfield", "Pat"} {
			if strings.Contains(part, leak) {
				t.Errorf("the digest shows %q", leak)
			}
		}
	}
	for _, want := range []string{late.Ref(), fresh.Ref(), "REPLY CAP", "M-", "O-", "550 5.1.1", "Dana W."} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("digest text lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Logf("subject: %s\n%s", got.Subject, got.Text)
	}
	if again, _ := notify.QueueDigest(ctx, w.cfg, w.st, now.Add(time.Hour), now.Add(time.Hour)); again.Added {
		t.Errorf("a second digest for the same day was queued")
	}
}

func TestQuietDigestIsNotSent(t *testing.T) {
	w := newWorld(t, chicago(2026, 10, 26, 10, 0))
	now := chicago(2026, 10, 30, 8, 0)
	res, err := notify.QueueDigest(context.Background(), w.cfg, w.st, now, now)
	if err != nil || res.Added || !res.Quiet {
		t.Fatalf("quiet digest: %+v, %v", res, err)
	}
	// The scheduler does not look again that day (something that turns up
	// at noon waits for tomorrow's digest); a restart looks once more.
	var clock time.Time
	s := w.scheduler(&clock)
	restarted := w.scheduler(&clock)
	for _, c := range []struct {
		s    *notify.Scheduler
		at   time.Time
		keys []string
	}{
		{s, chicago(2026, 10, 30, 8, 0), nil},
		{s, chicago(2026, 10, 30, 12, 0), nil},
		{restarted, chicago(2026, 10, 30, 12, 0), []string{"digest/2026-10-30"}},
		{s, chicago(2026, 10, 31, 8, 0), []string{"digest/2026-10-30", "digest/2026-10-31"}},
	} {
		if c.at.Hour() == 12 && w.uid == 0 {
			// Five days waiting for information: something to tell.
			w.now = chicago(2026, 10, 25, 9, 0)
			w.refer("northside-housing", terry, "needs-info", func(r *store.Referral) { r.Missing = store.List{"consent"} })
		}
		clock = c.at
		if _, err := c.s.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := w.queued(); !equal(got, c.keys) {
			t.Errorf("at %s: %v, want %v", c.at, got, c.keys)
		}
	}
}
