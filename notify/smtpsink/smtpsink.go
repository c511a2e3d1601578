// Package smtpsink is a real SMTP server (go-smtp) that keeps what it
// receives. `refdesk demo` uses it as the program's mail relay and tests use
// it as the far end of the outbox. It listens on loopback only.
//
// A hook can hand each message on (the demo delivers mail for the referrals
// mailbox into its IMAP server) and another can refuse messages with any SMTP
// reply, to test temporary and permanent failures.
package smtpsink

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"refdesk/configs/oauth"
)

// Received is one accepted message.
type Received struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// Options configure a Sink. The zero value accepts everything without login.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0". Must be a loopback address.
	Addr string
	// Users, when set, requires AUTH PLAIN with one of these user/passwords.
	Users map[string]string
	// Tokens, when set, requires AUTH XOAUTH2 or OAUTHBEARER with a token
	// it accepts (nil error).
	Tokens func(user, token string) error
	// TLS, when set, offers STARTTLS (or, with Implicit, speaks TLS at once).
	TLS      *tls.Config
	Implicit bool
	// Refuse may return an *smtp.SMTPError to refuse a recipient (stage
	// "rcpt") or a message (stage "data"); nil accepts.
	Refuse func(stage, from, rcpt string) error
	// Deliver is called for each message before it is kept; an error is
	// returned to the client as a temporary failure and the message is not
	// kept (the client was told it was not accepted, and will send it again).
	Deliver func(Received) error
	// MaxMessageBytes caps a message (default 50 MB).
	MaxMessageBytes int64
}

// Sink is a running SMTP server.
type Sink struct {
	srv  *smtp.Server
	ln   net.Listener
	opts Options

	mu       sync.Mutex
	msgs     []Received
	arrived  chan struct{} // closed and replaced on each message
	refusing func(stage, from, rcpt string) error
}

// Start starts a sink.
func Start(opts Options) (*Sink, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("smtpsink: %s is not a loopback address", opts.Addr)
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	var ln net.Listener
	if opts.TLS != nil && opts.Implicit {
		ln, err = tls.Listen("tcp", opts.Addr, opts.TLS)
	} else {
		ln, err = net.Listen("tcp", opts.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("smtpsink: %w", err)
	}
	s := &Sink{ln: ln, opts: opts, arrived: make(chan struct{}), refusing: opts.Refuse}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "sink.localhost"
	s.srv.MaxMessageBytes = opts.MaxMessageBytes
	s.srv.MaxRecipients = 100
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.AllowInsecureAuth = true // loopback only, checked above
	s.srv.ErrorLog = quietLog{}
	if opts.TLS != nil && !opts.Implicit {
		s.srv.TLSConfig = opts.TLS
	}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the server and drops its connections.
func (s *Sink) Close() error {
	err := s.srv.Close()
	// Serve registers the listener with the server only once its goroutine
	// runs; right after Start it may not have, and srv.Close would leave it
	// listening. Close it here too.
	if lerr := s.ln.Close(); err == nil && lerr != nil && !errors.Is(lerr, net.ErrClosed) {
		err = lerr
	}
	return err
}

// SetRefuse replaces the Refuse hook while the sink runs.
func (s *Sink) SetRefuse(f func(stage, from, rcpt string) error) {
	s.mu.Lock()
	s.refusing = f
	s.mu.Unlock()
}

// Messages returns a copy of what was received so far.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait waits until at least n messages were received or timeout passes, and
// returns what was received.
func (s *Sink) Wait(n int, timeout time.Duration) ([]Received, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.msgs), s.arrived
		s.mu.Unlock()
		if got >= n {
			return s.Messages(), nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return s.Messages(), fmt.Errorf("smtpsink: %d of %d messages after %v", got, n, timeout)
		}
	}
}

func (s *Sink) refuse(stage, from, rcpt string) error {
	s.mu.Lock()
	f := s.refusing
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(stage, from, rcpt)
}

func (s *Sink) keep(r Received) error {
	if s.opts.Deliver != nil {
		if err := s.opts.Deliver(r); err != nil {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "delivery failed: " + err.Error()}
		}
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return nil
}

type backend struct{ s *Sink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s      *Sink
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	var mechs []string
	if ss.s.opts.Tokens != nil {
		mechs = append(mechs, oauth.XOAuth2, sasl.OAuthBearer)
	}
	if ss.s.opts.Users != nil {
		mechs = append(mechs, sasl.Plain)
	}
	return mechs
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := ss.s.opts.Tokens
	switch {
	case mech == oauth.XOAuth2 && check != nil:
		return oauth.NewXOAuth2Server(func(user, token string) error {
			if err := check(user, token); err != nil {
				return smtp.ErrAuthFailed
			}
			ss.authed = true
			return nil
		}), nil
	case mech == sasl.OAuthBearer && check != nil:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := check(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			ss.authed = true
			return nil
		}), nil
	case mech != sasl.Plain || ss.s.opts.Users == nil:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := ss.s.opts.Users[user]; ok && want == pass {
			ss.authed = true
			return nil
		}
		return smtp.ErrAuthFailed // 535 5.7.8, RFC 4954 §6
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if (ss.s.opts.Users != nil || ss.s.opts.Tokens != nil) && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.refuse("rcpt", ss.from, to); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	for _, to := range ss.to {
		if err := ss.s.refuse("data", ss.from, to); err != nil {
			return err
		}
	}
	return ss.s.keep(Received{From: ss.from, To: append([]string(nil), ss.to...), Data: buf.Bytes(), At: time.Now()})
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
