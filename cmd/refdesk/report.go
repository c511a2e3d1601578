package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/store"
)

func (a *app) reportCmd() *cobra.Command {
	var month, partner, htmlFile string
	var preview, send, force bool
	c := &cobra.Command{
		Use:   "report",
		Short: "Monthly partner reports: status, --preview, --send",
		Long: `Monthly partner reports (SPEC §6). refdesk serve sends each partner's report for the
previous month on reports.day at reports.hour (program time); this command shows
whether they went out, previews them and sends them by hand.

  refdesk report                          the last month's reports: queued? sent?
  refdesk report --preview                each partner's next report, on stdout (no mail, no SMTP)
  refdesk report --preview --partner P --html FILE
                                          one report's HTML into FILE
  refdesk report --send                   queue the next report now; refdesk serve sends it
  refdesk report --month 2026-10 --send   queue October's report (if it has not gone out)
  refdesk report --send --force           send again, even if sent already

--month defaults to the month whose report goes out next: the current month
(so far), or the previous one until its report time. A month's report goes out
once per partner, whoever sends it (serve's schedule, --send, a second
daemon); a report on a month that is not over is a separate "so far" report,
at most one per partner a day, and the full report still goes out when the
month is over. --force makes a new copy. Reports list clients only by initials
and the partner's case ID, and only clients who agreed to share outcomes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, st, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			now := st.Now()
			m := notify.NextReportMonth(cfg, now)
			if !preview && !send {
				m, _ = notify.DueMonth(cfg, now) // the status of the last report due
			}
			if month != "" {
				if m, err = notify.ParseMonth(month, cfg.Location); err != nil {
					return fmt.Errorf("--month: %w", err)
				}
			}
			partners, err := reportPartners(cfg, partner, preview && !send)
			if err != nil {
				return err
			}
			if htmlFile != "" && !preview {
				return errors.New("--html goes with --preview")
			}
			if htmlFile != "" && len(partners) != 1 {
				return errors.New("--html writes one report: name its partner with --partner")
			}
			if force && !send {
				return errors.New("--force goes with --send")
			}
			if preview {
				if err := a.previewReports(ctx, cfg, st, partners, m, htmlFile); err != nil {
					return err
				}
			}
			if send {
				return a.sendReports(ctx, cfg, st, partners, m, force)
			}
			if !preview {
				return a.reportStatus(ctx, cfg, st, partners, m)
			}
			return nil
		},
	}
	c.Flags().StringVar(&month, "month", "", "the month, YYYY-MM (default: the one whose report goes out next)")
	c.Flags().StringVar(&partner, "partner", "", "only this partner id")
	c.Flags().BoolVar(&preview, "preview", false, "print the reports' text (no mail is sent)")
	c.Flags().StringVar(&htmlFile, "html", "", "with --preview: write the report's HTML to this file")
	c.Flags().BoolVar(&send, "send", false, "queue the reports for sending (refdesk serve sends them)")
	c.Flags().BoolVar(&force, "force", false, "with --send: send again even if this month's report went out")
	return c
}

// reportPartners are the partners a report command is about: --partner,
// or every partner with report_to (every partner at all for a preview).
func reportPartners(cfg *configs.Config, id string, previewOnly bool) ([]*configs.Partner, error) {
	if id != "" {
		p := cfg.Partner(id)
		if p == nil {
			var ids []string
			for _, p := range cfg.Partners {
				ids = append(ids, p.ID)
			}
			return nil, fmt.Errorf("no partner %q (partners: %s)", id, strings.Join(ids, ", "))
		}
		return []*configs.Partner{p}, nil
	}
	var out []*configs.Partner
	for i := range cfg.Partners {
		if p := &cfg.Partners[i]; len(p.ReportTo) > 0 || previewOnly {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no partner has report_to addresses in the config")
	}
	return out, nil
}

func (a *app) previewReports(ctx context.Context, cfg *configs.Config, st *store.Store, partners []*configs.Partner, month time.Time, htmlFile string) error {
	r, err := notify.NewRenderer(cfg)
	if err != nil {
		return err
	}
	for i, p := range partners {
		rep, err := notify.BuildReport(ctx, cfg, st, p, month, st.Now())
		if err != nil {
			return err
		}
		data, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		got, err := r.Render(&store.OutMsg{Kind: "monthly-report", Data: data, To: strings.Join(p.ReportTo, ", ")})
		if err != nil {
			return err
		}
		if htmlFile != "" {
			if err := os.WriteFile(htmlFile, []byte(got.HTML), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "wrote %s (%s, %s)\n", htmlFile, p.ID, rep.MonthName)
			continue
		}
		if i > 0 {
			fmt.Fprintln(a.out)
		}
		to := strings.Join(p.ReportTo, ", ")
		if to == "" {
			to = "(nobody: the partner has no report_to)"
		}
		fmt.Fprintf(a.out, "To: %s\nSubject: %s\nAttachment: %s (%d clients listed)\n\n%s", to, got.Subject,
			notify.ReportCSVName(rep), len(rep.Lines), got.Text)
	}
	return nil
}

func (a *app) sendReports(ctx context.Context, cfg *configs.Config, st *store.Store, partners []*configs.Partner, month time.Time, force bool) error {
	now := st.Now()
	if now.Before(month.AddDate(0, 1, 0)) {
		fmt.Fprintf(a.out, "%s is not over: this is a report so far; the full report goes out %s.\n",
			month.Format("January 2006"), notify.ReportDue(cfg, month).Format("2006-01-02 15:04 MST"))
	}
	var errs []error
	for _, p := range partners {
		if len(p.ReportTo) == 0 {
			errs = append(errs, fmt.Errorf("%s has no report_to addresses", p.ID))
			continue
		}
		res, err := notify.QueueReport(ctx, cfg, st, p, month, now, force)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.ID, err))
			continue
		}
		if res.Added {
			fmt.Fprintf(a.out, "%s: queued %s (%s) to %s\n", p.ID, res.Out.Ref(), res.Key, res.Out.To)
			continue
		}
		state := res.Out.Status
		if res.Out.SentAt != nil {
			state += " " + res.Out.SentAt.In(cfg.Location).Format("2006-01-02 15:04")
		}
		fmt.Fprintf(a.out, "%s: already queued as %s (%s, %s); --force sends it again\n", p.ID, res.Out.Ref(), res.Key, state)
	}
	fmt.Fprintln(a.out, "refdesk serve sends queued reports (within seconds when it is running).")
	return errors.Join(errs...)
}

func (a *app) reportStatus(ctx context.Context, cfg *configs.Config, st *store.Store, partners []*configs.Partner, month time.Time) error {
	rows := [][]string{}
	for _, p := range partners {
		key := notify.ReportKey(p.ID, month)
		outs, err := st.OutByDedupeFamily(ctx, key)
		if err != nil {
			return err
		}
		if len(outs) == 0 {
			state := "not queued"
			if ok, err := st.PartnerHasReferrals(ctx, p.ID, month.AddDate(0, 1, 0)); err == nil && !ok {
				state += " (no referrals yet)"
			}
			rows = append(rows, []string{p.ID, key, "-", state, ""})
		}
		for _, o := range outs {
			sent := ""
			if o.SentAt != nil {
				sent = o.SentAt.In(cfg.Location).Format("2006-01-02 15:04")
			}
			rows = append(rows, []string{p.ID, *o.DedupeKey, o.Ref(), o.Status, sent})
		}
	}
	fmt.Fprintf(a.out, "Reports for %s (due %s):\n", month.Format("January 2006"),
		notify.ReportDue(cfg, month).Format("2006-01-02 15:04 MST"))
	if err := a.table([]string{"PARTNER", "KEY", "OUTBOX", "STATUS", "SENT"}, rows); err != nil {
		return err
	}
	if next := notify.NextReportMonth(cfg, st.Now()); !next.Equal(month) {
		fmt.Fprintf(a.out, "Next: %s, due %s (refdesk report --preview shows it).\n", next.Format("January 2006"),
			notify.ReportDue(cfg, next).Format("2006-01-02 15:04 MST"))
	}
	return nil
}
