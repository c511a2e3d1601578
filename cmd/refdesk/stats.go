package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/store"
)

func (a *app) statsCmd() *cobra.Command {
	var period string
	c := &cobra.Command{
		Use:   "stats",
		Short: "Progress to the grant target, the funnel by partner, outcomes, response times",
		Long: `Progress to the grant target: unduplicated clients who entered coaching in the
grant period, where an even pace says we should be today, and a projection to the
period's end. Then, for the period (--period grant, the default, or YYYY-MM): the
funnel by partner (received, accepted, enrolled; waitlisted, redirected, still
needing information), outcome totals each with its denominator (clients in
coaching in the period), and the median times from a referral email to our reply
and from acceptance to first contact. Referrals entered in error are never
counted. A client referred twice (same phone, email, or name and date of birth)
counts once toward the target.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, st, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			loc := cfg.Location
			g := store.Grant{Name: cfg.Grant.Name, Start: cfg.Grant.StartIn(loc), End: cfg.Grant.EndIn(loc), Target: cfg.Grant.TargetClients}
			var from, to time.Time
			switch period {
			case "", "grant":
				if g.Start.IsZero() || g.End.IsZero() {
					return errors.New("the config has no [grant] start and end: use --period YYYY-MM")
				}
				from, to = g.Start, g.End
			default:
				if from, err = notify.ParseMonth(period, loc); err != nil {
					return fmt.Errorf("--period: grant or %w", err)
				}
				to = from.AddDate(0, 1, 0)
			}
			now := st.Now()
			asOf := now
			if to.Before(asOf) {
				asOf = to
			}
			s, err := st.Stats(ctx, from, to, g, asOf)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(s)
			}
			a.printStats(cfg, s, period)
			return nil
		},
	}
	c.Flags().StringVar(&period, "period", "grant", "grant (the grant period) or a month, YYYY-MM")
	return a.addJSON(c)
}

func (a *app) printStats(cfg *configs.Config, s *store.Stats, period string) {
	w := a.out
	day := func(t time.Time) string { return t.In(cfg.Location).Format(time.DateOnly) }
	if t := s.Target; t != nil {
		fmt.Fprintf(w, "%s: %s to %s\n", t.Name, day(t.Start), day(t.End.AddDate(0, 0, -1)))
		pct := 0
		if t.Target > 0 {
			pct = t.Enrolled * 100 / t.Target
		}
		fmt.Fprintf(w, "  enrolled clients  %d of %d  %s  %d%%\n", t.Enrolled, t.Target, progressBar(t.Enrolled, t.Expected, t.Target, 40), pct)
		expected := int(math.Round(t.Expected))
		gap := "on pace"
		switch d := t.Enrolled - expected; {
		case d < 0:
			gap = strconv.Itoa(-d) + " behind"
		case d > 0:
			gap = strconv.Itoa(d) + " ahead"
		}
		days := int(t.End.Sub(t.Start).Hours()/24 + 0.5)
		fmt.Fprintf(w, "  pace              %d by %s (day %d of %d): %s\n", expected, day(t.AsOf),
			int(t.Elapsed*float64(days)+0.5), days, gap)
		if t.Elapsed < 1 {
			fmt.Fprintf(w, "  projection        %d by %s at this pace (target %d)\n", t.Projected, day(t.End.AddDate(0, 0, -1)), t.Target)
		}
		if t.Referrals != t.Enrolled {
			fmt.Fprintf(w, "  (%d referrals in coaching; a client referred more than once counts once)\n", t.Referrals)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "No grant target in the config ([grant] target_clients).")
		fmt.Fprintln(w)
	}

	label := "the grant period"
	if period != "" && period != "grant" {
		label = s.From.In(cfg.Location).Format("January 2006")
	}
	fmt.Fprintf(w, "Referrals received in %s (%s to %s), by partner:\n", label, day(s.From), day(s.To.AddDate(0, 0, -1)))
	rows := [][]string{}
	row := func(name string, f store.Funnel) []string {
		return []string{name, strconv.Itoa(f.Received), share(f.Accepted, f.Received), share(f.Enrolled, f.Received),
			strconv.Itoa(f.Waitlisted), strconv.Itoa(f.Redirected), strconv.Itoa(f.NeedsInfo)}
	}
	for _, p := range s.Partners {
		rows = append(rows, row(p.Partner, p.Funnel))
	}
	rows = append(rows, row("total", s.Total))
	a.tableIndent("  ", []string{"PARTNER", "RECEIVED", "ACCEPTED", "ENROLLED", "WAITLISTED", "REDIRECTED", "NEEDS-INFO"}, rows)

	fmt.Fprintf(w, "\nOutcomes in %s, of the clients in coaching then (%d):\n", label, s.InCoaching)
	rows = rows[:0]
	for _, o := range s.Outcomes {
		total := ""
		switch {
		case o.AmountCents > 0:
			total = store.FormatCents(o.AmountCents)
		case o.Points > 0:
			total = fmt.Sprintf("%+d points", o.Points)
		}
		rows = append(rows, []string{o.Kind, fmt.Sprintf("%d of %d", o.Clients, o.Of), pctOf(o.Clients, o.Of), strconv.Itoa(o.Count), total})
	}
	a.tableIndent("  ", []string{"OUTCOME", "CLIENTS", "SHARE", "RECORDED", "TOTAL"}, rows)

	fmt.Fprintln(w, "\nResponse times (referrals received in the period):")
	median := func(m store.Median, what string) string {
		if m.N == 0 {
			return "nothing to measure yet"
		}
		if m.N == 1 {
			what = strings.TrimSuffix(what, "s")
		}
		return fmt.Sprintf("%s (%d %s)", notify.HumanDuration(m.Median), m.N, what)
	}
	fmt.Fprintf(w, "  from a referral email to our reply (median):  %s\n", median(s.Reply, "emails"))
	fmt.Fprintf(w, "  from acceptance to first contact (median):    %s\n", median(s.Contact, "clients"))
}

// progressBar draws n of target as a bar width wide, with a | where an
// even pace would be: [########....|..........].
func progressBar(n int, expected float64, target, width int) string {
	if target <= 0 {
		return ""
	}
	fill := min(width, n*width/target)
	mark := min(width-1, int(expected*float64(width)/float64(target)))
	b := []byte(strings.Repeat("#", fill) + strings.Repeat(".", width-fill))
	if mark >= 0 && mark < width && b[mark] == '.' {
		b[mark] = '|'
	}
	return "[" + string(b) + "]"
}

// share is "n (p%)" of a total.
func share(n, of int) string {
	if of == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d (%s)", n, pctOf(n, of))
}

func pctOf(n, of int) string {
	if of == 0 {
		return "-"
	}
	return strconv.Itoa((100*n+of/2)/of) + "%"
}
