package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"refdesk/notify/smtpsink"
)

// Bad days, end to end: the real refdesk binary against a real Dovecot and a
// real SMTP server, with the failures a small agency's mail actually has.

// TestE2EBadDay: an oversize message and a malformed one leave the inbox
// (the oversize one for Quarantine, unfetched) while serve keeps running;
// three referrals arrive while SMTP is down and all three replies arrive,
// once each, within a minute of SMTP coming back; a reply the relay refuses
// for good (550) is failed and listed by `outbox --failed`. The database file
// is 0600, and the log of the whole run holds no field value of any
// referral.
func TestE2EBadDay(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{maxSize: "256KB"})
	addr := e.sink.Addr()
	e.startServe()

	good := inMail{From: fromAlex, Subject: "Referral", MessageID: "badday.good@northside-housing.example",
		Body: "Client name: Octavia Brennan-Hollis\nPhone: 312-555-0191\nEmail: obh.client@mailbox.example\nZIP: 60606\n" +
			"Date of birth: 1961-04-17\nNeeds: a budget after a divorce\nCase ID: NH-77123\nConsent: yes\n"}
	malformed := []byte("this line is not a header\r\nneither: is this one\r\n\r\nbody\r\n")
	scan := strings.Repeat("JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\n", 5000)
	oversize := inMail{From: fromMaria, Subject: "Referral with the scanned form", MessageID: "badday.big@northside-housing.example",
		Body: "Client name: Ingrid Vasquez-Thorne\nPhone: 312-555-0192\nConsent: yes\n" + scan}
	e.appendInbox(malformed, oversize.bytes(), good.bytes())
	e.waitProcessed(1, 2, waitIntake)
	e.serveAlive()
	if q := e.messageIDs("Quarantine"); q[oversize.MessageID] != 1 {
		e.errorf("Quarantine holds %v, want the oversize message", q)
	}
	e.waitReplyTo(good.MessageID, waitIntake)

	// SMTP goes down; three referrals arrive meanwhile.
	e.sink.Close()
	down := []inMail{
		{From: fromAlex, Subject: "Referral", MessageID: "badday.down1@northside-housing.example",
			Body: "Client name: Percival Udeh-Marchetti\nPhone: 312-555-0193\nZIP: 60601\nConsent: yes\n"},
		{From: fromMaria, Subject: "Referral", MessageID: "badday.down2@northside-housing.example",
			Body: "Client name: Rosalind Ferreira-Okoye\nPhone: 312-555-0194\nZIP: 60602\nConsent: yes\n"},
		{From: fromJoy, Subject: "Referral", MessageID: "badday.down3@westside-workforce.example",
			Body: "Client name: Thaddeus Lindqvist-Amari\nPhone: 312-555-0195\nZIP: 60603\nConsent: yes\n"},
	}
	for _, m := range down {
		e.appendInbox(m.bytes())
	}
	e.waitProcessed(4, 2, waitIntake)
	time.Sleep(3 * time.Second) // a few failed connection attempts
	back := time.Now()
	sink, err := smtpsink.Start(smtpsink.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	e.sink = sink
	t.Cleanup(func() { sink.Close() })
	for _, m := range down {
		e.waitReplyTo(m.MessageID, time.Minute)
	}
	if d := time.Since(back); d > time.Minute {
		e.errorf("the replies took %v after SMTP came back", d)
	}
	time.Sleep(time.Second)
	for _, m := range down {
		if n := len(repliesTo(e.replies(), m.MessageID)); n != 1 {
			e.errorf("%d replies to <%s>, want exactly 1", n, m.MessageID)
		}
	}

	// A reply the relay refuses for good.
	sink.SetRefuse(func(stage, _, rcpt string) error {
		if stage == "rcpt" && strings.HasPrefix(rcpt, "gone.caseworker@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		}
		return nil
	})
	refused := inMail{From: "Gone Caseworker <gone.caseworker@northside-housing.example>", Subject: "Referral",
		MessageID: "badday.refused@northside-housing.example",
		Body:      "Client name: Wilhelmina Achterberg\nPhone: 312-555-0196\nZIP: 60604\nConsent: yes\n"}
	e.appendInbox(refused.bytes())
	e.waitFor("the refused reply to be marked failed", waitIntake, func() (bool, string) {
		var failed []cliOut
		e.cliJSON(&failed, "outbox", "--failed")
		return len(failed) == 1 && failed[0].To == "gone.caseworker@northside-housing.example", fmt.Sprintf("%+v", failed)
	})
	e.serveAlive()
	e.stopServe()

	fi, err := os.Stat(e.dir + "/refdesk.db")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("the database is mode %v, readable by group or others", fi.Mode().Perm())
	}

	// Privacy: no field value of any referral sent in this run is in the log.
	log, err := os.ReadFile(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append([]inMail{good, oversize, refused}, down...) {
		for _, v := range fieldValues(m.Body) {
			if strings.Contains(string(log), v) {
				t.Errorf("the serve log contains %q from <%s>", v, m.MessageID)
			}
		}
	}
}

// fieldValues returns every value of a "Label: value" line of a referral,
// as written and (for phones) as the digits refdesk stores, leaving out the
// yes/no answers (which say nothing about anyone).
func fieldValues(body string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		_, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if !ok || v == "" || len(v) > 200 || strings.EqualFold(v, "yes") || strings.EqualFold(v, "no") {
			continue
		}
		out = append(out, v)
		if d := regexp.MustCompile(`\D`).ReplaceAllString(v, ""); len(d) >= 7 && len(d) < len(v) {
			out = append(out, d)
		}
		for _, w := range strings.Fields(v) { // each part of a name on its own
			if len(w) >= 5 && w[0] >= 'A' && w[0] <= 'Z' {
				out = append(out, w)
			}
		}
	}
	return out
}

// TestE2EReplyCapAndLoopGuard: 25 referrals from one sender within the hour
// get 20 automatic replies and the other 5 are held for the reply cap; and
// pointed at a responder that answers every message with no auto-generated
// header at all, refdesk stops at the same cap: the loop ends.
func TestE2EReplyCapAndLoopGuard(t *testing.T) {
	t.Parallel()
	t.Run("25 referrals", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, e2eOptions{})
		e.startServe()
		var msgs [][]byte
		for i := range 25 {
			m := inMail{From: fromMaria, Subject: "Referral", MessageID: fmt.Sprintf("cap.%d@northside-housing.example", i),
				Body: fmt.Sprintf("Client name: Client Number%c\nPhone: 312-555-%04d\nZIP: 60601\nConsent: yes\n", 'A'+i, 1100+i)}
			msgs = append(msgs, m.bytes())
		}
		e.appendInbox(msgs...)
		e.waitProcessed(25, 0, waitIntake)
		e.waitFor("20 replies", waitIntake, func() (bool, string) {
			n := len(e.sink.Messages())
			return n == 20, fmt.Sprint(n, " replies")
		})
		time.Sleep(2 * time.Second)
		e.stopServe()
		if n := len(e.sink.Messages()); n != 20 {
			e.errorf("%d replies, want 20", n)
		}
		var held []cliMessage
		e.cliJSON(&held, "held")
		if len(held) != 5 {
			e.fatalf("%d held, want 5: %+v", len(held), held)
		}
		for _, h := range held {
			if !strings.Contains(h.Reason, "reply cap") {
				e.errorf("held for %q, want the reply cap", h.Reason)
			}
		}
	})
	t.Run("autoresponder", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, e2eOptions{})
		addr := e.sink.Addr()
		e.sink.Close()
		// The responder: every message refdesk sends to Maria comes back
		// at once as a new message from her, with none of the headers
		// that mark automatic mail.
		responder := e.srv.Dial(t)
		var mu sync.Mutex
		n := 0
		sink, err := smtpsink.Start(smtpsink.Options{Addr: addr, Deliver: func(r smtpsink.Received) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			reply, err := parseReply(r)
			if err != nil {
				return err
			}
			m := inMail{From: fromMaria, Subject: "RE: " + reply.Subject, MessageID: fmt.Sprintf("responder.%d@northside-housing.example", n),
				InReplyTo: reply.MessageID, References: []string{reply.MessageID},
				Body: "Thank you for your email. I will get back to you as soon as I can.\n"}
			raw := m.bytes()
			cmd := responder.Append("INBOX", int64(len(raw)), nil)
			cmd.Write(raw)
			cmd.Close()
			_, err = cmd.Wait()
			return err
		}})
		if err != nil {
			t.Fatal(err)
		}
		e.sink = sink
		t.Cleanup(func() { sink.Close() })
		e.startServe()
		first := inMail{From: fromMaria, Subject: "Referral", MessageID: "loop.start@northside-housing.example",
			Body: "Client name: Loop Tester\nPhone: 312-555-0188\n"} // no consent: needs-info
		e.appendInbox(first.bytes())
		// Quiet for five seconds: the loop has ended.
		last, lastChange := -1, time.Now()
		e.waitFor("the loop to end", 90*time.Second, func() (bool, string) {
			got := len(e.sink.Messages())
			if got != last {
				last, lastChange = got, time.Now()
			}
			return time.Since(lastChange) > 5*time.Second && e.folders()["INBOX"] == 0, fmt.Sprint(got, " replies")
		})
		e.stopServe()
		if got := len(e.sink.Messages()); got > 20 || got < 1 {
			e.errorf("%d replies to the autoresponder, want between 1 and the cap of 20", got)
		}
		var held []cliMessage
		e.cliJSON(&held, "held")
		if len(held) == 0 || !strings.Contains(held[0].Reason, "reply cap") {
			e.errorf("held = %+v; want the responder's message held for the reply cap", held)
		}
	})
}
