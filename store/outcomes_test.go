package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func cents(n int64) *int64 { return &n }

func TestOutcomeValidation(t *testing.T) {
	cases := []struct {
		name string
		o    Outcome
		want string // "" = valid
	}{
		{"savings with amount", Outcome{Kind: OutcomeSavingsIncreased, AmountCents: cents(20000)}, ""},
		{"savings without amount", Outcome{Kind: OutcomeSavingsIncreased}, "needs --amount"},
		{"goal with amount", Outcome{Kind: OutcomeGoalSet, AmountCents: cents(1)}, "takes no --amount"},
		{"credit score with points", Outcome{Kind: OutcomeCreditScoreImproved, Points: cents(35)}, ""},
		{"credit score with amount", Outcome{Kind: OutcomeCreditScoreImproved, AmountCents: cents(35)}, "needs --points"},
		{"other with text", Outcome{Kind: OutcomeOther, Text: "opened an IDA"}, ""},
		{"other without text", Outcome{Kind: OutcomeOther}, "needs --text"},
		{"zero amount", Outcome{Kind: OutcomeDebtReduced, AmountCents: cents(0)}, "more than 0"},
		{"unknown kind", Outcome{Kind: "won-lottery"}, "unknown outcome"},
		{"bad date", Outcome{Kind: OutcomeGoalSet, Date: "11/02/2026"}, "not a date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.o.Date == "" {
				c.o.Date = "2026-11-02"
			}
			err := c.o.validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("validate = %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseAndFormatCents(t *testing.T) {
	for in, want := range map[string]int64{"200": 20000, "200.5": 20050, "$1,200.50": 120050, "0.07": 7, ".5": 50} {
		if got, err := ParseCents(in); err != nil || got != want {
			t.Errorf("ParseCents(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5", "1.234", "abc", "1e5", "+3", "1.-5"} {
		if _, err := ParseCents(bad); err == nil && bad != "" {
			t.Errorf("ParseCents(%q) accepted", bad)
		}
	}
	for c, want := range map[int64]string{20000: "$200.00", 120050: "$1,200.50", 7: "$0.07", 123456789: "$1,234,567.89"} {
		if got := FormatCents(c); got != want {
			t.Errorf("FormatCents(%d) = %s, want %s", c, got, want)
		}
	}
}

func TestAddOutcomeNeedsAClientInCoaching(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	r := addReferral(t, s, 1, StatusAccepted, nil)
	o := &Outcome{ReferralID: r.ID, Kind: OutcomeSavingsIncreased, AmountCents: cents(20000), Date: "2026-11-02", By: "coach"}
	if err := s.AddOutcome(ctx, o, false); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("outcome on an accepted referral: %v", err)
	}
	for _, to := range []string{StatusScheduled, StatusEnrolled} {
		if _, err := s.UpdateStatus(ctx, r.ID, Change{To: to, By: "coach"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOutcome(ctx, o, false); err != nil {
		t.Fatal(err)
	}
	forced := &Outcome{ReferralID: addReferral(t, s, 2, StatusAccepted, nil).ID, Kind: OutcomeGoalSet, Date: "2026-11-02", By: "lead"}
	if err := s.AddOutcome(ctx, forced, true); err != nil {
		t.Fatal(err)
	}
	outs, err := s.Outcomes(ctx, r.ID)
	if err != nil || len(outs) != 1 || *outs[0].AmountCents != 20000 || outs[0].By != "coach" {
		t.Fatalf("outcomes = %+v, %v", outs, err)
	}
	ev, _ := s.Events(ctx, r.ID)
	last := ev[len(ev)-1]
	if last.Kind != "outcome" || !strings.Contains(last.Note, "savings-increased $200.00") || last.Forced {
		t.Errorf("outcome event = %+v", last)
	}
	ev, _ = s.Events(ctx, forced.ReferralID)
	if last := ev[len(ev)-1]; !last.Forced || !strings.Contains(last.Note, "forced") {
		t.Errorf("forced outcome event = %+v", last)
	}
}
