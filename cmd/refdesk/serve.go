package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

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
		Short: "Run the daemon: take in referrals over IMAP and send replies over SMTP",
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

// runDaemon wires intake and the outbox sender and runs both until ctx ends.
func runDaemon(ctx context.Context, cfg *configs.Config, st *store.Store, log *slog.Logger, onProcessed func(ingest.Processed)) error {
	renderer, err := notify.NewRenderer(cfg)
	if err != nil {
		return err
	}
	sender := notify.NewSender(cfg, st, renderer, log.With("part", "smtp"))
	daemon := ingest.NewDaemon(cfg, st, ingest.NewProcessor(cfg), log.With("part", "imap"))
	daemon.OnCommit = sender.Wake
	daemon.OnProcessed = onProcessed
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = daemon.Run(ctx) }()
	go func() { defer wg.Done(); errs[1] = sender.Run(ctx) }()
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	return errs[1]
}
