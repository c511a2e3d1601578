package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"refdesk/store"
)

// outcomeJSON is the stable JSON shape of an outcome in `show --json`.
type outcomeJSON struct {
	Kind        string      `json:"kind"`
	Amount      json.Number `json:"amount,omitempty"`       // dollars, exact: 200.00
	AmountCents *int64      `json:"amount_cents,omitempty"` // the same in cents
	Points      *int64      `json:"points,omitempty"`
	Text        string      `json:"text,omitempty"`
	Date        string      `json:"date"` // YYYY-MM-DD, program time
	By          string      `json:"by"`
	Note        string      `json:"note,omitempty"`
	RecordedAt  string      `json:"recorded_at"`
}

func outcomeToJSON(o *store.Outcome) outcomeJSON {
	j := outcomeJSON{Kind: o.Kind, AmountCents: o.AmountCents, Points: o.Points, Text: o.Text, Date: o.Date, By: o.By,
		Note: o.Note, RecordedAt: rfc3339(o.CreatedAt)}
	if c := o.AmountCents; c != nil {
		j.Amount = json.Number(fmt.Sprintf("%d.%02d", *c/100, *c%100))
	}
	return j
}

func (a *app) outcomeCmd() *cobra.Command {
	var amount, text, date, note string
	var points int64
	var force bool
	c := &cobra.Command{
		Use:   "outcome ID KIND",
		Short: "Record an outcome for a client in coaching",
		Long: "Record an outcome for a referral whose client is in coaching (enrolled, completed or disengaged;\n" +
			"--force records it anyway and says so in the history).\n\n" +
			"Kinds (SPEC §3): " + strings.Join(store.OutcomeKinds, ", ") + ".\n" +
			"savings-increased, debt-reduced and tax-refund-saved need --amount (dollars: 200, 1,200.50);\n" +
			"credit-score-improved needs --points; other needs --text.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseRef(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg, st, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			o := &store.Outcome{ReferralID: id, Kind: args[1], Text: text, Note: note, By: a.who(),
				Date: st.Now().In(cfg.Location).Format(time.DateOnly)}
			if date != "" {
				d, err := time.ParseInLocation(time.DateOnly, date, cfg.Location)
				if err != nil {
					return fmt.Errorf("--date: not a date (YYYY-MM-DD): %q", date)
				}
				if d.After(st.Now()) {
					return fmt.Errorf("--date %s is in the future", date)
				}
				o.Date = date
			}
			if amount != "" {
				c, err := store.ParseCents(amount)
				if err != nil {
					return fmt.Errorf("--amount: %w", err)
				}
				o.AmountCents = &c
			}
			if cmd.Flags().Changed("points") {
				o.Points = &points
			}
			if err := st.AddOutcome(ctx, o, force); err != nil {
				return notFound(err, "referral "+store.FormatRef(id))
			}
			fmt.Fprintf(a.out, "%s: %s recorded for %s\n", store.FormatRef(id), o.Describe(), o.Date)
			return nil
		},
	}
	c.Flags().StringVar(&amount, "amount", "", "money, in dollars (savings-increased, debt-reduced, tax-refund-saved)")
	c.Flags().Int64Var(&points, "points", 0, "credit score points gained (credit-score-improved)")
	c.Flags().StringVar(&text, "text", "", "what it was (other)")
	c.Flags().StringVar(&date, "date", "", "the day it happened, YYYY-MM-DD (default today, program time)")
	c.Flags().StringVar(&note, "note", "", "a note for the history")
	c.Flags().BoolVar(&force, "force", false, "record it even if the client is not in coaching")
	return c
}
