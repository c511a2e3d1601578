package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"refdesk/ingest"
	"refdesk/store"
)

func (a *app) heldCmd() *cobra.Command {
	var quarantined bool
	c := &cobra.Command{
		Use:   "held",
		Short: "List messages waiting for a coach (unknown or unauthenticated senders, reply cap)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			disp := store.DispHeld
			if quarantined {
				disp = store.DispQuarantined
			}
			ms, err := st.Unresolved(cmd.Context(), disp)
			if err != nil {
				return err
			}
			if a.jsonOut {
				out := make([]messageJSON, len(ms))
				for i := range ms {
					out[i] = msgToJSON(&ms[i])
				}
				return a.printJSON(out)
			}
			rows := make([][]string, len(ms))
			for i, m := range ms {
				rows[i] = []string{m.Ref(), m.ReceivedAt.In(cfg.Location).Format("2006-01-02 15:04"), m.FromAddr, m.Subject, m.Reason}
			}
			return a.table([]string{"MSG", "RECEIVED", "FROM", "SUBJECT", "REASON"}, rows)
		},
	}
	c.Flags().BoolVar(&quarantined, "quarantined", false, "list quarantined messages instead")
	return a.addJSON(c)
}

func (a *app) releaseCmd() *cobra.Command {
	var partner string
	c := &cobra.Command{
		Use:   "release MSG",
		Short: "Process a held (or quarantined) message as if its sender were trusted",
		Long: `Process a held or quarantined message again, lifting what held it: the
sender's authentication, and the reply cap. For an unknown sender, say which
partner it belongs to with --partner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseMessageRef(args[0])
			if err != nil {
				return err
			}
			cfg, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			opt := ingest.Options{SkipAuth: true}
			if partner != "" {
				if opt.Partner = cfg.Partner(partner); opt.Partner == nil {
					return fmt.Errorf("no partner %q in the config", partner)
				}
			}
			res, err := ingest.NewProcessor(cfg).Release(cmd.Context(), st, id, opt, a.who())
			if err != nil {
				if errors.Is(err, ingest.ErrUnknownSender) {
					return fmt.Errorf("%w (say which partner it is from with --partner)", err)
				}
				return notFound(err, "held or quarantined message M-"+strconv.FormatInt(id, 10))
			}
			fmt.Fprintf(a.out, "M-%d released: %s %s", id, res.Disposition, strings.Join(res.Refs, ", "))
			if res.Reply != "" {
				fmt.Fprintf(a.out, "; reply queued (%s); `refdesk serve` sends it", res.Reply)
			}
			fmt.Fprintln(a.out)
			return nil
		},
	}
	c.Flags().StringVar(&partner, "partner", "", "the partner id the sender belongs to")
	return c
}

func (a *app) discardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "discard MSG",
		Short: "Take a held or quarantined message off the queue without processing it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseMessageRef(args[0])
			if err != nil {
				return err
			}
			_, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			err = st.InTx(cmd.Context(), func(tx *store.Tx) error { return tx.Resolve(id, "discarded", a.who()) })
			if err != nil {
				return notFound(err, "held or quarantined message M-"+strconv.FormatInt(id, 10))
			}
			fmt.Fprintf(a.out, "M-%d discarded\n", id)
			return nil
		},
	}
}

func (a *app) outboxCmd() *cobra.Command {
	var failed bool
	var status string
	var limit int
	c := &cobra.Command{
		Use:   "outbox",
		Short: "List outbound mail, newest first (--failed: only what failed permanently)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if failed {
				status = store.OutFailed
			}
			os, err := st.Outbox(cmd.Context(), status, limit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				out := make([]outJSON, len(os))
				for i := range os {
					out[i] = outToJSON(&os[i])
				}
				return a.printJSON(out)
			}
			rows := make([][]string, len(os))
			for i, o := range os {
				ref := ""
				if o.ReferralID != nil {
					ref = store.FormatRef(*o.ReferralID)
				}
				rows[i] = []string{o.Ref(), o.CreatedAt.In(cfg.Location).Format("2006-01-02 15:04"), o.Kind, ref, o.To,
					o.Status, strconv.Itoa(o.Attempts), o.LastError}
			}
			return a.table([]string{"OUT", "QUEUED", "KIND", "REFERRAL", "TO", "STATUS", "TRIES", "LAST ERROR"}, rows)
		},
	}
	c.Flags().BoolVar(&failed, "failed", false, "only messages that failed permanently")
	c.Flags().StringVar(&status, "status", "", "only this status (pending, sent, failed, bounced, suppressed)")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many")
	return a.addJSON(c)
}

func (a *app) retryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "retry OUT",
		Short: "Queue a failed, bounced or suppressed outbound message again (e.g. O-12)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := store.ParseOutRef(args[0])
			if err != nil {
				return err
			}
			_, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Requeue(cmd.Context(), id); err != nil {
				return notFound(err, fmt.Sprintf("failed, bounced or suppressed message O-%d", id))
			}
			fmt.Fprintf(a.out, "O-%d queued again; `refdesk serve` sends it\n", id)
			return nil
		},
	}
}
