package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"refdesk/notify"
	"refdesk/store"
)

// exportColumns are the CSV export's columns, in order (documented in
// `refdesk export --help` and the README).
var exportColumns = []struct{ name, doc string }{
	{"id", "reference, R-1042"},
	{"status", "where it is now (SPEC §3)"},
	{"decision", "what triage decided"},
	{"partner", "partner id"},
	{"received_at", "when the email arrived, RFC 3339 UTC"},
	{"client_name", "as written by the referrer"},
	{"client_phone", "digits"},
	{"client_email", ""},
	{"date_of_birth", "YYYY-MM-DD"},
	{"client_zip", ""},
	{"language", ""},
	{"needs", "reason for referral"},
	{"consent", "yes/no"},
	{"share_outcomes", "yes/no: may outcomes be shared with the partner"},
	{"partner_case_id", "the partner's own case ID"},
	{"service", "for redirects: the service id"},
	{"rule", "the triage rule that fired"},
	{"reason", "why redirected, waitlisted or needs-info"},
	{"missing", "needs-info: missing fields, ';'-joined"},
	{"referrer", "the referrer's email address"},
	{"first_contact_at", "first contact attempt, RFC 3339 UTC"},
	{"closed_at", "when it reached a final status, RFC 3339 UTC"},
	{"outcomes", "kind [amount|points|text] date, ';'-joined"},
}

func exportHelp() string {
	var b strings.Builder
	for _, c := range exportColumns {
		fmt.Fprintf(&b, "  %-17s %s\n", c.name, c.doc)
	}
	return b.String()
}

func (a *app) exportCmd() *cobra.Command {
	var format, output string
	c := &cobra.Command{
		Use:   "export",
		Short: "Export every referral (CSV or JSON), with outcomes",
		Long: `Export every referral, oldest first, including those entered in error (their
status says so). The file holds personal data: keep it as safe as the database.
--output writes a new file with mode 0600.

JSON: an array of objects with the stable names of list --json, plus "outcomes".
CSV columns:
` + exportHelp() + `Cells that a spreadsheet would take for a formula (starting with = + - @) get a
leading apostrophe.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "json" {
				return fmt.Errorf("--format: csv or json, not %q", format)
			}
			ctx := cmd.Context()
			_, st, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			rs, err := st.Referrals(ctx, store.Filter{})
			if err != nil {
				return err
			}
			slices.Reverse(rs)
			outcomes, err := st.AllOutcomes(ctx)
			if err != nil {
				return err
			}
			w := a.out
			if output != "" {
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if format == "json" {
				return exportJSON(w, rs, outcomes)
			}
			return exportCSV(w, rs, outcomes)
		},
	}
	c.Flags().StringVar(&format, "format", "csv", "csv or json")
	c.Flags().StringVar(&output, "output", "", "write to this new file (mode 0600) instead of stdout")
	return c
}

func exportJSON(w io.Writer, rs []store.Referral, outcomes map[int64][]store.Outcome) error {
	out := make([]referralJSON, len(rs))
	for i := range rs {
		out[i] = toJSON(&rs[i])
		for j := range outcomes[rs[i].ID] {
			out[i].Outcomes = append(out[i].Outcomes, outcomeToJSON(&outcomes[rs[i].ID][j]))
		}
	}
	a := &app{out: w}
	return a.printJSON(out)
}

func exportCSV(w io.Writer, rs []store.Referral, outcomes map[int64][]store.Outcome) error {
	cw := csv.NewWriter(w)
	header := make([]string, len(exportColumns))
	for i, c := range exportColumns {
		header[i] = c.name
	}
	cw.Write(header)
	for _, r := range rs {
		var outs []string
		for _, o := range outcomes[r.ID] {
			outs = append(outs, strings.TrimSpace(o.Kind+" "+o.Measure())+" "+o.Date)
		}
		f := r.Fields
		cw.Write(notify.CSVRow(r.Ref(), r.Status, r.Decision, r.PartnerID, rfc3339(r.ReceivedAt), r.ClientName,
			r.ClientPhone, r.ClientEmail, r.DateOfBirth, f["client_zip"], f["language"], f["needs"], f["consent"],
			yesNo(r.ShareOutcomes), r.PartnerCaseID, r.ServiceID, r.RuleID, r.Reason,
			strings.Join(r.Missing, ";"), r.ReferrerAddr, rfc3339p(r.FirstContactAt), rfc3339p(r.ClosedAt),
			strings.Join(outs, "; ")))
	}
	cw.Flush()
	return cw.Error()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
