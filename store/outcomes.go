package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome kinds (SPEC §3), after the CFPB core financial outcomes and common
// coaching program metrics.
const (
	OutcomeGoalSet             = "goal-set"
	OutcomeBudgetCreated       = "budget-created"
	OutcomeBankAccountOpened   = "bank-account-opened"
	OutcomeDirectDeposit       = "direct-deposit"
	OutcomeSavingsIncreased    = "savings-increased"
	OutcomeDebtReduced         = "debt-reduced"
	OutcomeCreditScoreImproved = "credit-score-improved"
	OutcomeCreditEstablished   = "credit-established"
	OutcomeTaxRefundSaved      = "tax-refund-saved"
	OutcomeOther               = "other"
)

// OutcomeKinds lists every outcome kind in the order of SPEC §3.
var OutcomeKinds = []string{
	OutcomeGoalSet, OutcomeBudgetCreated, OutcomeBankAccountOpened, OutcomeDirectDeposit, OutcomeSavingsIncreased,
	OutcomeDebtReduced, OutcomeCreditScoreImproved, OutcomeCreditEstablished, OutcomeTaxRefundSaved, OutcomeOther,
}

// OutcomeStatuses are the statuses in which a referral's client is (or was)
// in coaching: outcomes are recorded on them.
var OutcomeStatuses = []string{StatusEnrolled, StatusCompleted, StatusDisengaged}

// Measures an outcome kind carries.
const (
	MeasureNone   = ""
	MeasureAmount = "amount" // money, in cents
	MeasurePoints = "points" // a credit score change
	MeasureText   = "text"   // what it was, for "other"
)

// OutcomeMeasure says what an outcome of kind carries.
func OutcomeMeasure(kind string) string {
	switch kind {
	case OutcomeSavingsIncreased, OutcomeDebtReduced, OutcomeTaxRefundSaved:
		return MeasureAmount
	case OutcomeCreditScoreImproved:
		return MeasurePoints
	case OutcomeOther:
		return MeasureText
	}
	return MeasureNone
}

// IsOutcomeKind reports whether k is a known outcome kind.
func IsOutcomeKind(k string) bool { return slices.Contains(OutcomeKinds, k) }

// Outcome is one result a coach recorded for a client.
type Outcome struct {
	ID          int64     `db:"id"`
	ReferralID  int64     `db:"referral_id"`
	Kind        string    `db:"kind"`
	AmountCents *int64    `db:"amount_cents"`
	Points      *int64    `db:"points"`
	Text        string    `db:"text"`
	Date        string    `db:"date"` // YYYY-MM-DD, program time
	By          string    `db:"by"`
	Note        string    `db:"note"`
	CreatedAt   time.Time `db:"created_at"`
}

// Measure is the outcome's amount, points or text in words: "$200.00",
// "+35 points", "opened an IDA"; "" for kinds without one.
func (o *Outcome) Measure() string {
	switch {
	case o.AmountCents != nil:
		return FormatCents(*o.AmountCents)
	case o.Points != nil:
		return fmt.Sprintf("%+d points", *o.Points)
	}
	return o.Text
}

// Describe is the outcome in a few words: "savings-increased $200.00".
func (o *Outcome) Describe() string {
	return strings.TrimSpace(o.Kind + " " + o.Measure())
}

// ErrNotEnrolled is returned for an outcome on a referral whose client is
// not (or was never) in coaching.
var ErrNotEnrolled = errors.New("outcomes are recorded for clients in coaching")

// AddOutcome records an outcome on a referral whose client is in coaching
// (enrolled, completed or disengaged; Force overrides and the event says so),
// with an event of kind "outcome". It sets o.ID.
func (s *Store) AddOutcome(ctx context.Context, o *Outcome, force bool) error {
	if err := o.validate(); err != nil {
		return err
	}
	return s.InTx(ctx, func(t *Tx) error {
		r, err := t.Referral(o.ReferralID)
		if err != nil {
			return err
		}
		forced := !slices.Contains(OutcomeStatuses, r.Status)
		if forced && !force {
			return fmt.Errorf("%s is %s: %w (%s; --force overrides)", r.Ref(), r.Status, ErrNotEnrolled,
				strings.Join(OutcomeStatuses, ", "))
		}
		now := t.Now()
		o.CreatedAt = now
		if err := t.q("outcome_insert").GetContext(t.ctx, &o.ID, o.ReferralID, o.Kind, o.AmountCents, o.Points,
			o.Text, o.Date, o.By, o.Note, now); err != nil {
			return fmt.Errorf("store: add outcome to %s: %w", r.Ref(), err)
		}
		note := o.Describe()
		if o.Date != now.Format(time.DateOnly) {
			note += " on " + o.Date
		}
		if n := strings.TrimSpace(o.Note); n != "" {
			note += " — " + n
		}
		if forced {
			note = "forced (status " + r.Status + "): " + note
		}
		return t.AddEvent(&Event{ReferralID: r.ID, At: now, By: o.By, Kind: "outcome", Note: note, Forced: forced})
	})
}

func (o *Outcome) validate() error {
	if !IsOutcomeKind(o.Kind) {
		return fmt.Errorf("unknown outcome %q (one of: %s)", o.Kind, strings.Join(OutcomeKinds, ", "))
	}
	if _, err := time.Parse(time.DateOnly, o.Date); err != nil {
		return fmt.Errorf("outcome date: not a date (YYYY-MM-DD): %q", o.Date)
	}
	o.Text = strings.TrimSpace(o.Text)
	m := OutcomeMeasure(o.Kind)
	need := map[string]bool{MeasureAmount: o.AmountCents != nil, MeasurePoints: o.Points != nil, MeasureText: o.Text != ""}
	flag := map[string]string{MeasureAmount: "--amount", MeasurePoints: "--points", MeasureText: "--text"}
	if m != MeasureNone && !need[m] {
		return fmt.Errorf("%s needs %s", o.Kind, flag[m])
	}
	for _, k := range []string{MeasureAmount, MeasurePoints, MeasureText} {
		if k != m && need[k] {
			return fmt.Errorf("%s takes no %s", o.Kind, flag[k])
		}
	}
	if o.AmountCents != nil && *o.AmountCents <= 0 {
		return fmt.Errorf("%s: the amount must be more than 0", o.Kind)
	}
	if o.Points != nil && *o.Points <= 0 {
		return fmt.Errorf("%s: the points must be more than 0", o.Kind)
	}
	return nil
}

// Outcomes lists a referral's outcomes, oldest first.
func (s *Store) Outcomes(ctx context.Context, referralID int64) ([]Outcome, error) {
	var out []Outcome
	if err := s.q("outcomes_for").SelectContext(ctx, &out, referralID); err != nil {
		return nil, fmt.Errorf("store: outcomes of %s: %w", FormatRef(referralID), err)
	}
	return out, nil
}

// ParseCents reads an amount of money: "200", "200.5", "$1,200.50".
func ParseCents(s string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "$"), ",", "")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 2 || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, fmt.Errorf("not an amount of money (like 200 or 1,200.50): %q", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 1e12 {
		return 0, fmt.Errorf("not an amount of money (like 200 or 1,200.50): %q", s)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt((frac + "0")[:2], 10, 64); err != nil || strings.ContainsAny(frac, "+-") {
			return 0, fmt.Errorf("not an amount of money (like 200 or 1,200.50): %q", s)
		}
	}
	return w*100 + f, nil
}

// FormatCents writes cents as dollars: 120050 -> "$1,200.50".
func FormatCents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	whole := strconv.FormatInt(c/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s$%s.%02d", sign, b.String(), c%100)
}

// AllOutcomes returns every outcome by referral (for the export).
func (s *Store) AllOutcomes(ctx context.Context) (map[int64][]Outcome, error) {
	var all []Outcome
	if err := s.q("outcomes_all").SelectContext(ctx, &all); err != nil {
		return nil, fmt.Errorf("store: outcomes: %w", err)
	}
	out := map[int64][]Outcome{}
	for _, o := range all {
		out[o.ReferralID] = append(out[o.ReferralID], o)
	}
	return out, nil
}
