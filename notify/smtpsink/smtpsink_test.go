package smtpsink_test

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"refdesk/notify/smtpsink"
)

const msg = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

func start(t *testing.T, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	s, err := smtpsink.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// session opens an SMTP session to the sink and says hello.
func session(t *testing.T, s *smtpsink.Sink) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.localhost"); err != nil {
		t.Fatal(err)
	}
	return c
}

// send runs one transaction and returns the first error with its stage.
func send(c *smtp.Client, from string, to []string) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "mail", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			c.Reset()
			return "rcpt", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "data", err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return "data", err
	}
	if err := w.Close(); err != nil {
		return "data", err
	}
	return "", nil
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestStartListensOnLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"", true}, // default 127.0.0.1:0
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"[::1]:0", true},
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.0.2.1:0", false},
		{"example.org:25", false},
		{"not an address", false},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			if c.addr == "[::1]:0" {
				ln, err := net.Listen("tcp", c.addr)
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				ln.Close()
			}
			s, err := smtpsink.Start(smtpsink.Options{Addr: c.addr})
			if !c.ok {
				if err == nil {
					s.Close()
					t.Fatalf("listening on %s (%s)", c.addr, s.Addr())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			host, _, _ := net.SplitHostPort(s.Addr())
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				t.Errorf("listening on %s", s.Addr())
			}
		})
	}
}

func TestReceivesAndWaits(t *testing.T) {
	s := start(t, smtpsink.Options{})
	c := session(t, s)
	if stage, err := send(c, "a@example.org", []string{"b@example.org", "c@example.org"}); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	got, err := s.Wait(1, 5*time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("Wait = %d messages, %v", len(got), err)
	}
	m := got[0]
	if m.From != "a@example.org" || strings.Join(m.To, ",") != "b@example.org,c@example.org" || string(m.Data) != msg || m.At.IsZero() {
		t.Errorf("received %+v", m)
	}
	// Messages is a copy: changing it changes nothing in the sink.
	got[0].From = "changed"
	if s.Messages()[0].From != "a@example.org" {
		t.Error("Messages shares its slice with the sink")
	}
}

func TestWaitTimesOut(t *testing.T) {
	s := start(t, smtpsink.Options{})
	began := time.Now()
	got, err := s.Wait(1, 100*time.Millisecond)
	if err == nil {
		t.Fatal("Wait for a message that never comes returned no error")
	}
	if !strings.Contains(err.Error(), "0 of 1") {
		t.Errorf("error %q does not say how many arrived", err)
	}
	if len(got) != 0 {
		t.Errorf("Wait returned %d messages", len(got))
	}
	if d := time.Since(began); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("Wait returned after %v, want about 100ms", d)
	}
}

func TestWaitWakesOnArrival(t *testing.T) {
	s := start(t, smtpsink.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := s.Wait(2, 10*time.Second)
		done <- err
	}()
	c := session(t, s)
	for i := 0; i < 2; i++ {
		if stage, err := send(c, "a@example.org", []string{"b@example.org"}); err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return when the messages arrived")
	}
}

func TestRefuse(t *testing.T) {
	temp := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	perm := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	cases := []struct {
		name      string
		refuse    func(stage, from, rcpt string) error
		to        []string
		wantStage string
		wantCode  int
	}{
		{"rcpt 550 for one address", func(stage, from, rcpt string) error {
			if stage == "rcpt" && rcpt == "gone@example.org" {
				return perm
			}
			return nil
		}, []string{"gone@example.org"}, "rcpt", 550},
		{"other recipients pass", func(stage, from, rcpt string) error {
			if stage == "rcpt" && rcpt == "gone@example.org" {
				return perm
			}
			return nil
		}, []string{"b@example.org"}, "", 0},
		{"data 451", func(stage, from, rcpt string) error {
			if stage == "data" {
				return temp
			}
			return nil
		}, []string{"b@example.org"}, "data", 451},
		{"sees the envelope sender", func(stage, from, rcpt string) error {
			if from == "a@example.org" {
				return perm
			}
			return nil
		}, []string{"b@example.org"}, "rcpt", 550},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, smtpsink.Options{Refuse: c.refuse})
			stage, err := send(session(t, s), "a@example.org", c.to)
			if stage != c.wantStage || code(err) != c.wantCode {
				t.Fatalf("refused at %q with %v; want %q with %d", stage, err, c.wantStage, c.wantCode)
			}
			if kept := len(s.Messages()); (c.wantCode == 0) != (kept == 1) {
				t.Errorf("kept %d messages", kept)
			}
		})
	}
}

func TestSetRefuseWhileRunning(t *testing.T) {
	var calls atomic.Int32
	s := start(t, smtpsink.Options{Refuse: func(stage, from, rcpt string) error {
		calls.Add(1)
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 5}, Message: "busy"}
	}})
	c := session(t, s)
	if _, err := send(c, "a@example.org", []string{"b@example.org"}); code(err) != 421 {
		t.Fatalf("first send: %v, want 421", err)
	}
	s.SetRefuse(nil)
	if stage, err := send(c, "a@example.org", []string{"b@example.org"}); err != nil {
		t.Fatalf("after SetRefuse(nil): %s: %v", stage, err)
	}
	if calls.Load() != 1 || len(s.Messages()) != 1 {
		t.Errorf("old hook called %d times, %d messages kept", calls.Load(), len(s.Messages()))
	}
}

func TestUsersRequireAuth(t *testing.T) {
	users := map[string]string{"referrals@eastside.example": "s3cret"}
	cases := []struct {
		name     string
		auth     sasl.Client
		authCode int // expected reply to AUTH; 0 = accepted
		mailCode int // expected reply to MAIL; 0 = accepted
	}{
		{"no login", nil, 0, 502},
		{"wrong password", sasl.NewPlainClient("", "referrals@eastside.example", "guess"), 535, 502},
		{"unknown user", sasl.NewPlainClient("", "nobody@eastside.example", "s3cret"), 535, 502},
		{"right password", sasl.NewPlainClient("", "referrals@eastside.example", "s3cret"), 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, smtpsink.Options{Users: users})
			cl := session(t, s)
			if ok, mechs := cl.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
				t.Fatalf("AUTH not offered: %v %q", ok, mechs)
			}
			if c.auth != nil {
				if err := cl.Auth(c.auth); code(err) != c.authCode {
					t.Fatalf("AUTH: %v, want code %d", err, c.authCode)
				}
			}
			stage, err := send(cl, "referrals@eastside.example", []string{"b@example.org"})
			if c.mailCode == 0 {
				if err != nil {
					t.Fatalf("%s: %v", stage, err)
				}
				if len(s.Messages()) != 1 {
					t.Errorf("kept %d messages", len(s.Messages()))
				}
				return
			}
			if stage != "mail" || code(err) != c.mailCode {
				t.Errorf("send without a good login: %s %v, want MAIL refused with %d", stage, err, c.mailCode)
			}
			if len(s.Messages()) != 0 {
				t.Errorf("kept a message sent without login")
			}
		})
	}

	t.Run("no users, no AUTH", func(t *testing.T) {
		s := start(t, smtpsink.Options{})
		if ok, _ := session(t, s).Extension("AUTH"); ok {
			t.Error("AUTH offered by a sink without users")
		}
	})
}

func TestDeliverHook(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	var delivered atomic.Int32
	s := start(t, smtpsink.Options{Deliver: func(r smtpsink.Received) error {
		if fail.Load() {
			return errors.New("mailbox locked")
		}
		delivered.Add(1)
		return nil
	}})
	c := session(t, s)
	_, err := send(c, "a@example.org", []string{"b@example.org"})
	if code(err) != 451 || !strings.Contains(err.Error(), "mailbox locked") {
		t.Fatalf("a failing Deliver gives %v, want a 451 naming the cause", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("the sink keeps a message it answered 451: %d kept", n)
	}
	fail.Store(false)
	if stage, err := send(c, "a@example.org", []string{"b@example.org"}); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	if n := len(s.Messages()); n != 1 || delivered.Load() != 1 {
		t.Errorf("after the retry: %d kept, %d delivered; want 1 and 1", n, delivered.Load())
	}
}

func TestMaxMessageBytes(t *testing.T) {
	s := start(t, smtpsink.Options{MaxMessageBytes: 32})
	_, err := send(session(t, s), "a@example.org", []string{"b@example.org"})
	if c := code(err); c != 552 {
		t.Errorf("a message over MaxMessageBytes: %v, want 552", err)
	}
	if len(s.Messages()) != 0 {
		t.Error("kept a message over the limit")
	}
}

func TestCloseStopsListening(t *testing.T) {
	s, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.localhost"); err != nil { // the session is up
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Error("the sink still accepts connections after Close")
	}
	if err := c.Noop(); err == nil {
		t.Error("an open session survived Close")
	}
}

func TestCloseRightAfterStart(t *testing.T) {
	// Close may come before the server's goroutine has started; the port
	// must be released all the same (tests reuse it to simulate an outage).
	for i := 0; i < 50; i++ {
		s, err := smtpsink.Start(smtpsink.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			conn.Close()
			t.Fatalf("round %d: still listening on %s after Close", i, s.Addr())
		}
	}
}
