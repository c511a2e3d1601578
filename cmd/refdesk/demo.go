package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"

	"refdesk/cmd/refdesk/internal/demo"
	"refdesk/configs"
	"refdesk/ingest"
	"refdesk/store"
)

func (a *app) demoCmd() *cobra.Command {
	var once bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop on loopback with sample referrals (embedded IMAP and SMTP servers)",
		Long: `Run the whole loop on this machine: an in-memory IMAP server holds the
referrals mailbox, a loopback SMTP server takes the replies, a temporary
database keeps the records, and configs/demo.toml (embedded) is the config.
The demo sends eight sample referrals, prints what happened to each and the
reply refdesk sent, then keeps running so you can send more (any mail client,
or swaks) until Ctrl-C. With --once it exits when the samples are done.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return a.runDemo(ctx, once)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "exit when the samples are done")
	return c
}

func (a *app) runDemo(ctx context.Context, once bool) error {
	cfg, err := configs.Demo()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "refdesk-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pw := make([]byte, 12)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	// The demo's own in-memory mailbox; its password in a 0600 file that
	// goes with the temporary directory.
	cfg.IMAP.PasswordEnv, cfg.IMAP.PasswordFile = "", filepath.Join(dir, "imap-password")
	if err := os.WriteFile(cfg.IMAP.PasswordFile, []byte(password), 0o600); err != nil {
		return err
	}
	srv, err := demo.Start(cfg.IMAP.Username, password, cfg.IMAP.Address, cfg.SMTP.Address)
	if err != nil {
		return fmt.Errorf("demo servers: %w", err)
	}
	defer srv.Close()
	cfg.IMAP.Address, cfg.SMTP.Address = srv.IMAPAddr, srv.SMTPAddr
	cfg.Database.Path = filepath.Join(dir, "refdesk.db")
	cfgPath := filepath.Join(dir, "refdesk.toml")
	if err := writeConfig(cfgPath, cfg); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Database.Path)
	if err != nil {
		return err
	}
	defer st.Close()
	logPath := filepath.Join(dir, "refdesk.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()

	processed := make(chan ingest.Processed, 100)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(runCtx, cfg, st, logger(logFile, 0), func(p ingest.Processed) { processed <- p })
	}()
	defer func() { cancel(); <-done }()

	w := a.out
	fmt.Fprintf(w, "refdesk demo: %s\n", cfg.Program.Name)
	fmt.Fprintf(w, "  mailbox  %s on IMAP %s (in memory)\n", cfg.IMAP.Username, srv.IMAPAddr)
	fmt.Fprintf(w, "  mail     SMTP %s (loopback; mail to the mailbox is delivered, replies are shown here)\n", srv.SMTPAddr)
	fmt.Fprintf(w, "  records  %s (deleted when the demo ends)\n\n", cfg.Database.Path)

	lastReply := ""
	failed := 0
	for i, s := range demo.Samples() {
		if ctx.Err() != nil {
			return nil
		}
		from, _ := mail.ParseAddress(s.From)
		raw := s.Build(lastReply)
		fmt.Fprintf(w, "%d. %s\n   from %s: %q\n", i+1, s.Title, from.Address, subject(raw))
		if err := srv.Send(from.Address, raw); err != nil {
			return fmt.Errorf("sending sample %d: %w", i+1, err)
		}
		p, ok := waitFor(ctx, processed, 15*time.Second)
		if !ok {
			fmt.Fprintf(w, "   !! not processed within 15s; see %s\n\n", logPath)
			failed++
			continue
		}
		fmt.Fprintf(w, "   -> %s\n", describe(p))
		if p.Reply == "" {
			fmt.Fprintf(w, "   <- no reply%s\n\n", noReplyWhy(p))
			continue
		}
		r, ok := waitFor(ctx, srv.Outbound, 15*time.Second)
		if !ok {
			fmt.Fprintf(w, "   !! reply not sent within 15s; see %s\n\n", logPath)
			failed++
			continue
		}
		subj, id, text := readReply(r.Data)
		lastReply = id
		fmt.Fprintf(w, "   <- reply to %s: %q\n", strings.Join(r.To, ", "), subj)
		if i == 0 {
			for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
				fmt.Fprintf(w, "      | %s\n", line)
			}
		} else if line := keyLine(text); line != "" {
			fmt.Fprintf(w, "      | %s\n", line)
		}
		fmt.Fprintln(w)
	}
	rs, err := st.Referrals(ctx, store.Filter{})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "The records (refdesk list):")
	rows := make([][]string, len(rs))
	for i, r := range rs {
		rows[i] = []string{r.Ref(), r.PartnerID, r.ClientName, r.Status, r.ServiceID}
	}
	a.tableIndent("  ", []string{"ID", "PARTNER", "CLIENT", "STATUS", "SERVICE"}, rows)
	held, err := st.Unresolved(ctx, store.DispHeld)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHeld for a coach (refdesk held): %d message(s)\n", len(held))
	if failed > 0 {
		return fmt.Errorf("%d sample(s) did not complete; the log is in %s", failed, logPath)
	}
	if once {
		return nil
	}
	fmt.Fprintf(w, `
The demo keeps running. Send more referrals from another terminal, e.g.:

  swaks --server %s --from caseworker@northside-housing.example \
        --to %s --header 'Subject: New referral' \
        --body $'Client name: Alex Kim\nPhone: 555-0150\nZIP: 60602\nConsent: yes'

or any mail client with SMTP %s and no login. Look at the records with:

  go run ./cmd/refdesk --config %s list

The log is %s. Press Ctrl-C to stop.
`, srv.SMTPAddr, cfg.IMAP.Username, srv.SMTPAddr, cfgPath, logPath)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "\nstopped.")
			return nil
		case err := <-done:
			done <- err
			return err
		case p := <-processed:
			fmt.Fprintf(w, "new message M-%d -> %s\n", p.ID, describe(p))
		case r := <-srv.Outbound:
			subj, _, _ := readReply(r.Data)
			fmt.Fprintf(w, "reply to %s: %q\n", strings.Join(r.To, ", "), subj)
		}
	}
}

func waitFor[T any](ctx context.Context, ch <-chan T, d time.Duration) (T, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var zero T
	select {
	case v := <-ch:
		return v, true
	case <-t.C:
	case <-ctx.Done():
	}
	return zero, false
}

func describe(p ingest.Processed) string {
	switch p.Disposition {
	case store.DispReferral, store.DispFollowUp:
		var parts []string
		for i, ref := range p.Refs {
			d := ""
			if i < len(p.Decisions) {
				d = p.Decisions[i]
			}
			parts = append(parts, strings.TrimSpace(ref+": "+d))
		}
		what := "referral"
		if p.Disposition == store.DispFollowUp {
			what = "follow-up to"
		}
		return what + " " + strings.Join(parts, ", ")
	}
	return p.Disposition + ": " + p.Reason
}

func noReplyWhy(p ingest.Processed) string {
	switch {
	case p.NoReply != "":
		return " (" + p.NoReply + ")"
	case p.Disposition == store.DispIgnored:
		return " (machine-generated mail is never answered)"
	case p.Disposition == store.DispHeld:
		return " (a coach decides: refdesk held, release or discard)"
	}
	return ""
}

func subject(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return m.Header.Get("Subject")
}

// readReply returns a sent message's subject, Message-ID and text part.
func readReply(raw []byte) (subj, id, text string) {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !gomessage.IsUnknownCharset(err) {
		return "", "", ""
	}
	subj, _ = e.Header.Text("Subject")
	id = strings.Trim(e.Header.Get("Message-Id"), "<> ")
	e.Walk(func(_ []int, part *gomessage.Entity, err error) error {
		if err != nil || text != "" {
			return nil
		}
		if t, _, _ := part.Header.ContentType(); t == "text/plain" {
			b, _ := io.ReadAll(part.Body)
			text = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
		return nil
	})
	return subj, id, text
}

// keyLine picks the sentence of a reply that says what happens next.
func keyLine(text string) string {
	lines := strings.Split(text, "\n")
	var missing []string
	for _, l := range lines {
		if m, ok := strings.CutPrefix(l, "  - "); ok {
			missing = append(missing, strings.SplitN(m, ":", 2)[0])
		}
	}
	if len(missing) > 0 {
		return "We need: " + strings.Join(missing, "; ")
	}
	for i, l := range lines {
		for _, p := range []string{"What happens next:", "Why:", "Before we can accept", "We already have", "Please connect the client with:"} {
			if strings.HasPrefix(strings.TrimSpace(l), p) {
				out := strings.TrimSpace(l)
				if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" && !strings.Contains(out, ".") {
					out += " " + strings.TrimSpace(lines[i+1])
				}
				return out
			}
		}
	}
	return ""
}

// writeConfig writes the demo's effective config so other commands (list,
// show) can be pointed at the demo's database from another terminal.
func writeConfig(path string, cfg *configs.Config) error {
	b, err := toml.Marshal(cfg)
	if err != nil {
		return err
	}
	b = append([]byte("# Written by refdesk demo; removed when it stops.\n"), b...)
	return os.WriteFile(path, b, 0o600)
}
