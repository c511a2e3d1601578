// Package imaptest is go-imap's in-memory IMAP server on a loopback port for
// tests outside package ingest: optionally over TLS (implicit or STARTTLS)
// and checking OAuth2 tokens (XOAUTH2 and OAUTHBEARER) instead of passwords.
// Restart drops every connection and serves the same mailboxes again.
package imaptest

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"refdesk/configs/oauth"
)

// Options configure a Server. The zero value serves IMAP4rev2 in plain text
// with password logins.
type Options struct {
	User, Password string // default referrals@eastside.example / secret-imap-password
	Caps           imap.CapSet
	// TLS serves STARTTLS, or with Implicit TLS from the first byte.
	TLS      *tls.Config
	Implicit bool
	// Tokens, when set, makes the server accept only AUTHENTICATE XOAUTH2
	// or OAUTHBEARER with a token it accepts.
	Tokens func(user, token string) error
}

// Server is a running in-memory IMAP server.
type Server struct {
	Addr string
	opts Options
	mem  *imapmemserver.Server
	user *imapmemserver.User
	srv  *imapserver.Server
}

// Start starts a server; it is closed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.User == "" {
		opts.User, opts.Password = "referrals@eastside.example", "secret-imap-password"
	}
	if opts.Caps == nil {
		opts.Caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	s := &Server{opts: opts, mem: imapmemserver.New()}
	s.user = imapmemserver.NewUser(opts.User, opts.Password)
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	s.mem.AddUser(s.user)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *Server) serve(ln net.Listener) {
	if s.opts.TLS != nil && s.opts.Implicit {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	o := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if s.opts.Tokens != nil {
				return &tokenSession{s: s}, nil, nil
			}
			return s.mem.NewSession(), nil, nil
		},
		Caps:         s.opts.Caps,
		InsecureAuth: s.opts.TLS == nil || s.opts.Implicit,
		Logger:       quiet{},
	}
	if s.opts.TLS != nil && !s.opts.Implicit {
		o.TLSConfig = s.opts.TLS
	}
	s.srv = imapserver.New(o)
	go s.srv.Serve(ln)
}

// Restart closes the server, dropping every connection, and serves the same
// mailboxes again on the same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.srv.Close()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.serve(ln)
}

// Append delivers a message to a mailbox, as the MTA would.
func (s *Server) Append(t testing.TB, mailbox string, raw []byte) {
	t.Helper()
	c := s.admin(t)
	defer c.Close()
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	cmd.Write(raw)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Count returns how many messages a mailbox holds (0 if it does not exist).
func (s *Server) Count(t testing.TB, mailbox string) int {
	t.Helper()
	c := s.admin(t)
	defer c.Close()
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0
	}
	return int(*st.NumMessages)
}

// admin is a connection straight to the data, bypassing TLS and tokens: a
// plain server on another port sharing the mailboxes.
func (s *Server) admin(t testing.TB) *imapclient.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.mem.NewSession(), nil, nil
		},
		Caps: s.opts.Caps, InsecureAuth: true, Logger: quiet{},
	})
	go srv.Serve(ln)
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(s.opts.User, s.opts.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	return c
}

// tokenSession accepts only OAuth2 logins.
type tokenSession struct {
	*imapmemserver.UserSession
	s *Server
}

func (ts *tokenSession) Login(string, string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "passwords are not accepted; use XOAUTH2 or OAUTHBEARER"}
}

func (ts *tokenSession) AuthenticateMechanisms() []string {
	return []string{oauth.XOAuth2, sasl.OAuthBearer}
}

func (ts *tokenSession) Authenticate(mech string) (sasl.Server, error) {
	login := func(user, token string) error {
		if user != ts.s.opts.User {
			return errors.New("unknown user")
		}
		if err := ts.s.opts.Tokens(user, token); err != nil {
			return imapserver.ErrAuthFailed
		}
		ts.UserSession = imapmemserver.NewUserSession(ts.s.user)
		return nil
	}
	switch mech {
	case oauth.XOAuth2:
		return oauth.NewXOAuth2Server(login), nil
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := login(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		}), nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
