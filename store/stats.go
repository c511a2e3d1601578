package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Funnel counts referrals on their way through the program (SPEC §7
// stats). Referrals entered in error are never counted (they are not in
// Facts at all).
type Funnel struct {
	Received   int `db:"received" json:"received"`
	Accepted   int `db:"accepted" json:"accepted"`     // reached acceptance (or scheduled straight from the waiting list)
	Waitlisted int `db:"waitlisted" json:"waitlisted"` // put on the waiting list and not (yet) accepted
	Enrolled   int `db:"enrolled" json:"enrolled"`     // client is or was in coaching: enrolled, completed, disengaged
	Redirected int `db:"redirected" json:"redirected"` // better fit elsewhere
	NeedsInfo  int `db:"needs_info" json:"needs_info"` // still waiting for information from the referrer
}

// Eligible is how many referrals we could take on: accepted, or waitlisted
// for lack of capacity.
func (f Funnel) Eligible() int { return f.Accepted + f.Waitlisted }

// InCoaching reports whether a status means the client is or was in
// coaching (counts toward the grant target).
func InCoaching(status string) bool { return slices.Contains(OutcomeStatuses, status) }

// CountFunnel counts rows (as the funnel_* queries count in the database).
func CountFunnel(rows []Facts) Funnel {
	var f Funnel
	for _, r := range rows {
		f.Received++
		switch {
		case !r.AcceptedAt.IsZero():
			f.Accepted++
		case !r.WaitlistedAt.IsZero():
			f.Waitlisted++
		}
		if InCoaching(r.Status) {
			f.Enrolled++
		}
		switch r.Status {
		case StatusRedirected:
			f.Redirected++
		case StatusNeedsInfo:
			f.NeedsInfo++
		}
	}
	return f
}

// Clients assigns each referral a client number, so that one person
// referred twice (by two partners, or again after finishing) is counted
// once: referrals with the same phone, the same email, or the same name and
// date of birth are the same client, and so is anything linked through a
// chain of those. A name alone is not enough (two people may share one).
func Clients(rows []Facts) map[int64]int {
	parent := make([]int, len(rows))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	first := map[string]int{}
	for i, r := range rows {
		for _, k := range clientKeys(r) {
			if j, ok := first[k]; ok {
				parent[find(i)] = find(j)
			} else {
				first[k] = i
			}
		}
	}
	out := make(map[int64]int, len(rows))
	for i, r := range rows {
		out[r.ID] = find(i)
	}
	return out
}

func clientKeys(r Facts) []string {
	var ks []string
	if r.ClientPhone != "" {
		ks = append(ks, "phone:"+r.ClientPhone)
	}
	if r.ClientEmail != "" {
		ks = append(ks, "email:"+strings.ToLower(r.ClientEmail))
	}
	if r.NameKey != "" && r.DateOfBirth != "" {
		ks = append(ks, "name+dob:"+r.NameKey+"|"+r.DateOfBirth)
	}
	return ks
}

// Median is the middle of some measured durations.
type Median struct {
	Median time.Duration
	N      int // how many were measured
}

// MarshalJSON writes {"median_seconds": 90, "n": 4}.
func (m Median) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seconds float64 `json:"median_seconds"`
		N       int     `json:"n"`
	}{m.Median.Seconds(), m.N})
}

func median(ds []time.Duration) Median {
	if len(ds) == 0 {
		return Median{}
	}
	slices.Sort(ds)
	m := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		m = (ds[len(ds)/2-1] + m) / 2
	}
	return Median{Median: m, N: len(ds)}
}

// ReplyTime is the median time from a referrer's email to our first reply
// to it, over the distinct emails that brought rows and were answered.
func ReplyTime(rows []Facts) Median {
	seen := map[int64]bool{}
	var ds []time.Duration
	for _, r := range rows {
		if r.RepliedAt.IsZero() || seen[r.MessageID] {
			continue
		}
		seen[r.MessageID] = true
		ds = append(ds, max(0, r.RepliedAt.Sub(r.ReceivedAt)))
	}
	return median(ds)
}

// ContactTime is the median time from acceptance to the first contact
// attempt, over the accepted rows that have one.
func ContactTime(rows []Facts) Median {
	var ds []time.Duration
	for _, r := range rows {
		if r.AcceptedAt.IsZero() || r.FirstContactAt == nil {
			continue
		}
		ds = append(ds, max(0, r.FirstContactAt.Sub(r.AcceptedAt.Time)))
	}
	return median(ds)
}

// OutcomeTotal is one kind of outcome over a period, with its denominator.
type OutcomeTotal struct {
	Kind        string `json:"kind"`
	Clients     int    `json:"clients"` // clients with at least one
	Of          int    `json:"of"`      // clients in coaching in the period
	Count       int    `json:"count"`   // outcomes recorded
	AmountCents int64  `json:"amount_cents,omitempty"`
	Points      int64  `json:"points,omitempty"`
}

// TotalOutcomes totals outcomes by kind, in the order of OutcomeKinds, for
// every kind (zero ones too). clientOf maps referrals to clients (Clients);
// of is the denominator.
func TotalOutcomes(outs []Outcome, clientOf map[int64]int, of int) []OutcomeTotal {
	byKind := map[string]*OutcomeTotal{}
	clients := map[string]map[int]bool{}
	for _, k := range OutcomeKinds {
		byKind[k] = &OutcomeTotal{Kind: k, Of: of}
		clients[k] = map[int]bool{}
	}
	for _, o := range outs {
		t := byKind[o.Kind]
		if t == nil {
			continue
		}
		t.Count++
		if o.AmountCents != nil {
			t.AmountCents += *o.AmountCents
		}
		if o.Points != nil {
			t.Points += *o.Points
		}
		c, ok := clientOf[o.ReferralID]
		if !ok {
			c = -int(o.ReferralID) // not among the rows: its own client
		}
		clients[o.Kind][c] = true
	}
	out := make([]OutcomeTotal, 0, len(OutcomeKinds))
	for _, k := range OutcomeKinds {
		byKind[k].Clients = len(clients[k])
		out = append(out, *byKind[k])
	}
	return out
}

// InCoachingDuring returns the rows whose client was in coaching at some
// time in [from, to): entered coaching before to, and not closed before
// from.
func InCoachingDuring(rows []Facts, from, to time.Time) []Facts {
	var out []Facts
	for _, r := range rows {
		if !InCoaching(r.Status) {
			continue
		}
		start := r.EnrolledAt.Time
		if start.IsZero() {
			start = r.ReceivedAt
		}
		if !start.Before(to) || (r.ClosedAt != nil && r.ClosedAt.Before(from)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Target is progress toward the grant's promised number of clients.
type Target struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"` // the first instant after the period
	Target    int       `json:"target"`
	AsOf      time.Time `json:"as_of"`
	Enrolled  int       `json:"enrolled"`  // unduplicated clients who entered coaching in the period so far
	Expected  float64   `json:"expected"`  // where an even pace would be by AsOf
	Projected int       `json:"projected"` // at the pace so far, by End
	Elapsed   float64   `json:"elapsed"`   // share of the period gone by AsOf (0-1)
	Referrals int       `json:"referrals"` // referrals behind Enrolled (before deduplication)
}

// Grant describes a grant period for TargetProgress.
type Grant struct {
	Name       string
	Start, End time.Time // End: the first instant after the period
	Target     int
}

// TargetProgress counts the unduplicated clients who entered coaching in
// the grant period up to asOf, and where the pace says they should be.
func TargetProgress(rows []Facts, g Grant, asOf time.Time) Target {
	t := Target{Name: g.Name, Start: g.Start, End: g.End, Target: g.Target, AsOf: asOf}
	until := asOf
	if g.End.Before(until) {
		until = g.End
	}
	var in []Facts
	for _, r := range rows {
		if !InCoaching(r.Status) {
			continue
		}
		at := r.EnrolledAt.Time
		if at.IsZero() {
			at = r.ReceivedAt
		}
		if !at.Before(g.Start) && at.Before(until) {
			in = append(in, r)
		}
	}
	clients := map[int]bool{}
	for _, c := range Clients(in) {
		clients[c] = true
	}
	t.Enrolled, t.Referrals = len(clients), len(in)
	total := g.End.Sub(g.Start)
	if total <= 0 {
		return t
	}
	t.Elapsed = min(1, max(0, float64(until.Sub(g.Start))/float64(total)))
	t.Expected = float64(g.Target) * t.Elapsed
	switch {
	case t.Elapsed >= 1:
		t.Projected = t.Enrolled
	case until.Sub(g.Start) >= 24*time.Hour:
		t.Projected = int(float64(t.Enrolled)/t.Elapsed + 0.5)
	default:
		t.Projected = t.Enrolled // too early to say
	}
	return t
}

// Stats is the program's numbers for a period (SPEC §7 `refdesk stats`).
type Stats struct {
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Target     *Target        `json:"target,omitempty"`
	Partners   []PartnerCount `json:"partners"`
	Total      Funnel         `json:"total"`
	InCoaching int            `json:"in_coaching"` // unduplicated clients in coaching in the period: the outcomes' denominator
	Outcomes   []OutcomeTotal `json:"outcomes"`
	Reply      Median         `json:"reply_time"`
	Contact    Median         `json:"first_contact_time"`
}

// PartnerCount is one partner's funnel.
type PartnerCount struct {
	Partner string `db:"partner_id" json:"partner"`
	Funnel
}

// Stats computes the numbers of [from, to), and the grant target's progress
// as of asOf when g has a target. Counts are made in the database; only
// what medians and the unduplication of clients need is read row by row.
func (s *Store) Stats(ctx context.Context, from, to time.Time, g Grant, asOf time.Time) (*Stats, error) {
	st := &Stats{From: from, To: to, Partners: []PartnerCount{}}
	var timings, coaching []Facts
	var outcomes []Outcome
	loc := from.Location()
	err := s.InTxRead(ctx, func(t *Tx) error {
		if err := t.q("funnel_by_partner").SelectContext(ctx, &st.Partners, from.UTC(), to.UTC()); err != nil {
			return err
		}
		if err := t.q("timings_period").SelectContext(ctx, &timings, from.UTC(), to.UTC()); err != nil {
			return err
		}
		if err := t.q("facts_coaching").SelectContext(ctx, &coaching); err != nil {
			return err
		}
		return t.q("outcomes_period").SelectContext(ctx, &outcomes, from.In(loc).Format(time.DateOnly), to.In(loc).Format(time.DateOnly))
	})
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	for _, p := range st.Partners {
		f := &st.Total
		f.Received += p.Received
		f.Accepted += p.Accepted
		f.Waitlisted += p.Waitlisted
		f.Enrolled += p.Enrolled
		f.Redirected += p.Redirected
		f.NeedsInfo += p.NeedsInfo
	}
	clientOf := Clients(coaching)
	set := map[int]bool{}
	for _, r := range InCoachingDuring(coaching, from, to) {
		set[clientOf[r.ID]] = true
	}
	for _, o := range outcomes {
		if c, ok := clientOf[o.ReferralID]; ok {
			set[c] = true
		} else {
			set[-int(o.ReferralID)] = true
		}
	}
	st.InCoaching = len(set)
	st.Outcomes = TotalOutcomes(outcomes, clientOf, st.InCoaching)
	st.Reply, st.Contact = ReplyTime(timings), ContactTime(timings)
	if g.Target > 0 && !g.Start.IsZero() {
		t := TargetProgress(coaching, g, asOf)
		st.Target = &t
	}
	return st, nil
}
