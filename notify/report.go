package notify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// Report is one partner's monthly report (SPEC §6) as it is sent. It is
// built once and kept in the outbox row's data, so a retry sends the same
// content. It holds nothing the partner may not read: a client appears only
// by initials and the partner's own case ID, and only when the client agreed
// to share outcomes; everyone else is counted, never listed.
type Report struct {
	Partner     string `json:"partner"`
	PartnerName string `json:"partner_name"`
	Month       string `json:"month"`      // 2026-10
	MonthName   string `json:"month_name"` // October 2026
	// Partial is set when the month was not over when the report was made.
	Partial bool `json:"partial,omitempty"`

	// This month's referrals: how triage answered them, where they are now.
	Received  int     `json:"received"`
	Decisions []Count `json:"decisions"`
	Statuses  []Count `json:"statuses"`

	// The learning section.
	Eligible      int      `json:"eligible"` // accepted or waitlisted
	Accepted      int      `json:"accepted"`
	Waitlisted    int      `json:"waitlisted"`
	EligiblePct   int      `json:"eligible_pct"`
	Redirects     []Reason `json:"redirects"`      // why referrals went elsewhere
	Missing       []Count  `json:"missing"`        // what needs-info referrals still lack
	Criteria      Criteria `json:"criteria"`       // what a referral we can accept has
	ReplyTime     string   `json:"reply_time"`     // median, in words; "" when nothing was measured
	ReplyN        int      `json:"reply_n"`        // emails measured
	ContactTime   string   `json:"contact_time"`   // median acceptance -> first contact
	ContactN      int      `json:"contact_n"`      // clients measured
	PromiseDays   int      `json:"promise_days"`   // first contact promised within (business days)
	AwaitContact  int      `json:"await_contact"`  // accepted this month, not contacted yet
	OpenReferrals int      `json:"open_referrals"` // all of theirs still open

	// What happened this month to all their referrals.
	Changes  []Count `json:"changes"`  // status changes, by new status
	Outcomes []Count `json:"outcomes"` // outcomes recorded, by kind

	YTD *YTD `json:"ytd,omitempty"`

	// Lines are the clients who agreed to share outcomes; Unlisted counts
	// the others in this report.
	Lines    []Line `json:"lines"`
	Unlisted int    `json:"unlisted"`
}

// Count is a number with what it counts.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// Reason is why some referrals were redirected, and where to.
type Reason struct {
	Reason  string `json:"reason"`
	Service string `json:"service"`
	N       int    `json:"n"`
}

// Criteria restate what a good referral looks like, from the config.
type Criteria struct {
	Required  []string `json:"required"`  // each required field, in words
	Redirects []string `json:"redirects"` // when we send clients elsewhere
	Waitlists []string `json:"waitlists"` // when we waitlist
}

// YTD is the grant period's totals for the partner.
type YTD struct {
	Grant    string       `json:"grant"`
	Since    string       `json:"since"`   // YYYY-MM-DD
	Through  string       `json:"through"` // YYYY-MM-DD
	Funnel   store.Funnel `json:"funnel"`
	Outcomes int          `json:"outcomes"`
}

// Line is one consenting client's line (also the CSV attachment's rows).
type Line struct {
	CaseID       string `json:"case_id"`
	Initials     string `json:"initials"`
	Received     string `json:"received"` // YYYY-MM-DD
	Decision     string `json:"decision"`
	Status       string `json:"status"`
	FirstContact string `json:"first_contact,omitempty"`
	Outcomes     string `json:"outcomes,omitempty"` // kinds, "; "-joined
}

// ReportSource is what a report is built from (store.Store).
type ReportSource interface {
	PartnerData(ctx context.Context, q store.PartnerQuery) (*store.PartnerData, error)
}

// MonthStart is the first instant of t's month in loc.
func MonthStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
}

// ParseMonth reads "2026-10" as its first instant in loc.
func ParseMonth(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a month (YYYY-MM): %q", s)
	}
	return t, nil
}

// ReportKey is the outbox dedupe key of a partner's report for a month: the
// outbox's UNIQUE dedupe_key makes it one report per partner and month.
func ReportKey(partner string, month time.Time) string {
	return "report/" + partner + "/" + month.Format("2006-01")
}

// BuildReport builds a partner's report for the month starting at month
// (MonthStart), as of now.
func BuildReport(ctx context.Context, cfg *configs.Config, src ReportSource, p *configs.Partner, month, now time.Time) (*Report, error) {
	loc := cfg.Location
	from, to := month, month.AddDate(0, 1, 0)
	grantStart, grantEnd := cfg.Grant.StartIn(loc), cfg.Grant.EndIn(loc)
	q := store.PartnerQuery{Partner: p.ID, From: from, To: to}
	if !grantStart.IsZero() && grantStart.Before(to) {
		q.Since, q.Until = grantStart, to
		if !grantEnd.IsZero() && grantEnd.Before(to) {
			q.Until = grantEnd
		}
	}
	d, err := src.PartnerData(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := &Report{Partner: p.ID, PartnerName: p.Name, Month: month.Format("2006-01"), MonthName: month.Format("January 2006"),
		Partial: now.Before(to), PromiseDays: cfg.Program.FirstContactDays, Criteria: criteria(cfg)}
	if rep.PartnerName == "" {
		rep.PartnerName = p.ID
	}
	var monthRows []store.Facts
	for _, r := range d.Referrals {
		if !r.ReceivedAt.Before(from) && r.ReceivedAt.Before(to) {
			monthRows = append(monthRows, r)
		}
		if slices.Contains(store.OpenStatuses, r.Status) {
			rep.OpenReferrals++
		}
	}
	f := store.CountFunnel(monthRows)
	rep.Received, rep.Accepted, rep.Waitlisted, rep.Eligible = f.Received, f.Accepted, f.Waitlisted, f.Eligible()
	if f.Received > 0 {
		rep.EligiblePct = (100*f.Eligible() + f.Received/2) / f.Received
	}
	decisions, statuses, missing := map[string]int{}, map[string]int{}, map[string]int{}
	redirects := map[[2]string]int{}
	for _, r := range monthRows {
		decisions[r.Decision]++
		statuses[r.Status]++
		switch r.Status {
		case store.StatusRedirected:
			reason, svc := r.Reason, r.ServiceID
			if reason == "" {
				reason = "A coach found another service a better fit."
			}
			if s := cfg.Service(svc); s != nil {
				svc = s.Name
			}
			redirects[[2]string{reason, svc}]++
		case store.StatusNeedsInfo:
			for _, m := range r.Missing {
				missing[fieldLabel(m)]++
			}
		case store.StatusAccepted:
			if r.FirstContactAt == nil {
				rep.AwaitContact++
			}
		}
	}
	rep.Decisions = orderedCounts(decisions, []string{"accepted", "waitlisted", "redirected", "needs-info"}, decisionWords)
	rep.Statuses = orderedCounts(statuses, store.Statuses, nil)
	rep.Missing = orderedCounts(missing, nil, nil)
	for k, n := range redirects {
		rep.Redirects = append(rep.Redirects, Reason{Reason: k[0], Service: k[1], N: n})
	}
	sort.Slice(rep.Redirects, func(i, j int) bool {
		a, b := rep.Redirects[i], rep.Redirects[j]
		return a.N > b.N || a.N == b.N && a.Reason < b.Reason
	})
	if m := store.ReplyTime(monthRows); m.N > 0 {
		rep.ReplyTime, rep.ReplyN = HumanDuration(m.Median), m.N
	}
	if m := store.ContactTime(monthRows); m.N > 0 {
		rep.ContactTime, rep.ContactN = HumanDuration(m.Median), m.N
	}

	changes := map[string]int{}
	for _, c := range d.Changes {
		changes[c.To]++
	}
	rep.Changes = orderedCounts(changes, store.Statuses, nil)
	monthOutcomes := map[string]int{}
	byReferral := map[int64][]string{}
	fromDay, toDay := from.Format(time.DateOnly), to.Format(time.DateOnly)
	for _, o := range d.Outcomes {
		if o.Date >= fromDay && o.Date < toDay {
			monthOutcomes[o.Kind]++
		}
		if !slices.Contains(byReferral[o.ReferralID], o.Kind) {
			byReferral[o.ReferralID] = append(byReferral[o.ReferralID], o.Kind)
		}
	}
	rep.Outcomes = orderedCounts(monthOutcomes, store.OutcomeKinds, nil)

	if !q.Since.IsZero() {
		rep.YTD = &YTD{Grant: cfg.Grant.Name, Since: q.Since.Format(time.DateOnly),
			Through: q.Until.AddDate(0, 0, -1).Format(time.DateOnly), Funnel: d.Period, Outcomes: d.PeriodOutcomes}
	}

	// Lines: this month's referrals, their open ones, and any with news
	// this month; only clients who agreed to share are listed.
	news := map[int64]bool{}
	for _, c := range d.Changes {
		news[c.ReferralID] = true
	}
	for _, o := range d.Outcomes {
		if o.Date >= fromDay && o.Date < toDay {
			news[o.ReferralID] = true
		}
	}
	for _, r := range d.Referrals {
		inMonth := !r.ReceivedAt.Before(from)
		if !inMonth && !news[r.ID] && !slices.Contains(store.OpenStatuses, r.Status) {
			continue
		}
		if !r.ShareOutcomes {
			rep.Unlisted++
			continue
		}
		l := Line{CaseID: r.PartnerCaseID, Initials: parse.Initials(r.ClientName), Received: r.ReceivedAt.In(loc).Format(time.DateOnly),
			Decision: r.Decision, Status: r.Status, Outcomes: strings.Join(byReferral[r.ID], "; ")}
		if r.FirstContactAt != nil {
			l.FirstContact = r.FirstContactAt.In(loc).Format(time.DateOnly)
		}
		rep.Lines = append(rep.Lines, l)
	}
	return rep, nil
}

// criteria restates what a referral we can accept has, from the config:
// the required fields and the rules' reasons.
func criteria(cfg *configs.Config) Criteria {
	var c Criteria
	for _, f := range cfg.Intake.Required {
		line := fieldLabel(f)
		if h := fieldHelp(f); h != "" {
			line += ": " + h
		}
		c.Required = append(c.Required, line)
	}
	if !slices.Contains(cfg.Intake.Required, "share_outcomes") {
		c.Required = append(c.Required, "Share outcomes: yes, if the client agrees that we tell you how it went (optional)")
	}
	if !slices.Contains(cfg.Intake.Required, "partner_case_id") {
		c.Required = append(c.Required, "Case ID: your own case ID, so our replies and reports use it (optional)")
	}
	for _, r := range cfg.Rules {
		switch r.Then {
		case "redirect":
			line := r.Reason
			if s := cfg.Service(r.Service); s != nil {
				line += " (We point them to " + s.Name + ".)"
			}
			c.Redirects = append(c.Redirects, line)
		case "waitlist":
			c.Waitlists = append(c.Waitlists, r.Reason)
		}
	}
	return c
}

// orderedCounts lists counts in the order of names (then any others by
// name), naming each with words(name) when given.
func orderedCounts(m map[string]int, names []string, words func(string) string) []Count {
	var out []Count
	done := map[string]bool{}
	add := func(n string) {
		if m[n] == 0 || done[n] {
			return
		}
		done[n] = true
		label := n
		if words != nil {
			label = words(n)
		}
		out = append(out, Count{Name: label, N: m[n]})
	}
	for _, n := range names {
		add(n)
	}
	rest := make([]string, 0, len(m))
	for n := range m {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	for _, n := range rest {
		add(n)
	}
	return out
}

// HumanDuration says a duration the way people do: "under a minute",
// "14 minutes", "3.5 hours", "2.1 days".
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < 2*time.Minute:
		return "1 minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return plural(d.Hours(), "hour")
	}
	return plural(d.Hours()/24, "day")
}

// plural writes v to one decimal with its unit: "1 hour", "3.5 hours".
func plural(v float64, unit string) string {
	n := strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	if n == "1" {
		return n + " " + unit
	}
	return n + " " + unit + "s"
}
