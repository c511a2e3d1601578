package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"refdesk/store"
)

// referralJSON is the stable JSON shape of a referral (SPEC §7).
type referralJSON struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	Decision      string            `json:"decision"`
	Partner       string            `json:"partner"`
	ReceivedAt    string            `json:"received_at"`
	ClientName    string            `json:"client_name"`
	Service       string            `json:"service,omitempty"`
	Rule          string            `json:"rule,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Missing       []string          `json:"missing,omitempty"`
	PartnerCaseID string            `json:"partner_case_id,omitempty"`
	ShareOutcomes bool              `json:"share_outcomes"`
	Referrer      string            `json:"referrer"`
	Fields        map[string]string `json:"fields"`
	Extra         map[string]string `json:"extra,omitempty"`
	Notes         []string          `json:"notes,omitempty"`
	FirstContact  string            `json:"first_contact_at,omitempty"`
	ClosedAt      string            `json:"closed_at,omitempty"`
	Events        []eventJSON       `json:"events,omitempty"`
	Outcomes      []outcomeJSON     `json:"outcomes,omitempty"`
	Messages      []messageJSON     `json:"messages,omitempty"`
	Replies       []outJSON         `json:"replies,omitempty"`
	Attachments   []attachmentJSON  `json:"attachments,omitempty"`
}

type attachmentJSON struct {
	ID          string `json:"id"`
	Message     string `json:"message"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Candidates  int    `json:"candidates"`
	Problem     string `json:"problem,omitempty"`
}

type eventJSON struct {
	At      string    `json:"at"`
	By      string    `json:"by"`
	Kind    string    `json:"kind"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Note    string    `json:"note,omitempty"`
	Forced  bool      `json:"forced,omitempty"`
	Message string    `json:"message,omitempty"`
	at      time.Time // exactly when (the JSON has seconds): the timeline's order
}

type messageJSON struct {
	ID          string    `json:"id"`
	From        string    `json:"from"`
	Subject     string    `json:"subject"`
	ReceivedAt  string    `json:"received_at"`
	Disposition string    `json:"disposition"`
	Reason      string    `json:"reason,omitempty"`
	Folder      string    `json:"folder,omitempty"`
	at          time.Time // exactly when (the JSON has seconds): the timeline's order
}

type outJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	To        string    `json:"to"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	MessageID string    `json:"message_id"`
	CreatedAt string    `json:"created_at"`
	SentAt    string    `json:"sent_at,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	at        time.Time // exactly when (the JSON has seconds): the timeline's order
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func rfc3339p(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc3339(*t)
}

func toJSON(r *store.Referral) referralJSON {
	return referralJSON{
		ID: r.Ref(), Status: r.Status, Decision: r.Decision, Partner: r.PartnerID, ReceivedAt: rfc3339(r.ReceivedAt),
		ClientName: r.ClientName, Service: r.ServiceID, Rule: r.RuleID, Reason: r.Reason, Missing: r.Missing,
		PartnerCaseID: r.PartnerCaseID, ShareOutcomes: r.ShareOutcomes, Referrer: r.ReferrerAddr,
		Fields: r.Fields, Extra: r.Extra, Notes: r.Notes, FirstContact: rfc3339p(r.FirstContactAt), ClosedAt: rfc3339p(r.ClosedAt),
	}
}

func eventToJSON(e store.Event) eventJSON {
	ej := eventJSON{at: e.At, At: rfc3339(e.At), By: e.By, Kind: e.Kind, From: e.FromStatus, To: e.ToStatus, Note: e.Note, Forced: e.Forced}
	if e.MessageID != nil {
		ej.Message = "M-" + strconv.FormatInt(*e.MessageID, 10)
	}
	return ej
}

func outToJSON(o *store.OutMsg) outJSON {
	return outJSON{at: o.CreatedAt, ID: o.Ref(), Kind: o.Kind, To: o.To, Status: o.Status, Attempts: o.Attempts, MessageID: o.MessageID,
		CreatedAt: rfc3339(o.CreatedAt), SentAt: rfc3339p(o.SentAt), LastError: o.LastError}
}

func msgToJSON(m *store.Message) messageJSON {
	return messageJSON{at: m.ReceivedAt, ID: m.Ref(), From: m.FromAddr, Subject: m.Subject, ReceivedAt: rfc3339(m.ReceivedAt),
		Disposition: m.Disposition, Reason: m.Reason, Folder: m.MovedTo}
}

func (a *app) listCmd() *cobra.Command {
	var f store.Filter
	var since string
	c := &cobra.Command{
		Use:   "list",
		Short: "List referrals, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Status != "" && !store.IsStatus(f.Status) {
				return fmt.Errorf("unknown status %q (one of: %s)", f.Status, strings.Join(store.Statuses, ", "))
			}
			cfg, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if since != "" {
				t, err := time.ParseInLocation(time.DateOnly, since, cfg.Location)
				if err != nil {
					return fmt.Errorf("--since: not a date (YYYY-MM-DD): %q", since)
				}
				f.Since = t
			}
			if a.jsonOut {
				rs, err := st.Referrals(cmd.Context(), f)
				if err != nil {
					return err
				}
				ids := make([]int64, len(rs))
				for i := range rs {
					ids[i] = rs[i].ID
				}
				events, err := st.EventsOf(cmd.Context(), ids)
				if err != nil {
					return err
				}
				out := make([]referralJSON, len(rs))
				for i := range rs {
					out[i] = toJSON(&rs[i])
					for _, e := range events[rs[i].ID] {
						out[i].Events = append(out[i].Events, eventToJSON(e))
					}
				}
				return a.printJSON(out)
			}
			rs, err := st.Rows(cmd.Context(), f)
			if err != nil {
				return err
			}
			rows := make([][]string, len(rs))
			for i, r := range rs {
				rows[i] = []string{r.Ref(), r.ReceivedAt.In(cfg.Location).Format("2006-01-02 15:04"), r.PartnerID,
					r.ClientName, r.Status, r.Decision, r.ServiceID}
			}
			return a.table([]string{"ID", "RECEIVED", "PARTNER", "CLIENT", "STATUS", "DECISION", "SERVICE"}, rows)
		},
	}
	c.Flags().StringVar(&f.Status, "status", "", "only this status")
	c.Flags().StringVar(&f.Partner, "partner", "", "only this partner id")
	c.Flags().StringVar(&since, "since", "", "only referrals received on or after this date (YYYY-MM-DD)")
	c.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (default: every match)")
	return a.addJSON(c)
}

func (a *app) showCmd() *cobra.Command {
	var saveDir string
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one referral: fields, messages, attachments, events, outcomes, replies",
		Long: `Show one referral: fields, messages, attachments, events, outcomes and replies.
--save-attachments DIR writes the referral's attachments into DIR (created
0700 if missing) as 0600 files with safe names: never a path from the email.`,
		Args: cobra.ExactArgs(1),
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
			r, err := st.Referral(ctx, id)
			if err != nil {
				return notFound(err, "referral "+store.FormatRef(id))
			}
			events, err := st.Events(ctx, id)
			if err != nil {
				return err
			}
			msgs, err := st.MessagesForReferral(ctx, id)
			if err != nil {
				return err
			}
			outs, err := st.OutboxForReferral(ctx, id)
			if err != nil {
				return err
			}
			outcomes, err := st.Outcomes(ctx, id)
			if err != nil {
				return err
			}
			v := toJSON(r)
			for i := range outcomes {
				v.Outcomes = append(v.Outcomes, outcomeToJSON(&outcomes[i]))
			}
			for _, e := range events {
				v.Events = append(v.Events, eventToJSON(e))
			}
			for i := range msgs {
				v.Messages = append(v.Messages, msgToJSON(&msgs[i]))
			}
			for i := range outs {
				v.Replies = append(v.Replies, outToJSON(&outs[i]))
			}
			atts, err := st.AttachmentsForReferral(ctx, id)
			if err != nil {
				return err
			}
			for _, at := range atts {
				v.Attachments = append(v.Attachments, attachmentJSON{ID: at.Ref(), Message: "M-" + strconv.FormatInt(at.MessageID, 10),
					Filename: at.Filename, ContentType: at.ContentType, Size: at.Size, SHA256: at.SHA256,
					Candidates: at.Candidates, Problem: at.Problem})
			}
			if saveDir != "" {
				return a.saveAttachments(ctx, st, atts, saveDir)
			}
			if a.jsonOut {
				return a.printJSON(v)
			}
			a.printReferral(v, cfg.Location)
			return nil
		},
	}
	c.Flags().StringVar(&saveDir, "save-attachments", "", "write the referral's attachments into this directory")
	return a.addJSON(c)
}

func (a *app) printReferral(v referralJSON, loc *time.Location) {
	w := a.out
	local := func(s string) string {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s
		}
		return t.In(loc).Format("2006-01-02 15:04")
	}
	fmt.Fprintf(w, "%s  %s  (decided %s)\n", v.ID, v.Status, v.Decision)
	fmt.Fprintf(w, "partner:   %s, referred by %s on %s\n", v.Partner, v.Referrer, local(v.ReceivedAt))
	if v.Service != "" {
		fmt.Fprintf(w, "service:   %s (rule %s)\n", v.Service, v.Rule)
	}
	if v.Reason != "" {
		fmt.Fprintf(w, "reason:    %s\n", v.Reason)
	}
	if v.FirstContact != "" {
		fmt.Fprintf(w, "contacted: %s\n", local(v.FirstContact))
	}
	fmt.Fprintln(w, "\nfields:")
	printMap(w, "  ", v.Fields)
	if len(v.Extra) > 0 {
		fmt.Fprintln(w, "other labels:")
		printMap(w, "  ", v.Extra)
	}
	for _, n := range v.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(v.Attachments) > 0 {
		fmt.Fprintln(w, "\nattachments:")
		rows := [][]string{}
		for _, at := range v.Attachments {
			what := fmt.Sprintf("%d referral(s)", at.Candidates)
			if at.Problem != "" {
				what = "not readable: " + at.Problem
			}
			rows = append(rows, []string{at.ID, at.Filename, at.ContentType, byteSize(at.Size), what})
		}
		a.tableIndent("  ", []string{"ID", "FILE", "TYPE", "SIZE", "READ"}, rows)
	}
	if len(v.Outcomes) > 0 {
		fmt.Fprintln(w, "\noutcomes:")
		rows := [][]string{}
		for _, o := range v.Outcomes {
			what := o.Kind
			switch {
			case o.AmountCents != nil:
				what += " " + store.FormatCents(*o.AmountCents)
			case o.Points != nil:
				what += fmt.Sprintf(" %+d points", *o.Points)
			case o.Text != "":
				what += ": " + o.Text
			}
			rows = append(rows, []string{o.Date, o.By, what, o.Note})
		}
		a.tableIndent("  ", []string{"DATE", "WHO", "OUTCOME", "NOTE"}, rows)
	}
	// The timeline in order of time: each message, then what it made,
	// then the reply, then what coaches did.
	fmt.Fprintln(w, "\ntimeline:")
	type entry struct {
		at  time.Time
		row []string
	}
	var entries []entry
	for _, m := range v.Messages {
		entries = append(entries, entry{m.at, []string{local(m.ReceivedAt), m.From, "message " + m.ID, m.Disposition}})
	}
	for _, e := range v.Events {
		change := e.Kind
		if e.To != "" {
			change = strings.TrimSpace(e.From + " -> " + e.To)
		}
		if e.Forced {
			change += " (forced)"
		}
		entries = append(entries, entry{e.at, []string{local(e.At), e.By, change, e.Note}})
	}
	for _, o := range v.Replies {
		entries = append(entries, entry{o.at, []string{local(o.CreatedAt), "refdesk", "reply " + o.ID + " " + o.Kind, o.Status}})
	}
	slices.SortStableFunc(entries, func(x, y entry) int { return x.at.Compare(y.at) })
	rows := make([][]string, len(entries))
	for i, e := range entries {
		rows[i] = e.row
	}
	a.tableIndent("  ", []string{"WHEN", "WHO", "WHAT", "NOTE"}, rows)
}

func (a *app) updateCmd() *cobra.Command {
	var ch store.Change
	c := &cobra.Command{
		Use:   "update ID STATUS",
		Short: "Change a referral's status",
		Long: "Change a referral's status. Allowed moves follow the status machine (SPEC §3);\n" +
			"statuses that end a referral need --reason; --force overrides (and says so in the history).\n\n" +
			"Statuses: " + strings.Join(store.Statuses, ", "),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseRef(args[0])
			if err != nil {
				return err
			}
			_, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ch.To, ch.By = args[1], a.who()
			r, err := st.UpdateStatus(cmd.Context(), id, ch)
			if err != nil {
				return notFound(err, "referral "+store.FormatRef(id))
			}
			fmt.Fprintf(a.out, "%s is now %s\n", r.Ref(), r.Status)
			return nil
		},
	}
	c.Flags().StringVar(&ch.Reason, "reason", "", "why (required for statuses that end a referral)")
	c.Flags().StringVar(&ch.Note, "note", "", "a note for the history")
	c.Flags().BoolVar(&ch.Force, "force", false, "allow a move the status machine does not")
	return c
}

func (a *app) noteCmd() *cobra.Command {
	var contact bool
	c := &cobra.Command{
		Use:   "note ID TEXT",
		Short: "Add a note to a referral (--contact: a contact attempt)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseRef(args[0])
			if err != nil {
				return err
			}
			_, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.AddNote(cmd.Context(), id, strings.Join(args[1:], " "), a.who(), contact); err != nil {
				return notFound(err, "referral "+store.FormatRef(id))
			}
			fmt.Fprintf(a.out, "note added to %s\n", store.FormatRef(id))
			return nil
		},
	}
	c.Flags().BoolVar(&contact, "contact", false, "this note records a contact attempt (the first one is the first-contact time)")
	return c
}
