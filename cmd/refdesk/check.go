package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"refdesk/configs"
	"refdesk/configs/oauth"
	"refdesk/ingest"
	"refdesk/notify"
)

func (a *app) checkCmd() *cobra.Command {
	var connect bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Validate the config (every problem, with file:line); --connect also logs in to IMAP and SMTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := configs.Load(a.path())
			if err != nil {
				problems := strings.Split(err.Error(), "\n")
				for _, p := range problems {
					fmt.Fprintln(a.errOut, p)
				}
				return fmt.Errorf("%s: %d problem(s)", a.path(), len(problems))
			}
			if _, err := notify.NewRenderer(cfg); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: ok (%d partners, %d services, %d rules)\n", a.path(), len(cfg.Partners), len(cfg.Services), len(cfg.Rules))
			if !connect {
				return nil
			}
			if err := cfg.CheckSecrets(); err != nil {
				for _, p := range strings.Split(err.Error(), "\n") {
					fmt.Fprintln(a.errOut, p)
				}
				return fmt.Errorf("secrets are missing")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			imapErr := a.checkIMAP(cfg)
			smtpErr := a.checkSMTP(ctx, cfg)
			if imapErr != nil {
				return imapErr
			}
			return smtpErr
		},
	}
	c.Flags().BoolVar(&connect, "connect", false, "also log in to the IMAP and SMTP servers and report what they offer")
	return c
}

func (a *app) checkIMAP(cfg *configs.Config) error {
	c, err := ingest.Dial(context.Background(), cfg.IMAP, oauth.New("imap", cfg.IMAP.Server), nil)
	if err != nil {
		fmt.Fprintf(a.out, "imap %s: FAILED: %v\n", cfg.IMAP.Address, err)
		return err
	}
	defer c.Close()
	caps := c.Caps()
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(a.out, "imap %s: logged in as %s (%s)\n", cfg.IMAP.Address, cfg.IMAP.Username, cfg.IMAP.Security)
	fmt.Fprintf(a.out, "  IDLE %s, MOVE %s, UIDPLUS %s\n", yes(caps.Has(imap.CapIdle)), yes(caps.Has(imap.CapMove)), yes(caps.Has(imap.CapUIDPlus)))
	if !caps.Has(imap.CapMove) && !caps.Has(imap.CapUIDPlus) {
		fmt.Fprintln(a.out, "  note: without MOVE or UIDPLUS, processed mail is copied to the processed folder and left flagged in the inbox")
	}
	if !caps.Has(imap.CapIdle) {
		fmt.Fprintf(a.out, "  note: no IDLE; the inbox is polled every %s\n", cfg.IMAP.PollInterval.Duration)
	}
	for _, name := range []string{cfg.IMAP.Mailbox, cfg.IMAP.Processed, cfg.IMAP.Quarantine} {
		st, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		switch {
		case err != nil && name == cfg.IMAP.Mailbox:
			fmt.Fprintf(a.out, "  %s: FAILED: %v\n", name, err)
			return err
		case err != nil:
			fmt.Fprintf(a.out, "  %s: missing (created on first start)\n", name)
		default:
			fmt.Fprintf(a.out, "  %s: %d messages\n", name, *st.NumMessages)
		}
	}
	return nil
}

func (a *app) checkSMTP(ctx context.Context, cfg *configs.Config) error {
	gc, err := notify.NewClient(ctx, cfg.SMTP, oauth.New("smtp", cfg.SMTP.Server))
	if err == nil {
		var sc interface {
			Extension(string) (bool, string)
			GetTLSConnectionState() (*tls.ConnectionState, error)
			Quit() error
		}
		sc, err = gc.DialToSMTPClientWithContext(ctx)
		if err == nil {
			defer sc.Quit()
			tlsInfo := "no TLS (loopback)"
			if st, err := sc.GetTLSConnectionState(); err == nil && st != nil {
				tlsInfo = tls.VersionName(st.Version)
			}
			_, auth := sc.Extension("AUTH")
			if auth == "" {
				auth = "none offered"
			}
			fmt.Fprintf(a.out, "smtp %s: connected (%s, %s), AUTH mechanisms: %s\n", cfg.SMTP.Address, cfg.SMTP.Security, tlsInfo, auth)
			if cfg.SMTP.Auth != "none" {
				fmt.Fprintf(a.out, "  logged in as %s\n", cfg.SMTP.Username)
			}
			return nil
		}
	}
	fmt.Fprintf(a.out, "smtp %s: FAILED: %v\n", cfg.SMTP.Address, err)
	return err
}
