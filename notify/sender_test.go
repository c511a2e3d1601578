package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/notify/smtpsink"
	"refdesk/store"
)

// waitLimit bounds every wait in these tests; the sender's own timers are
// seconds at most when a test wakes it.
const waitLimit = 15 * time.Second

// clock is the store's clock: real time plus an offset a test can move
// while the sender runs.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// watched is the real store seen through the sender's Outbox interface,
// counting passes: claims is bumped when a Claim starts, passEnd is set to
// claims when NextDue is called (a pass ends with NextDue after a Claim that
// found nothing due).
type watched struct {
	*store.Store
	claims  atomic.Int64
	passEnd atomic.Int64
}

func (w *watched) Claim(ctx context.Context, n int, lease time.Duration) ([]store.OutMsg, error) {
	w.claims.Add(1)
	return w.Store.Claim(ctx, n, lease)
}

func (w *watched) NextDue(ctx context.Context) (time.Time, error) {
	w.passEnd.Store(w.claims.Load())
	return w.Store.NextDue(ctx)
}

// logs records what the sender logs.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type harness struct {
	t      *testing.T
	cfg    *configs.Config
	st     *store.Store
	out    *watched
	clock  *clock
	logs   *logs
	sender *notify.Sender
}

// newHarness opens a real store in a temp dir and a sender that talks to
// addr over plain SMTP on loopback.
func newHarness(t *testing.T, addr string) *harness {
	t.Helper()
	cfg := demoConfig(t)
	cfg.SMTP.Address = addr
	cfg.SMTP.Security = "none"
	cfg.SMTP.Auth = "none"
	cfg.SMTP.Timeout = configs.Duration{Duration: 5 * time.Second}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "refdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, cfg: cfg, st: st, out: &watched{Store: st}, clock: &clock{}, logs: &logs{}}
	st.Now = h.clock.Now
	return h
}

// start runs the sender until the test ends.
func (h *harness) start() {
	h.t.Helper()
	r := newRenderer(h.t, h.cfg)
	h.sender = notify.NewSender(h.cfg, h.out, r, slog.New(h.logs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sender.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			h.t.Errorf("the sender did not stop when its context ended")
		}
	})
}

// enqueue adds an outbox row the way intake does: in a transaction, with
// its Message-ID set before any attempt.
func (h *harness) enqueue(kind, to string) *store.OutMsg {
	h.t.Helper()
	data, err := json.Marshal(store.Reply{Items: []store.ReplyItem{{Ref: "R-1042", Decision: kind, CaseID: "NH-2291", Client: "Dana W."}}})
	if err != nil {
		h.t.Fatal(err)
	}
	o := &store.OutMsg{Kind: kind, MessageID: store.NewMessageID("eastside.example"), To: to,
		InReplyTo: "orig-" + to, References: "orig-" + to, Subject: "Referral", Data: data}
	err = h.st.InTx(context.Background(), func(tx *store.Tx) error {
		added, err := tx.Enqueue(o)
		if err == nil && !added {
			err = fmt.Errorf("not added")
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

func (h *harness) row(id int64) *store.OutMsg {
	h.t.Helper()
	o, err := h.st.OutMsg(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// waitRow waits until the row satisfies ok.
func (h *harness) waitRow(id int64, what string, ok func(*store.OutMsg) bool) *store.OutMsg {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		o := h.row(id)
		if ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("O-%d: %s: not after %v; row: status %s, attempts %d, last error %q\nlog:\n%s",
				id, what, waitLimit, o.Status, o.Attempts, o.LastError, strings.Join(h.logs.all(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitSent(id int64) *store.OutMsg {
	h.t.Helper()
	return h.waitRow(id, "sent", func(o *store.OutMsg) bool { return o.Status == store.OutSent })
}

// waitLog waits for a log line containing s after the first `after` lines.
func (h *harness) waitLog(after int, s string) string {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		lines := h.logs.all()
		for _, l := range lines[min(after, len(lines)):] {
			if strings.Contains(l, s) {
				return l
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no log line with %q after %v:\n%s", s, waitLimit, strings.Join(lines, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pass wakes the sender and waits until it has looked at the outbox
// afresh: a Claim that started after this call, then the end of that pass.
func (h *harness) pass() {
	h.t.Helper()
	mark := h.out.claims.Load()
	h.sender.Wake()
	deadline := time.Now().Add(waitLimit)
	for h.out.passEnd.Load() <= mark {
		if time.Now().After(deadline) {
			h.t.Fatalf("the sender did not finish a pass after Wake")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle waits until the sender has ended a pass and is waiting for its timer.
func (h *harness) idle() {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		c1 := h.out.claims.Load()
		p := h.out.passEnd.Load()
		if c1 > 0 && p == c1 && h.out.claims.Load() == c1 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the sender did not become idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startSink(t *testing.T, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	s, err := smtpsink.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func messageIDOf(t *testing.T, data []byte) string {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id, err := mr.Header.MessageID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSenderDeliversEachPendingRowOnce(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	h := newHarness(t, sink.Addr())
	rows := []*store.OutMsg{
		h.enqueue("accepted", "maria@northside-housing.example"),
		h.enqueue("redirected", "joe@northside-housing.example"),
		h.enqueue("needs-info", "director@westside-workforce.example"),
	}
	h.start()
	got, err := sink.Wait(len(rows), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rows {
		row := h.waitSent(o.ID)
		if row.Attempts != 1 || row.LastError != "" || row.SentAt == nil {
			t.Errorf("O-%d: attempts %d, last error %q, sent at %v; want 1, none, set", o.ID, row.Attempts, row.LastError, row.SentAt)
		}
	}
	// Nothing more is sent when the sender looks again.
	h.pass()
	got = sink.Messages()
	if len(got) != len(rows) {
		t.Fatalf("sink received %d messages for %d rows", len(got), len(rows))
	}
	byID := map[string]smtpsink.Received{}
	for _, m := range got {
		id := messageIDOf(t, m.Data)
		if _, dup := byID[id]; dup {
			t.Errorf("%s delivered twice", id)
		}
		byID[id] = m
	}
	for _, o := range rows {
		m, ok := byID[o.MessageID]
		if !ok {
			t.Errorf("O-%d (%s) never arrived", o.ID, o.MessageID)
			continue
		}
		if m.From != "referrals@eastside.example" || len(m.To) != 1 || m.To[0] != o.To {
			t.Errorf("O-%d envelope: from %q to %q; want referrals@eastside.example to %s", o.ID, m.From, m.To, o.To)
		}
	}
}

func TestSenderWakeDeliversWithoutWaitingForTheTimer(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	h := newHarness(t, sink.Addr())
	first := h.enqueue("accepted", "maria@northside-housing.example")
	h.start()
	h.waitSent(first.ID)
	h.idle() // now waiting for its timer: a minute with nothing due

	second := h.enqueue("accepted", "joe@northside-housing.example")
	woke := time.Now()
	h.sender.Wake()
	h.waitSent(second.ID)
	if d := time.Since(woke); d > 10*time.Second {
		t.Errorf("delivered %v after Wake", d)
	}
	h.sender.Wake() // Wake never blocks, even when nobody listens yet
	h.sender.Wake()
}

func TestSenderRetriesTemporaryFailures(t *testing.T) {
	for _, stage := range []string{"rcpt", "data"} {
		t.Run("451 at "+stage, func(t *testing.T) {
			var refused atomic.Int32
			sink := startSink(t, smtpsink.Options{Refuse: func(st, from, rcpt string) error {
				if st != stage {
					return nil
				}
				refused.Add(1)
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "mailbox busy, try later"}
			}})
			h := newHarness(t, sink.Addr())
			o := h.enqueue("accepted", "maria@northside-housing.example")
			h.start()
			row := h.waitRow(o.ID, "one attempt", func(o *store.OutMsg) bool { return o.Attempts >= 1 })
			if row.Status != store.OutPending || row.Attempts != 1 {
				t.Fatalf("after a 451: status %s, attempts %d; want pending, 1", row.Status, row.Attempts)
			}
			if !strings.Contains(row.LastError, "451") || !strings.Contains(row.LastError, "mailbox busy, try later") {
				t.Errorf("last_error = %q, want the server's 451 reply", row.LastError)
			}
			// Backoff: not before 30 s, not beyond the 6 h cap.
			if wait := row.NextAttemptAt.Sub(time.Now()); wait < 30*time.Second || wait > 6*time.Hour+time.Hour {
				t.Errorf("next attempt in %v, want a backoff between 30s and 6h", wait)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("the sink kept %d refused messages", n)
			}

			// Lifting the refusal does not send it before it is due.
			sink.SetRefuse(nil)
			h.pass()
			if row := h.row(o.ID); row.Status != store.OutPending || refused.Load() != 1 || len(sink.Messages()) != 0 {
				t.Fatalf("retried before it was due: status %s, %d refusals, %d delivered", row.Status, refused.Load(), len(sink.Messages()))
			}

			// Once due, it goes.
			h.clock.Advance(7 * time.Hour)
			h.sender.Wake()
			row = h.waitSent(o.ID)
			if row.Attempts != 2 || row.LastError != "" {
				t.Errorf("after delivery: attempts %d, last error %q; want 2 and none", row.Attempts, row.LastError)
			}
			msgs, err := sink.Wait(1, waitLimit)
			if err != nil || len(msgs) != 1 || messageIDOf(t, msgs[0].Data) != o.MessageID {
				t.Fatalf("delivered %d messages (%v); want one with the row's Message-ID", len(msgs), err)
			}
		})
	}
}

func TestSenderGivesUpAfterMaxAttempts(t *testing.T) {
	sink := startSink(t, smtpsink.Options{Refuse: func(stage, from, rcpt string) error {
		if stage == "rcpt" {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "overloaded"}
		}
		return nil
	}})
	h := newHarness(t, sink.Addr())
	h.cfg.SMTP.MaxAttempts = 2
	o := h.enqueue("accepted", "maria@northside-housing.example")
	h.start()
	h.waitRow(o.ID, "first attempt", func(o *store.OutMsg) bool { return o.Attempts == 1 })
	h.clock.Advance(7 * time.Hour)
	h.sender.Wake()
	row := h.waitRow(o.ID, "failed", func(o *store.OutMsg) bool { return o.Status != store.OutPending })
	if row.Status != store.OutFailed || row.Attempts != 2 || !strings.Contains(row.LastError, "overloaded") {
		t.Errorf("after max_attempts: status %s, attempts %d, last error %q", row.Status, row.Attempts, row.LastError)
	}
}

func TestSenderFailsPermanentRefusals(t *testing.T) {
	cases := []struct {
		stage string
		err   *smtp.SMTPError
	}{
		{"rcpt", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox here"}},
		{"data", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by policy"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d at %s", c.err.Code, c.stage), func(t *testing.T) {
			const gone = "gone@northside-housing.example"
			var refused atomic.Int32
			sink := startSink(t, smtpsink.Options{Refuse: func(stage, from, rcpt string) error {
				if stage == c.stage && rcpt == gone {
					refused.Add(1)
					return c.err
				}
				return nil
			}})
			h := newHarness(t, sink.Addr())
			bad := h.enqueue("accepted", gone)
			good := h.enqueue("accepted", "maria@northside-housing.example")
			h.start()
			h.waitSent(good.ID)
			row := h.waitRow(bad.ID, "failed", func(o *store.OutMsg) bool { return o.Status != store.OutPending })
			if row.Status != store.OutFailed || row.Attempts != 1 {
				t.Fatalf("after a %d: status %s, attempts %d; want failed, 1", c.err.Code, row.Status, row.Attempts)
			}
			if !strings.Contains(row.LastError, fmt.Sprint(c.err.Code)) || !strings.Contains(row.LastError, c.err.Message) {
				t.Errorf("last_error = %q, want the server's reply", row.LastError)
			}
			// Never retried, however long we wait.
			h.clock.Advance(30 * 24 * time.Hour)
			h.pass()
			if n := refused.Load(); n != 1 {
				t.Errorf("the failed message was tried %d times", n)
			}
			if row := h.row(bad.ID); row.Status != store.OutFailed || row.Attempts != 1 {
				t.Errorf("later: status %s, attempts %d", row.Status, row.Attempts)
			}
			if msgs := sink.Messages(); len(msgs) != 1 || msgs[0].To[0] != good.To {
				t.Errorf("sink got %d messages, want only the good one", len(msgs))
			}
		})
	}
}

// freeAddr is a loopback address nobody listens on (a sink that was
// started and closed).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSenderWaitsOutAnSMTPOutage(t *testing.T) {
	cases := []struct {
		name string
		// prepare returns the address the sender uses; the server there is
		// down when it returns, after delivering `before` messages.
		prepare func(t *testing.T, h *harness) (addr string)
	}{
		{"nobody listens", func(t *testing.T, h *harness) string { return h.cfg.SMTP.Address }},
		{"server goes away after a delivery", func(t *testing.T, h *harness) string {
			sink, err := smtpsink.Start(smtpsink.Options{Addr: h.cfg.SMTP.Address})
			if err != nil {
				t.Fatal(err)
			}
			first := h.enqueue("accepted", "first@northside-housing.example")
			h.start()
			h.waitSent(first.ID)
			h.idle()
			sink.Close() // drops the sender's open connection too
			return h.cfg.SMTP.Address
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, freeAddr(t))
			addr := c.prepare(t, h)
			seen := len(h.logs.all())
			rows := []*store.OutMsg{
				h.enqueue("accepted", "maria@northside-housing.example"),
				h.enqueue("waitlisted", "joe@northside-housing.example"),
			}
			if h.sender == nil {
				h.start()
			} else {
				h.sender.Wake()
			}
			line := h.waitLog(seen, "smtp unavailable")
			if !strings.Contains(line, addr) {
				t.Errorf("the log does not say which server is down: %s", line)
			}
			for _, o := range rows {
				if row := h.row(o.ID); row.Status != store.OutPending || row.Attempts != 0 || row.LastError != "" {
					t.Errorf("O-%d while SMTP is down: status %s, attempts %d, last error %q; want pending, 0, none",
						o.ID, row.Status, row.Attempts, row.LastError)
				}
			}

			// The server comes back on the same address; the sender finds it
			// by itself, without a Wake.
			sink, err := smtpsink.Start(smtpsink.Options{Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sink.Close() })
			for _, o := range rows {
				if row := h.waitSent(o.ID); row.Attempts != 1 {
					t.Errorf("O-%d delivered with attempts = %d, want 1 (an outage costs no attempt)", o.ID, row.Attempts)
				}
			}
			if _, err := sink.Wait(len(rows), waitLimit); err != nil {
				t.Fatal(err)
			}
			h.pass()
			if n := len(sink.Messages()); n != len(rows) {
				t.Errorf("sink got %d messages, want %d: each row once", n, len(rows))
			}
		})
	}
}

func TestSenderLogsInWithPassword(t *testing.T) {
	const user, right = "referrals@eastside.example", "c0rrect-horse"
	cases := []struct {
		name, password string
		delivers       bool
	}{
		{"right password", right, true},
		{"wrong password", "wr0ng-pony", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := startSink(t, smtpsink.Options{Users: map[string]string{user: right}})
			h := newHarness(t, sink.Addr())
			h.cfg.SMTP.Auth = "password"
			h.cfg.SMTP.Username = user
			h.cfg.SMTP.PasswordEnv = "REFDESK_SENDER_TEST_SMTP_PASSWORD"
			t.Setenv(h.cfg.SMTP.PasswordEnv, c.password)
			o := h.enqueue("accepted", "maria@northside-housing.example")
			h.start()
			if c.delivers {
				h.waitSent(o.ID)
				if _, err := sink.Wait(1, waitLimit); err != nil {
					t.Fatal(err)
				}
			} else {
				line := h.waitLog(0, "smtp unavailable")
				if row := h.row(o.ID); row.Status != store.OutPending || row.Attempts != 0 || len(sink.Messages()) != 0 {
					t.Fatalf("with a wrong password: status %s, attempts %d, %d delivered", row.Status, row.Attempts, len(sink.Messages()))
				}
				if !strings.Contains(strings.ToLower(line), "auth") {
					t.Errorf("the log does not say the login failed: %s", line)
				}
				// The administrator fixes the secret; the next connection uses it.
				t.Setenv(h.cfg.SMTP.PasswordEnv, right)
				h.sender.Wake()
				h.waitSent(o.ID)
			}
			for _, l := range h.logs.all() {
				if strings.Contains(l, right) || strings.Contains(l, "wr0ng-pony") {
					t.Errorf("a password was logged: %s", l)
				}
			}
		})
	}
}
