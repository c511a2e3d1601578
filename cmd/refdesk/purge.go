package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) purgeCmd() *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "purge",
		Short: "Apply the retention policy: remove old raw messages and closed referrals",
		Long: `Apply [retention] from the config: the raw bytes of messages received more
than raw_messages ago are removed (the record of the message stays, so a copy
that arrives again is still recognised), and referrals closed more than
closed_referrals ago are deleted with their history and the mail sent about
them. Deleted data is overwritten in the database file. Run it daily, e.g.
from a systemd timer or cron; --dry-run only counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			now := st.Now()
			raw := now.Add(-cfg.Retention.RawMessages.Duration)
			closed := now.Add(-cfg.Retention.ClosedReferrals.Duration)
			res, err := st.Purge(cmd.Context(), raw, closed, dryRun)
			if err != nil {
				return err
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			fmt.Fprintf(a.out, "%s the raw bytes of %d messages received before %s\n", verb, res.RawMessages, raw.In(cfg.Location).Format("2006-01-02 15:04"))
			fmt.Fprintf(a.out, "%s %d referrals closed before %s\n", verb, res.ClosedReferrals, closed.In(cfg.Location).Format("2006-01-02 15:04"))
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only count what would be removed")
	return c
}
