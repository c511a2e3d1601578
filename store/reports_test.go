package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// world is a store with a clock the test moves.
type world struct {
	t   *testing.T
	s   *Store
	now time.Time
	uid uint32
}

func newWorld(t *testing.T, start time.Time) *world {
	w := &world{t: t, s: openTest(t), now: start}
	w.s.Now = func() time.Time { return w.now }
	return w
}

func (w *world) at(t time.Time) *world { w.now = t; return w }

// referral takes in a referral now, answers it after reply (0: never) and
// returns it.
func (w *world) referral(partner, status string, reply time.Duration, mod func(*Referral)) *Referral {
	w.t.Helper()
	w.uid++
	r := addReferral(w.t, w.s, w.uid, status, func(r *Referral) {
		r.PartnerID = partner
		r.ClientPhone = "555" + strconv.Itoa(int(w.uid))
		if mod != nil {
			mod(r)
		}
	})
	if reply > 0 {
		ctx := context.Background()
		var id int64
		err := w.s.InTx(ctx, func(tx *Tx) error {
			o := &OutMsg{Kind: status, MessageID: "reply-" + strconv.Itoa(int(w.uid)) + "@x", To: "cw@x", InboundID: &r.MessageID}
			_, err := tx.Enqueue(o)
			id = o.ID
			return err
		})
		if err != nil {
			w.t.Fatal(err)
		}
		saved := w.now
		w.now = w.now.Add(reply)
		if err := w.s.MarkSent(ctx, id); err != nil {
			w.t.Fatal(err)
		}
		w.now = saved
	}
	return r
}

func (w *world) move(r *Referral, to ...string) {
	w.t.Helper()
	for _, s := range to {
		if _, err := w.s.UpdateStatus(context.Background(), r.ID, Change{To: s, By: "coach", Reason: "r"}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func TestFactsAndFunnelLeaveOutEnteredInError(t *testing.T) {
	ctx := context.Background()
	oct := time.Date(2026, 10, 5, 15, 0, 0, 0, time.UTC)
	w := newWorld(t, oct)
	a := w.referral("north", StatusAccepted, 2*time.Minute, nil)
	b := w.referral("north", StatusAccepted, 4*time.Minute, nil)
	w.referral("north", StatusRedirected, time.Minute, nil)
	w.referral("north", StatusNeedsInfo, 10*time.Minute, nil)
	wl := w.referral("north", StatusWaitlisted, 0, nil)
	bad := w.referral("north", StatusAccepted, 0, nil)
	w.referral("south", StatusAccepted, 0, nil)

	w.at(oct.Add(24 * time.Hour))
	if err := w.s.AddNote(ctx, a.ID, "called", "coach", true); err != nil {
		t.Fatal(err)
	}
	w.at(oct.Add(72 * time.Hour))
	w.s.AddNote(ctx, b.ID, "called", "coach", true)
	w.move(a, StatusScheduled, StatusEnrolled)
	w.move(bad, StatusEnteredInError)
	w.move(wl, StatusScheduled) // straight from the waiting list: accepted from here on

	from, to := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	d, err := w.s.PartnerData(ctx, PartnerQuery{Partner: "north", From: from, To: to, Since: from, Until: to})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Referrals) != 5 {
		t.Fatalf("%d referrals, want 5 (the one entered in error and the other partner's left out)", len(d.Referrals))
	}
	for _, r := range d.Referrals {
		if r.ID == bad.ID {
			t.Errorf("an entered-in-error referral is in the report data")
		}
	}
	f := CountFunnel(d.Referrals)
	want := Funnel{Received: 5, Accepted: 3, Waitlisted: 0, Enrolled: 1, Redirected: 1, NeedsInfo: 1}
	if f != want {
		t.Errorf("funnel = %+v, want %+v", f, want)
	}
	if d.Period != f {
		t.Errorf("the database counts %+v, Go counts %+v", d.Period, f)
	}
	if m := ReplyTime(d.Referrals); m.N != 4 || m.Median != 3*time.Minute {
		t.Errorf("reply time = %+v, want median 3m of 4", m)
	}
	if m := ContactTime(d.Referrals); m.N != 2 || m.Median != 48*time.Hour {
		t.Errorf("contact time = %+v, want median 48h of 2 (24h and 72h)", m)
	}
	if len(d.Changes) != 3 {
		t.Errorf("%d status changes in October, want 3 (a: 2, waitlist: 1; the error is left out)", len(d.Changes))
	}
}

func TestClientsAreCountedOnce(t *testing.T) {
	rows := []Facts{
		{ID: 1, ClientPhone: "5551"},
		{ID: 2, ClientPhone: "5551", ClientEmail: "dana@x.org"},    // same phone as 1
		{ID: 3, ClientEmail: "DANA@x.org"},                         // same email as 2, so as 1
		{ID: 4, NameKey: "luis ortega", DateOfBirth: "1980-01-02"}, // alone
		{ID: 5, NameKey: "luis ortega", DateOfBirth: "1980-01-02"}, // same as 4
		{ID: 6, NameKey: "luis ortega"},                            // a name alone is not enough
		{ID: 7},                                                    // nothing to match on
		{ID: 8, NameKey: "luis ortega", DateOfBirth: "1999-09-09"}, // another Luis
	}
	c := Clients(rows)
	distinct := map[int]bool{}
	for _, v := range c {
		distinct[v] = true
	}
	if len(distinct) != 5 || c[1] != c[3] || c[4] != c[5] || c[4] == c[6] || c[4] == c[8] {
		t.Errorf("clients = %v (%d distinct), want 5: {1,2,3} {4,5} {6} {7} {8}", c, len(distinct))
	}
}

func TestTargetProgressAndStats(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 7, 1, 5, 0, 0, 0, time.UTC)
	end := time.Date(2027, 7, 1, 5, 0, 0, 0, time.UTC)
	w := newWorld(t, start.Add(-10*24*time.Hour))
	old := w.referral("north", StatusAccepted, 0, nil) // enrolled before the grant began: not counted
	w.move(old, StatusScheduled, StatusEnrolled)
	w.at(start.AddDate(0, 1, 0))
	x := w.referral("north", StatusAccepted, 0, func(r *Referral) { r.ClientPhone = "5550001" })
	y := w.referral("south", StatusAccepted, 0, func(r *Referral) { r.ClientPhone = "5550001" }) // the same client again
	z := w.referral("south", StatusAccepted, 0, nil)
	e := w.referral("south", StatusAccepted, 0, nil)
	for _, r := range []*Referral{x, y, z, e} {
		w.move(r, StatusScheduled, StatusEnrolled)
	}
	w.move(e, StatusEnteredInError)
	w.move(z, StatusCompleted)
	if err := w.s.AddOutcome(ctx, &Outcome{ReferralID: x.ID, Kind: OutcomeSavingsIncreased, AmountCents: cents(20000), Date: "2026-08-01", By: "c"}, false); err != nil {
		t.Fatal(err)
	}
	w.s.AddOutcome(ctx, &Outcome{ReferralID: y.ID, Kind: OutcomeSavingsIncreased, AmountCents: cents(5000), Date: "2026-08-02", By: "c"}, false)
	w.s.AddOutcome(ctx, &Outcome{ReferralID: e.ID, Kind: OutcomeSavingsIncreased, AmountCents: cents(99999), Date: "2026-08-02", By: "c"}, true)

	asOf := start.Add(end.Sub(start) / 4) // a quarter through
	g := Grant{Name: "FY27", Start: start, End: end, Target: 120}
	st, err := w.s.Stats(ctx, start, end, g, asOf)
	if err != nil {
		t.Fatal(err)
	}
	tg := st.Target
	if tg == nil || tg.Enrolled != 2 || tg.Referrals != 3 || tg.Expected != 30 || tg.Projected != 8 {
		t.Fatalf("target = %+v; want 2 clients from 3 referrals, expected 30, projected 8", tg)
	}
	if st.Total.Received != 3 || st.Total.Enrolled != 3 || len(st.Partners) != 2 {
		t.Errorf("funnel = %+v, partners %+v", st.Total, st.Partners)
	}
	sav := st.Outcomes[4]
	if sav.Kind != OutcomeSavingsIncreased || sav.Count != 2 || sav.Clients != 1 || sav.AmountCents != 25000 || sav.Of != 3 {
		t.Errorf("savings = %+v; want 2 outcomes of 1 client ($250, the entered-in-error one left out) of 3 in coaching", sav)
	}
}

func TestForcedKeysCount(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	key := "report/north/2026-10"
	for i, want := range []string{key + "/force-1", key + "/force-2"} {
		got, err := s.ForcedKey(ctx, key)
		if err != nil || got != want {
			t.Fatalf("ForcedKey #%d = %s, %v; want %s", i, got, err, want)
		}
		if _, err := s.EnqueueOnce(ctx, &OutMsg{Kind: "monthly-report", MessageID: got, To: "a@x", DedupeKey: &got}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.OutByDedupe(ctx, key); err == nil {
		t.Errorf("the base key is taken by a forced copy")
	}
}
