// Package demo runs the loopback mail servers of `refdesk demo`: an
// in-memory IMAP server (go-imap's imapmemserver) holding the referrals
// mailbox, and an SMTP server (notify/smtpsink) that delivers mail for the
// referrals address into that mailbox and keeps every other message, so the
// demo can show the replies refdesk sends. It also holds the sample
// referrals the demo sends.
package demo

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"

	"refdesk/notify/smtpsink"
)

// Servers are the demo's running mail servers.
type Servers struct {
	IMAPAddr string
	SMTPAddr string
	User     string // the referrals mailbox (also its login)
	Password string

	// Outbound receives every message sent to anyone but the referrals
	// address: refdesk's replies.
	Outbound chan smtpsink.Received

	imap   *imapserver.Server
	imapLn net.Listener
	sink   *smtpsink.Sink

	mu       sync.Mutex
	appender *imapclient.Client
}

// Start starts both servers on loopback. It tries the given addresses first
// (stable ports are easier to point a mail client at) and falls back to any
// free port.
func Start(user, password, imapAddr, smtpAddr string) (*Servers, error) {
	s := &Servers{User: strings.ToLower(user), Password: password, Outbound: make(chan smtpsink.Received, 100)}
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(s.User, password)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, err
	}
	mem.AddUser(u)
	s.imap = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true, // loopback only
		Logger:       quiet{},
	})
	ln, err := listen(imapAddr)
	if err != nil {
		return nil, err
	}
	s.imapLn, s.IMAPAddr = ln, ln.Addr().String()
	go s.imap.Serve(ln)

	sink, err := smtpsink.Start(smtpsink.Options{Addr: smtpAddr, Deliver: s.deliver})
	if err != nil {
		sink, err = smtpsink.Start(smtpsink.Options{Deliver: s.deliver})
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.sink, s.SMTPAddr = sink, sink.Addr()
	return s, nil
}

func listen(addr string) (net.Listener, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		return ln, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// deliver puts mail for the referrals address into its INBOX, like an MTA
// would, and hands everything else to Outbound.
func (s *Servers) deliver(r smtpsink.Received) error {
	local := false
	for _, to := range r.To {
		if strings.EqualFold(to, s.User) {
			local = true
		}
	}
	if !local {
		select {
		case s.Outbound <- r:
		default: // nobody is reading: the message is still kept by the sink
		}
		return nil
	}
	return s.Append(r.Data)
}

// Append puts a raw message into the INBOX over IMAP.
func (s *Servers) Append(raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appender == nil {
		c, err := imapclient.DialInsecure(s.IMAPAddr, nil)
		if err != nil {
			return err
		}
		if err := c.Login(s.User, s.Password).Wait(); err != nil {
			c.Close()
			return err
		}
		s.appender = c
	}
	cmd := s.appender.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Time: time.Now()})
	if _, err := cmd.Write(raw); err != nil {
		s.appender.Close()
		s.appender = nil
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// Send submits a message over SMTP, the way a caseworker's mail client does.
func (s *Servers) Send(from string, raw []byte) error {
	c, err := smtp.Dial(s.SMTPAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{s.User}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// Close stops both servers.
func (s *Servers) Close() {
	s.mu.Lock()
	if s.appender != nil {
		s.appender.Close()
	}
	s.mu.Unlock()
	if s.sink != nil {
		s.sink.Close()
	}
	if s.imap != nil {
		s.imap.Close()
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
