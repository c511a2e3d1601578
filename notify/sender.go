package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"refdesk/configs"
	"refdesk/configs/oauth"
	"refdesk/store"
)

// Outbox is what the sender needs from the store.
type Outbox interface {
	Claim(ctx context.Context, n int, lease time.Duration) ([]store.OutMsg, error)
	NextDue(ctx context.Context) (time.Time, error)
	MarkSent(ctx context.Context, id int64) error
	MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error
	MarkFailed(ctx context.Context, id int64, reason string) error
}

// Backoff bounds.
const (
	retryBase = 30 * time.Second
	retryMax  = 6 * time.Hour
	dialBase  = time.Second
	dialMax   = 30 * time.Second
	leaseMore = 15 * time.Second // a lease is two smtp.timeouts (dial, send) and this (the write that records it)
	idleClose = 2 * time.Minute  // close an idle SMTP connection after this
)

// Sender delivers the outbox over SMTP.
type Sender struct {
	cfg    *configs.Config
	out    Outbox
	render *Renderer
	log    *slog.Logger
	wake   chan struct{}
	now    func() time.Time
	tokens *oauth.Source // nil unless smtp.auth is an OAuth2 mechanism

	// Poll is the longest the sender waits before looking at the outbox
	// again when nothing is due: rows queued by another process (`refdesk
	// report --send`, `refdesk retry`) cannot wake it.
	Poll time.Duration

	client   *gomail.Client
	lastUsed time.Time
	dialFail int
	renewAt  time.Time // the connection's token is due for renewal then

	// held is the rest of a claimed batch that could not be sent because
	// the SMTP connection failed. Its lease is ours, so Claim would not
	// return it again until the lease ends; it is retried from here after
	// the dial backoff instead, until heldUntil (well before the lease ends,
	// so that no other process can have claimed it meanwhile).
	held      []store.OutMsg
	heldUntil time.Time

	// unrecorded are messages the server accepted whose "sent" could not be
	// written (the database was locked or full). They are recorded before
	// anything else is claimed, and never sent again meanwhile.
	unrecorded []int64
}

// recordError is a failure to record a delivery's outcome in the store: the
// SMTP connection is fine, the database is not.
type recordError struct{ err error }

func (e *recordError) Error() string { return "recording a delivery: " + e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

// NewSender makes a sender; Run starts it.
func NewSender(cfg *configs.Config, out Outbox, r *Renderer, log *slog.Logger) *Sender {
	return &Sender{cfg: cfg, out: out, render: r, log: log, wake: make(chan struct{}, 1), now: time.Now, Poll: time.Minute,
		tokens: oauth.New("smtp", cfg.SMTP.Server)}
}

// Wake tells the sender there is new mail to send; it never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	defer s.closeClient()
	for {
		wait, err := s.sendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("outbox", "err", err)
			wait = 5 * time.Second
		}
		if s.client != nil && s.now().Sub(s.lastUsed) > idleClose {
			s.closeClient()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// sendDue sends everything due now and says how long to wait before the next
// look.
func (s *Sender) sendDue(ctx context.Context) (time.Duration, error) {
	if err := s.recordUnrecorded(ctx); err != nil {
		return 0, err
	}
	for ctx.Err() == nil {
		batch := s.held
		s.held = nil
		if len(batch) == 0 || !s.now().Before(s.heldUntil) {
			var err error
			// One at a time: the lease then only has to cover one delivery.
			if batch, err = s.out.Claim(ctx, 1, s.lease()); err != nil {
				return 0, err
			}
			// A retry from held must be over (a dial and a send) before
			// the lease ends.
			s.heldUntil = s.now().Add(s.lease() - 2*s.cfg.SMTP.Timeout.Duration)
		}
		if len(batch) == 0 {
			break
		}
		// Nothing here is unrecorded: recordUnrecorded emptied the list
		// above, and a delivery that could not be recorded ends this call.
		for i := range batch {
			err := s.sendOne(ctx, &batch[i])
			var re *recordError
			if errors.As(err, &re) {
				// Not the connection: the database. The rest of the batch
				// keeps its lease; what was delivered is not sent again.
				s.held = batch[i+1:]
				return 0, err
			}
			if err != nil {
				// The connection is down: the rest of the batch keeps its
				// lease and is tried again after the dial backoff.
				s.held = batch[i:]
				s.dialFail++
				d := backoff(dialBase, dialMax, s.dialFail)
				s.log.Warn("smtp unavailable", "err", err, "retry_in", d.Round(time.Second))
				return d, nil
			}
		}
	}
	next, err := s.out.NextDue(ctx)
	if err != nil {
		return 0, err
	}
	wait := s.Poll
	if !next.IsZero() {
		d := next.Sub(s.now())
		if d <= 0 {
			// Due but not claimable: leased by another process, or by a
			// run that crashed. Look again soon, without spinning.
			d = time.Second
		}
		wait = min(wait, max(d, 10*time.Millisecond))
	}
	return wait, nil
}

// recordUnrecorded writes "sent" for deliveries whose record failed before.
func (s *Sender) recordUnrecorded(ctx context.Context) error {
	rec := context.WithoutCancel(ctx)
	for len(s.unrecorded) > 0 {
		if err := s.out.MarkSent(rec, s.unrecorded[0]); err != nil {
			return &recordError{err}
		}
		s.unrecorded = s.unrecorded[1:]
	}
	return nil
}

// lease is how long a claimed message is this sender's alone: long enough
// for one delivery (a dial and a send, each bounded by smtp.timeout) and the
// write that records it. A sender that dies holding a message (a crash)
// delays it by at most this much; a live one is done with it well before.
func (s *Sender) lease() time.Duration { return 2*s.cfg.SMTP.Timeout.Duration + leaseMore }

// sendOne delivers one message. It returns a *recordError when the outcome
// could not be written to the store, and any other error only when the SMTP
// connection could not be used (the message is then not charged an attempt).
func (s *Sender) sendOne(ctx context.Context, o *store.OutMsg) error {
	// What became of the message is recorded even if ctx ends meanwhile
	// (SIGTERM during a delivery): a message the server accepted but that
	// is not marked sent would be delivered a second time.
	rec := context.WithoutCancel(ctx)
	msg, err := s.render.Compose(o)
	if err != nil {
		s.log.Error("outbox message cannot be composed", "out", o.Ref(), "kind", o.Kind, "err", err)
		return record(s.out.MarkFailed(rec, o.ID, err.Error()))
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	err = s.client.Send(msg)
	s.lastUsed = s.now()
	if err == nil {
		s.dialFail = 0
		s.log.Info("sent", "out", o.Ref(), "kind", o.Kind, "attempt", o.Attempts+1)
		if err := s.out.MarkSent(rec, o.ID); err != nil {
			// The server has it: never send it again, record it later.
			s.unrecorded = append(s.unrecorded, o.ID)
			return &recordError{err}
		}
		return nil
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.Reason == gomail.ErrConnCheck {
		s.closeClient()
		return fmt.Errorf("smtp %s: %w", s.cfg.SMTP.Address, err)
	}
	s.closeClient() // after a failed transaction, start clean
	reason := err.Error()
	if permanent(err) || o.Attempts+1 >= s.cfg.SMTP.MaxAttempts {
		s.log.Warn("outbox message failed", "out", o.Ref(), "kind", o.Kind, "attempts", o.Attempts+1, "err", reason)
		return record(s.out.MarkFailed(rec, o.ID, reason))
	}
	next := s.now().Add(backoff(retryBase, retryMax, o.Attempts+1))
	s.log.Info("outbox message will be retried", "out", o.Ref(), "kind", o.Kind, "attempts", o.Attempts+1, "next", next.Format(time.RFC3339))
	return record(s.out.MarkRetry(rec, o.ID, next, reason))
}

// record wraps a store error as a *recordError.
func record(err error) error {
	if err != nil {
		return &recordError{err}
	}
	return nil
}

// permanent reports whether an SMTP error is a 5xx: the server will not
// accept this message however often we try.
func permanent(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code < 600 {
			return true
		}
		return false
	}
	return false
}

func (s *Sender) connect(ctx context.Context) error {
	if s.client != nil && !s.renewAt.IsZero() && !s.now().Before(s.renewAt) {
		s.closeClient() // log in again with a fresh token
	}
	if s.client != nil {
		return nil
	}
	c, err := NewClient(ctx, s.cfg.SMTP, s.tokens)
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		if s.tokens != nil && strings.Contains(err.Error(), "AUTH failed") {
			s.tokens.Invalidate() // refused: fetch a new one next time
		}
		return fmt.Errorf("smtp %s: %w", s.cfg.SMTP.Address, err)
	}
	s.client = c
	if s.tokens != nil {
		s.renewAt = s.tokens.RenewAt()
	}
	return nil
}

func (s *Sender) closeClient() {
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
}

// backoff is min(base<<n, limit) plus up to a fifth of it as jitter.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := limit
	if n < 30 && base<<n < limit {
		d = base << n
	}
	return d + rand.N(d/5+1)
}

// NewClient makes a go-mail client for the configured SMTP server. TLS is
// mandatory unless security = "none", which config validation allows only to
// a loopback address. Certificates are always verified against the system's
// CAs and smtp.ca_file; TLS 1.2 at least. tokens gives the access token for
// auth = "xoauth2" or "oauthbearer" (nil otherwise).
func NewClient(ctx context.Context, cfg configs.SMTP, tokens *oauth.Source) (*gomail.Client, error) {
	host, portStr, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("smtp address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("smtp address: bad port %q", portStr)
	}
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	// EHLO names this host (go-mail's default: os.Hostname), as mail
	// software does; some servers refuse "localhost".
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(cfg.Timeout.Duration),
		gomail.WithTLSConfig(tlsCfg)}
	switch cfg.Security {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	switch {
	case cfg.Auth == "password":
		pass, err := cfg.Secret()
		if err != nil {
			return nil, fmt.Errorf("smtp password: %w", err)
		}
		mech := gomail.SMTPAuthAutoDiscover
		if cfg.Security == "none" {
			mech = gomail.SMTPAuthPlainNoEnc // loopback only
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(cfg.Username), gomail.WithPassword(pass))
	case cfg.IsOAuth2():
		if tokens == nil {
			return nil, fmt.Errorf("smtp: auth = %q but no token source", cfg.Auth)
		}
		tok, err := tokens.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("smtp login as %s: %w", cfg.Username, err)
		}
		if cfg.Auth == "oauthbearer" {
			opts = append(opts, gomail.WithSMTPAuthCustom(saslAuth{oauth.NewClient(cfg.Auth, cfg.Username, tok.Value, host, port)}))
		} else {
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthXOAUTH2), gomail.WithUsername(cfg.Username), gomail.WithPassword(tok.Value))
		}
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// saslAuth adapts a go-sasl client (OAUTHBEARER) to go-mail's smtp.Auth.
type saslAuth struct{ c sasl.Client }

func (a saslAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return a.c.Start() }

func (a saslAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	return a.c.Next(fromServer)
}
