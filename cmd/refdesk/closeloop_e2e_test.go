package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/mail"

	"refdesk/configs"
	"refdesk/ingest/dovecottest"
	"refdesk/notify/smtpsink"
	"refdesk/store"
)

// loopWorld is a real Dovecot holding the referrals mailbox, an SMTP sink as
// the relay, `refdesk serve` running in-process (runDaemon) on a config
// pointing at both, and the CLI run in-process on the same database.
type loopWorld struct {
	t       *testing.T
	cfgPath string
	srv     *dovecottest.Server
	sink    *smtpsink.Sink
	logs    *syncBuffer
}

const loopPasswordEnv = "REFDESK_LOOP_IMAP_PASSWORD"

func newLoopWorld(t *testing.T) *loopWorld {
	t.Helper()
	srv := dovecottest.Start(t)
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	t.Setenv(loopPasswordEnv, srv.Password)
	t.Setenv("REFDESK_USER", "coach.kim")
	demo, err := os.ReadFile("../../configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := string(demo)
	for old, repl := range map[string]string{
		`path = "refdesk-demo.db"`:                            fmt.Sprintf("path = %q", filepath.Join(dir, "refdesk.db")),
		`address = "127.0.0.1:1143"`:                          fmt.Sprintf("address = %q", srv.Addr),
		`address = "127.0.0.1:2525"`:                          fmt.Sprintf("address = %q", sink.Addr()),
		`password_env = "REFDESK_DEMO_PASSWORD"`:              fmt.Sprintf("password_env = %q", loopPasswordEnv),
		`username = "referrals@eastside.example"`:             fmt.Sprintf("username = %q", srv.User),
		`poll_interval = "2s"`:                                `poll_interval = "1s"`,
		"idle_timeout = \"3s\"":                               "idle_timeout = \"25m\"",
		`report_to = ["referrals@northside-housing.example"]`: `report_to = ["referrals@northside-housing.example", "director@northside-housing.example"]`,
	} {
		if !strings.Contains(c, old) {
			t.Fatalf("configs/demo.toml has no %q", old)
		}
		c = strings.Replace(c, old, repl, 1)
	}
	c = currentGrant(t, c)
	w := &loopWorld{t: t, cfgPath: filepath.Join(dir, "refdesk.toml"), srv: srv, sink: sink, logs: &syncBuffer{}}
	if err := os.WriteFile(w.cfgPath, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// serve runs the daemon until the test ends.
func (w *loopWorld) serve() {
	w.t.Helper()
	cfg, err := configs.Load(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, st, slog.New(slog.NewTextHandler(w.logs, nil)), nil) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("serve: %v", err)
		}
		st.Close()
	})
}

// deliver APPENDs a referral email to the INBOX with an arrival time.
func (w *loopWorld) deliver(at time.Time, from, msgID, body string) {
	w.t.Helper()
	raw := strings.ReplaceAll(fmt.Sprintf("From: %s\nTo: referrals@eastside.example\nSubject: Referral\nMessage-ID: <%s>\nDate: %s\n\n%s",
		from, msgID, at.Format(time.RFC1123Z), body), "\n", "\r\n")
	c := w.srv.Dial(w.t)
	cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write([]byte(raw)); err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		w.t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *loopWorld) cli(args ...string) (string, error) {
	out, errOut, err := run(w.t, append([]string{"--config", w.cfgPath}, args...)...)
	return out + errOut, err
}

func (w *loopWorld) waitFor(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s\nserve log:\n%s", what, w.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sentMail is one message the sink took, read back.
type sentMail struct {
	to          []string
	subject     string
	auto        string
	text        string
	attachments map[string]string // file name -> content
}

func (w *loopWorld) mails() []sentMail {
	w.t.Helper()
	var out []sentMail
	for _, r := range w.sink.Messages() {
		mr, err := mail.CreateReader(bytes.NewReader(r.Data))
		if err != nil {
			w.t.Fatal(err)
		}
		m := sentMail{to: r.To, auto: mr.Header.Get("Auto-Submitted"), attachments: map[string]string{}}
		m.subject, _ = mr.Header.Subject()
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.t.Fatal(err)
			}
			b, _ := io.ReadAll(p.Body)
			switch h := p.Header.(type) {
			case *mail.AttachmentHeader:
				name, _ := h.Filename()
				m.attachments[name] = string(b)
			case *mail.InlineHeader:
				if ct, _, _ := h.ContentType(); ct == "text/plain" {
					m.text = string(b)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

func (w *loopWorld) reports() []sentMail {
	var out []sentMail
	for _, m := range w.mails() {
		if strings.HasPrefix(m.subject, "Referral report") {
			out = append(out, m)
		}
	}
	return out
}

// The Must-show of the close-the-loop issue, against a real Dovecot with
// `serve` running: the coach workflow on referrals taken in from the
// mailbox, the report preview's privacy, `report --send` twice giving one
// report per partner (auto-generated, with a CSV), and stats.
func TestCloseLoopAgainstDovecot(t *testing.T) {
	w := newLoopWorld(t)
	loc := mustLoad(t, "America/Chicago")
	lastMonth := time.Now().In(loc).AddDate(0, 0, -time.Now().In(loc).Day()) // the last day of the previous month
	at := time.Date(lastMonth.Year(), lastMonth.Month(), 10, 10, 0, 0, 0, loc)
	w.deliver(at, "Maria Lopez <maria.lopez@northside-housing.example>", "dana@northside-housing.example",
		"Client name: Dana Whitfield\nPhone: 555-014-2000\nZIP: 60601\nConsent: yes\nShare outcomes: yes\nCase ID: NHA-2291\n")
	w.deliver(at.Add(time.Hour), "Maria Lopez <maria.lopez@northside-housing.example>", "rosa@northside-housing.example",
		"Client name: Rosa Quintana\nPhone: 555-014-7777\nZIP: 60602\nConsent: yes\nShare outcomes: no\nCase ID: NHA-3310\n")
	w.deliver(at.Add(2*time.Hour), "Lee Park <lee@westside-workforce.example>", "kim@westside-workforce.example",
		"Client name: Kim Osei\nPhone: 555-017-0000\nZIP: 60603\nConsent: yes\nShare outcomes: yes\nCase ID: WW-77\n")
	w.serve()

	var list []struct{ ID, Status, Partner string }
	w.waitFor("three referrals taken in", func() bool {
		out, err := w.cli("list", "--json")
		return err == nil && json.Unmarshal([]byte(out), &list) == nil && len(list) == 3
	})
	w.waitFor("three replies sent", func() bool { return len(w.sink.Messages()) >= 3 })
	ids := map[string]string{} // case ID -> reference, via show
	for _, r := range list {
		out, _ := w.cli("show", r.ID, "--json")
		var v struct {
			PartnerCaseID string `json:"partner_case_id"`
		}
		json.Unmarshal([]byte(out), &v)
		ids[v.PartnerCaseID] = r.ID
	}
	dana, rosa := ids["NHA-2291"], ids["NHA-3310"]

	// The coach workflow.
	for _, s := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"update", rosa, "completed"}, "cannot move to completed"},
		{[]string{"update", rosa, "client-declined"}, "reason is required"},
		{[]string{"note", dana, "--contact", "left a voicemail"}, ""},
		{[]string{"update", dana, "scheduled", "--note", "Tue 10am"}, ""},
		{[]string{"update", dana, "enrolled"}, ""},
		{[]string{"outcome", dana, "savings-increased", "--amount", "200"}, ""},
	} {
		out, err := w.cli(s.args...)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%v: %v\n%s", s.args, err, out)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%v: error %v, want %q", s.args, err, s.wantErr)
		}
	}
	out, err := w.cli("show", dana, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Status   string
		Outcomes []struct {
			Kind   string
			Amount json.Number
		}
		Events []struct{ Kind, From, To, By string }
	}
	json.Unmarshal([]byte(out), &show)
	var trail []string
	for _, e := range show.Events {
		trail = append(trail, e.Kind+":"+e.To+":"+e.By)
	}
	if show.Status != "enrolled" || len(show.Outcomes) != 1 || show.Outcomes[0].Kind != "savings-increased" || show.Outcomes[0].Amount != "200.00" ||
		strings.Join(trail, " ") != "created:accepted:refdesk contact::coach.kim status:scheduled:coach.kim status:enrolled:coach.kim outcome::coach.kim" {
		t.Errorf("show --json: status %s, outcomes %+v, history %v", show.Status, show.Outcomes, trail)
	}

	// The preview lists Dana by case ID and initials, and never Rosa.
	out, err = w.cli("report", "--preview", "--partner", "northside-housing")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "NHA-2291") || !strings.Contains(out, "D.W.") {
		t.Errorf("the preview does not list the consenting client:\n%s", out)
	}
	for _, leak := range []string{"NHA-3310", "Rosa", "Quintana", "R.Q.", "Whitfield", "0147777"} {
		if strings.Contains(out, leak) {
			t.Errorf("the preview shows %q", leak)
		}
	}

	// report --send twice, serve running: one report per partner.
	for i := 0; i < 2; i++ {
		if out, err := w.cli("report", "--send"); err != nil {
			t.Fatalf("report --send #%d: %v\n%s", i+1, err, out)
		}
	}
	w.waitFor("two reports at the sink", func() bool { return len(w.reports()) >= 2 })
	// The outbox holds every message refdesk will ever send: two report
	// rows, both sent, means no other report is coming.
	out, err = w.cli("outbox", "--json")
	var outbox []struct{ Kind, Status string }
	if err != nil || json.Unmarshal([]byte(out), &outbox) != nil {
		t.Fatalf("outbox: %v\n%s", err, out)
	}
	var rows []string
	for _, o := range outbox {
		if o.Kind == "monthly-report" {
			rows = append(rows, o.Status)
		}
	}
	if strings.Join(rows, " ") != "sent sent" {
		t.Errorf("monthly-report rows in the outbox: %v, want two, sent", rows)
	}
	reps := w.reports()
	if len(reps) != 2 {
		t.Fatalf("%d reports reached the sink, want 2 (one per partner)", len(reps))
	}
	// --send with no --month is the next report: this month's so far (the
	// referrals came in last month and are open, or changed this month).
	month := time.Now().In(loc).Format("2006-01")
	for _, m := range reps {
		north := strings.Contains(m.subject, "Northside")
		csvName := "referrals-westside-workforce-" + month + ".csv"
		wantTo := []string{"director@westside-workforce.example"}
		if north {
			csvName = "referrals-northside-housing-" + month + ".csv"
			wantTo = []string{"referrals@northside-housing.example", "director@northside-housing.example"}
		}
		if m.auto != "auto-generated" {
			t.Errorf("%s: Auto-Submitted = %q", m.subject, m.auto)
		}
		if strings.Join(m.to, " ") != strings.Join(wantTo, " ") {
			t.Errorf("%s: to %v, want %v", m.subject, m.to, wantTo)
		}
		csv, ok := m.attachments[csvName]
		if !ok {
			t.Errorf("%s: no %s attachment (has %v)", m.subject, csvName, m.attachments)
		}
		if north && (!strings.Contains(csv, "NHA-2291,D.W.") || strings.Contains(csv, "NHA-3310") || strings.Contains(m.text, "NHA-3310")) {
			t.Errorf("northside CSV:\n%s", csv)
		}
	}
	if out, _ := w.cli("report", "--month", month); strings.Count(out, " sent ") != 2 {
		t.Errorf("report status:\n%s", out)
	}

	out, err = w.cli("stats")
	if err != nil || !strings.Contains(out, "enrolled clients  1 of 120") || !strings.Contains(out, "County Financial Empowerment FY27") {
		t.Errorf("stats: %v\n%s", err, out)
	}
}
