package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/ingest"
	"refdesk/notify"
	"refdesk/store"
)

func (a *app) serveCmd() *cobra.Command {
	var debug bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: take in referrals over IMAP, send replies, monthly reports and the daily digest over SMTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg, st, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := cfg.CheckSecrets(); err != nil {
				return err
			}
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			log := logger(os.Stderr, level)
			log.Info("refdesk starting", "config", cfg.Path, "database", cfg.Database.Path)
			err = runDaemon(ctx, cfg, st, log, nil)
			log.Info("refdesk stopped")
			return err
		},
	}
	c.Flags().BoolVar(&debug, "debug", false, "log more")
	return c
}

// senderPoll is how soon serve's sender notices mail queued by another
// process (`refdesk report --send`, `refdesk retry`): one indexed query.
const senderPoll = 5 * time.Second

// runDaemon wires intake, the outbox sender and the report and digest
// scheduler, and runs them until ctx ends.
func runDaemon(ctx context.Context, cfg *configs.Config, st *store.Store, log *slog.Logger, onProcessed func(ingest.Processed)) error {
	defer ingest.TuneGC()()
	renderer, err := notify.NewRenderer(cfg)
	if err != nil {
		return err
	}
	sender := notify.NewSender(cfg, st, renderer, log.With("part", "smtp"))
	sender.Poll = senderPoll
	daemon := ingest.NewDaemon(cfg, st, ingest.NewProcessor(cfg), log.With("part", "imap"))
	daemon.OnCommit = sender.Wake
	daemon.OnProcessed = onProcessed
	sched := notify.NewScheduler(cfg, st, log.With("part", "schedule"))
	sched.Now = st.Now
	sched.Wake = sender.Wake
	runs := []func(context.Context) error{daemon.Run, sender.Run, sched.Run}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, run := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = run(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}
