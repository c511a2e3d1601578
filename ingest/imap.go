package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"refdesk/configs"
	"refdesk/configs/oauth"
	"refdesk/store"
)

// doneFlag marks a message that was processed but could not be moved out of
// the inbox (a server with neither MOVE nor UIDPLUS): refdesk never issues a
// plain EXPUNGE, which would delete other clients' \Deleted mail.
const doneFlag = imap.Flag("$RefdeskDone")

// Daemon keeps an IMAP session to the referrals mailbox and takes in every
// message that arrives.
type Daemon struct {
	cfg    *configs.Config
	st     *store.Store
	proc   *Processor
	log    *slog.Logger
	tokens *oauth.Source // nil unless imap.auth is an OAuth2 mechanism
	// OnCommit is called after each committed batch (to wake the sender).
	OnCommit func()
	// OnProcessed, if set, is called for each message after its batch was
	// committed and moved (the demo prints from it).
	OnProcessed func(Processed)

	newMail chan struct{}
	moveMin int // see moveMin; tests lower it
}

// NewDaemon wires an intake daemon.
func NewDaemon(cfg *configs.Config, st *store.Store, proc *Processor, log *slog.Logger) *Daemon {
	return &Daemon{cfg: cfg, st: st, proc: proc, log: log, newMail: make(chan struct{}, 1),
		tokens: oauth.New("imap", cfg.IMAP.Server), moveMin: moveMin}
}

// errRenew ends a session whose OAuth2 token is about to expire: the next
// one logs in with a fresh token. It is not a failure.
var errRenew = errors.New("access token due for renewal")

// Run keeps a session open until ctx ends, reconnecting with exponential
// backoff and jitter when the connection drops.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.proc.CleanSpool(); err != nil {
		// Messages above spoolAbove cannot be fetched until it works;
		// they stay in the inbox.
		d.log.Error("spool directory unusable", "err", err)
	}
	failures := 0
	for ctx.Err() == nil {
		started := time.Now()
		err := d.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errRenew) {
			d.log.Info("imap session renewed for a fresh access token")
			continue
		}
		if time.Since(started) > time.Minute {
			failures = 0 // it was healthy for a while: start the backoff again
		}
		failures++
		wait := backoff(time.Second, 5*time.Minute, failures)
		d.log.Warn("imap session ended", "err", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// backoff is min(base*2^(n-1), limit) plus up to a fifth of it as jitter.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := limit
	if n < 30 && base<<(n-1) < limit {
		d = base << (n - 1)
	}
	return d + rand.N(d/5+1)
}

// session runs one connection: log in, make sure the folders exist, select
// the mailbox, then take in mail and wait (IDLE or poll) until an error.
func (d *Daemon) session(ctx context.Context) error {
	c, err := Dial(ctx, d.cfg.IMAP, d.tokens, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: hand off, never block.
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					d.signal()
				}
			},
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	caps := c.Caps()
	for _, f := range []string{d.cfg.IMAP.Processed, d.cfg.IMAP.Quarantine} {
		if err := EnsureMailbox(c, f); err != nil {
			return err
		}
	}
	sel, err := c.Select(d.cfg.IMAP.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap select %s: %w", d.cfg.IMAP.Mailbox, err)
	}
	idle := caps.Has(imap.CapIdle)
	d.log.Info("imap connected", "mailbox", d.cfg.IMAP.Mailbox, "uidvalidity", sel.UIDValidity,
		"messages", sel.NumMessages, "idle", idle, "move", caps.Has(imap.CapMove), "uidplus", caps.Has(imap.CapUIDPlus))
	var renewAt time.Time
	if d.tokens != nil {
		renewAt = d.tokens.RenewAt()
	}
	for {
		if err := d.drain(ctx, c, sel.UIDValidity); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if !renewAt.IsZero() && !time.Now().Before(renewAt) {
			return errRenew
		}
		var woken bool
		if idle {
			woken, err = d.idle(ctx, c, renewAt)
		} else {
			woken, err = d.poll(ctx, c, renewAt)
		}
		if err != nil {
			return err
		}
		if !renewAt.IsZero() && !time.Now().Before(renewAt) {
			return errRenew
		}
		if !woken && ctx.Err() == nil {
			// A quiet spell: select again, which also notices a mailbox
			// that was recreated under us (a new UIDVALIDITY).
			if sel, err = c.Select(d.cfg.IMAP.Mailbox, nil).Wait(); err != nil {
				return fmt.Errorf("imap select %s: %w", d.cfg.IMAP.Mailbox, err)
			}
			d.log.Info("imap healthy", "mailbox", d.cfg.IMAP.Mailbox, "uidvalidity", sel.UIDValidity, "messages", sel.NumMessages)
		}
	}
}

func (d *Daemon) signal() {
	select {
	case d.newMail <- struct{}{}:
	default:
	}
}

// idle waits in IDLE for new mail, at most idle_timeout (RFC 2177 §3: servers
// may drop an IDLE after 30 minutes). It reports whether new mail woke it.
func (d *Daemon) idle(ctx context.Context, c *imapclient.Client, renewAt time.Time) (bool, error) {
	select { // mail that arrived while we were busy
	case <-d.newMail:
		return true, nil
	default:
	}
	cmd, err := c.Idle()
	if err != nil {
		return false, fmt.Errorf("imap idle: %w", err)
	}
	t := time.NewTimer(until(d.cfg.IMAP.IdleTimeout.Duration, renewAt))
	defer t.Stop()
	woken := false
	select {
	case <-d.newMail:
		woken = true
	case <-t.C:
	case <-ctx.Done():
	case <-c.Closed():
		return false, errors.New("imap connection closed")
	}
	if err := cmd.Close(); err != nil {
		return false, fmt.Errorf("imap idle: %w", err)
	}
	return woken, cmd.Wait()
}

// poll waits poll_interval, then checks the connection with NOOP (which
// also brings any new EXISTS).
func (d *Daemon) poll(ctx context.Context, c *imapclient.Client, renewAt time.Time) (bool, error) {
	t := time.NewTimer(until(d.cfg.IMAP.PollInterval.Duration, renewAt))
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.newMail:
		return true, nil
	case <-ctx.Done():
		return false, nil
	}
	if err := c.Noop().Wait(); err != nil {
		return false, fmt.Errorf("imap noop: %w", err)
	}
	return false, nil
}

// until is d, or less if renewAt comes sooner.
func until(d time.Duration, renewAt time.Time) time.Duration {
	if !renewAt.IsZero() {
		d = max(0, min(d, time.Until(renewAt)))
	}
	return d
}

// logReason is a disposition reason fit for the log. Reasons are written by
// refdesk, but a parser error may quote the message (a header line), so for
// a quarantine only its kind is logged; `refdesk held --quarantined` shows
// the whole reason.
func logReason(p *Processed) string {
	r := p.Reason
	if p.Disposition == store.DispQuarantined && !strings.HasPrefix(r, "too large") {
		r, _, _ = strings.Cut(r, ":")
	}
	if p.NoReply != "" {
		r = strings.TrimSpace(r + " no reply: no-reply address")
	}
	if len(r) > 120 {
		r = r[:120]
	}
	return r
}

// MoveOut moves messages out of the selected mailbox: UID MOVE (RFC 6851), or
// COPY + STORE \Deleted + UID EXPUNGE with UIDPLUS (RFC 4315). Without either
// it copies them and flags them done, and leaves them: a plain EXPUNGE would
// delete every \Deleted message, other clients' too. A set of UIDs too long
// for one command line goes in several (uidSets); moved, when not nil, is
// told each set as soon as it has been moved.
func MoveOut(c *imapclient.Client, uids []imap.UID, folder string, moved func(imap.UIDSet)) error {
	for _, set := range uidSets(uids, maxSetLen) {
		if err := moveOut(c, set, folder); err != nil {
			return err
		}
		if moved != nil {
			moved(set)
		}
	}
	return nil
}

// maxSetLen bounds the UID set of one command, written out: well under the
// 8,192 octets RFC 7162 §4 asks clients to keep a command line within (and
// servers such as Gmail's enforce). A run of UIDs takes a few bytes
// ("1:1000"), so the usual move is one command.
const maxSetLen = 4000

// uidSets splits uids into sets whose written form ("4,7:9,12") is at most
// maxLen bytes (a single range longer than that cannot be: two ten-digit
// numbers).
func uidSets(uids []imap.UID, maxLen int) []imap.UIDSet {
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var sets []imap.UIDSet
	var cur imap.UIDSet
	size := 0
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[j-1]+1 {
			j++
		}
		r := imap.UIDRange{Start: sorted[i], Stop: sorted[j-1]}
		n := len(strconv.FormatUint(uint64(r.Start), 10)) + 1 // and a comma
		if r.Stop != r.Start {
			n += 1 + len(strconv.FormatUint(uint64(r.Stop), 10))
		}
		if size+n > maxLen && len(cur) > 0 {
			sets, cur, size = append(sets, cur), nil, 0
		}
		cur = append(cur, r)
		size += n
		i = j
	}
	if len(cur) > 0 {
		sets = append(sets, cur)
	}
	return sets
}

func moveOut(c *imapclient.Client, set imap.UIDSet, folder string) error {
	caps := c.Caps()
	if caps.Has(imap.CapMove) || caps.Has(imap.CapUIDPlus) {
		if _, err := c.Move(set, folder).Wait(); err != nil {
			return fmt.Errorf("imap move to %s: %w", folder, err)
		}
		return nil
	}
	if _, err := c.Copy(set, folder).Wait(); err != nil {
		return fmt.Errorf("imap copy to %s: %w", folder, err)
	}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{doneFlag, imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("imap flag processed: %w", err)
	}
	return nil
}

// EnsureMailbox creates a mailbox unless it exists.
func EnsureMailbox(c *imapclient.Client, name string) error {
	list, err := c.List("", name, nil).Collect()
	if err != nil {
		return fmt.Errorf("imap list %s: %w", name, err)
	}
	if len(list) > 0 {
		return nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return fmt.Errorf("imap create %s: %w", name, err)
	}
	return nil
}

// Dial connects and logs in to the configured IMAP server: implicit TLS,
// STARTTLS, or plain to a loopback address only (config validation refuses
// it elsewhere). Certificates are always verified against the system's CAs
// and imap.ca_file; TLS 1.2 at least. tokens gives the access token for
// auth = "xoauth2" or "oauthbearer" (nil otherwise).
func Dial(ctx context.Context, cfg configs.IMAP, tokens *oauth.Source, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	host, portStr, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("imap address: %w", err)
	}
	opts.Dialer = &net.Dialer{Timeout: 30 * time.Second}
	if opts.TLSConfig == nil {
		if opts.TLSConfig, err = cfg.TLSConfig(); err != nil {
			return nil, fmt.Errorf("imap: %w", err)
		}
	}
	var c *imapclient.Client
	switch cfg.Security {
	case "tls":
		c, err = imapclient.DialTLS(cfg.Address, opts)
	case "starttls":
		c, err = imapclient.DialStartTLS(cfg.Address, opts)
	case "none":
		if !configs.IsLoopback(host) {
			return nil, fmt.Errorf("imap: security = \"none\" is only allowed to a loopback address, not %s", host)
		}
		c, err = imapclient.DialInsecure(cfg.Address, opts)
	default:
		return nil, fmt.Errorf("imap: unknown security %q", cfg.Security)
	}
	if err != nil {
		return nil, fmt.Errorf("imap connect %s: %w", cfg.Address, err)
	}
	switch {
	case cfg.Auth == "password":
		pass, err := cfg.Secret()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("imap password: %w", err)
		}
		if c.Caps().Has(imap.AuthCap(sasl.Plain)) {
			err = c.Authenticate(sasl.NewPlainClient("", cfg.Username, pass))
		} else {
			err = c.Login(cfg.Username, pass).Wait()
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("imap login as %s: %w", cfg.Username, err)
		}
	case cfg.IsOAuth2():
		if tokens == nil {
			c.Close()
			return nil, fmt.Errorf("imap: auth = %q but no token source", cfg.Auth)
		}
		tok, err := tokens.Token(ctx)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("imap login as %s: %w", cfg.Username, err)
		}
		port, _ := strconv.Atoi(portStr)
		if err := c.Authenticate(oauth.NewClient(cfg.Auth, cfg.Username, tok.Value, host, port)); err != nil {
			// The next attempt fetches a new token rather than
			// offering the refused one again.
			tokens.Invalidate()
			c.Close()
			return nil, fmt.Errorf("imap login as %s with %s: %w", cfg.Username, strings.ToUpper(cfg.Auth), err)
		}
	}
	return c, nil
}
