package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Crash and shutdown tests of the end-to-end suite (see e2e_test.go): serve
// stopped or killed while it delivers replies.

// TestE2EStopDuringDelivery: serve is stopped (SIGTERM, as an init system
// does) while the relay holds a reply but has not yet answered the DATA.
// The relay then accepts it, so refdesk must record it as sent: a reply left
// pending would be delivered a second time after the next start.
func TestE2EStopDuringDelivery(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{})
	entered := make(chan struct{})
	var once sync.Once
	e.sink.SetRefuse(func(stage, _, _ string) error {
		if stage == "data" {
			once.Do(func() { close(entered) })
			time.Sleep(1500 * time.Millisecond) // a slow relay
		}
		return nil
	})
	m := inMail{From: fromMaria, Subject: "Referral", MessageID: "CAF3a91e.slow-relay@northside-housing.example",
		Body: "Client name: Grace Achterberg\nPhone: 312-555-0181\nZIP: 60601\nNeeds: budgeting\nConsent: yes\n"}
	e.startServe()
	e.appendInbox(m.bytes())
	select {
	case <-entered:
	case <-time.After(waitIntake):
		e.fatalf("no reply reached the relay's DATA stage within %v", waitIntake)
	}
	e.stopServe()

	if n := len(repliesTo(e.replies(), m.MessageID)); n != 1 {
		e.fatalf("the relay accepted %d replies, want 1", n)
	}
	out := e.outbox()
	if len(out) != 1 || out[0].Status != "sent" {
		e.errorf("refdesk outbox after the stop: %+v; want the one reply sent (the relay accepted it), not queued to go again", out)
	}
}

// TestE2ECrashSafety: 150 referrals wait in the INBOX; serve is killed with
// SIGKILL at random moments while it works, and restarted each time, then
// left to finish. Afterwards there is exactly one record per referral, every
// message is in Processed, and every referral got exactly one reply: a
// Message-ID may reach the relay twice only in the documented window (the
// relay accepted it, the crash came before it was marked sent), so copies
// are re-deliveries of the same Message-ID, at most one per kill.
func TestE2ECrashSafety(t *testing.T) {
	t.Parallel()
	const total = 150
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REFDESK_E2E_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("seed %d (REFDESK_E2E_SEED=%d repeats this run's kill timing)", seed, seed)

	// smtp.timeout bounds how long a reply stays claimed by a serve that was
	// killed holding it (two timeouts and a little more); 5 s is plenty on
	// loopback and keeps the test short.
	e := newE2E(t, e2eOptions{batchSize: 5, smtpTimeout: "5s"})
	// A relay that takes 8-16 ms per message, as real ones do (the sink
	// alone answers at once): sending 150 replies takes seconds, so the
	// kills land while refdesk is busy, some in the middle of an SMTP DATA.
	e.sink.SetRefuse(func(stage, _, _ string) error {
		if stage == "data" {
			time.Sleep(time.Duration(8+rand.IntN(9)) * time.Millisecond)
		}
		return nil
	})
	firsts := []string{"Ada", "Bruno", "Celia", "Desmond", "Esther", "Farid", "Greta", "Hector", "Imani", "Jonas", "Keiko", "Lorenzo", "Mireille", "Nikolai", "Odette"}
	lasts := []string{"Abernathy", "Castellanos", "Delacroix", "Fitzgerald", "Gallagher", "Hollingsworth", "Ivanova", "Jankowski", "Kowalczyk", "Lindqvist"}
	type client struct {
		msg            inMail
		first, surname string
		phone          string
		decision       string
	}
	clients := make([]client, total)
	var raws [][]byte
	for i := range clients {
		first, last := firsts[i%len(firsts)], lasts[i/len(firsts)]
		phone := fmt.Sprintf("312555%04d", 2000+i)
		dom := "northside-housing.example"
		if i%2 == 1 {
			dom = "westside-workforce.example"
		}
		from := fmt.Sprintf("Caseworker %02d <cw%02d@%s>", i%30, i%30, dom)
		needs, consent, decision := "budgeting and building credit", "Consent: yes\n", "accepted"
		switch {
		case i%10 == 3:
			needs, decision = "facing eviction this month", "redirected"
		case i%25 == 7:
			consent, decision = "", "needs-info"
		}
		m := inMail{From: from, Subject: "Referral " + strconv.Itoa(i+1), MessageID: fmt.Sprintf("crash-%03d.%x@%s", i+1, seed&0xffffff, dom),
			Body: fmt.Sprintf("Client name: %s %s\nPhone: (312) 555-%04d\nZIP: 60601\nNeeds: %s\n%sCase ID: C-%04d\n", first, last, 2000+i, needs, consent, i+1)}
		clients[i] = client{msg: m, first: first, surname: last, phone: phone, decision: decision}
		raws = append(raws, m.bytes())
	}
	e.appendInbox(raws...)
	if c := e.folders(); c["INBOX"] != total {
		e.fatalf("after APPEND: %s, want INBOX=%d", mailboxState(c), total)
	}

	start := time.Now()
	e.startServe()
	kills := 4 + rng.IntN(3)
	var during []string
	busyKills := 0
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(50+rng.IntN(651)) * time.Millisecond)
		c := e.folders()
		sent := len(e.sink.Messages())
		e.crashServe()
		if c["Processed"] < total || sent < total {
			busyKills++
		}
		during = append(during, fmt.Sprintf("kill %d at %v: INBOX=%d Processed=%d, replies at the sink=%d",
			k+1, time.Since(start).Round(time.Millisecond), c["INBOX"], c["Processed"], sent))
		e.startServe()
	}
	if busyKills == 0 {
		e.fatalf("every kill came after the work was done; the test proved nothing:\n%s", strings.Join(during, "\n"))
	}
	lastKill := time.Since(start)
	// Finished: every message out of the INBOX, a reply at the relay for
	// each, and `refdesk outbox` with nothing left to send. A reply a kill
	// caught after the relay took it but before it was marked sent waits
	// out its lease (two smtp.timeouts and a little) and goes again.
	lastPoll := time.Time{}
	e.waitFor(fmt.Sprintf("all %d messages processed, %d distinct replies and an empty queue", total, total), 75*time.Second, func() (bool, string) {
		e.serveAlive()
		c := e.folders()
		distinct := map[string]bool{}
		if len(e.sink.Messages()) >= total { // parsing is not free: only when it can be done
			for _, r := range e.replies() {
				distinct[r.MessageID] = true
			}
		}
		state := fmt.Sprintf("%s, %d distinct replies, %d deliveries", mailboxState(c), len(distinct), len(e.sink.Messages()))
		if c["INBOX"] != 0 || c["Processed"] != total || len(distinct) < total || time.Since(lastPoll) < 500*time.Millisecond {
			return false, state
		}
		lastPoll = time.Now()
		pending := 0
		for _, o := range e.outbox() {
			if o.Status == "pending" {
				pending++
			}
		}
		return pending == 0, fmt.Sprintf("%s, %d replies still queued", state, pending)
	})
	finished := time.Since(start)
	e.stopServe()

	// The records.
	refs := e.list()
	if len(refs) != total {
		e.errorf("refdesk list: %d referrals, want %d", len(refs), total)
	}
	byName := map[string]int{}
	for _, r := range refs {
		byName[r.ClientName]++
	}
	for name, n := range byName {
		if n > 1 {
			e.errorf("client %q has %d records", name, n)
		}
	}
	// The mailbox.
	c := e.folders()
	if c["INBOX"] != 0 || c["Processed"] != total || max(c["Quarantine"], 0) != 0 {
		e.errorf("mailboxes after the run: %s, want INBOX=0 Processed=%d Quarantine=0", mailboxState(c), total)
	}
	inProcessed := e.messageIDs("Processed")
	// The replies, keyed by Message-ID.
	all := e.replies()
	deliveries := map[string][]*sentReply{}
	for _, r := range all {
		deliveries[r.MessageID] = append(deliveries[r.MessageID], r)
	}
	if len(deliveries) != len(refs) {
		e.errorf("%d distinct reply Message-IDs for %d referrals", len(deliveries), len(refs))
	}
	dupes := len(all) - len(deliveries)
	for id, copies := range deliveries {
		for _, cp := range copies[1:] {
			if !slices.Equal(cp.InReplyTo, copies[0].InReplyTo) || cp.Subject != copies[0].Subject || cp.Plain != copies[0].Plain {
				e.errorf("Message-ID <%s> was delivered twice with different content: %q / %q", id, copies[0].Subject, cp.Subject)
			}
		}
	}
	if dupes > kills {
		e.errorf("%d re-deliveries for %d kills: more than one per crash", dupes, kills)
	}
	outKinds := map[string]string{}
	for _, o := range e.outbox() {
		outKinds[o.MessageID] = o.Kind + "/" + o.Status
	}
	serveLog := e.serveLog()
	for _, cl := range clients {
		if inProcessed[cl.msg.MessageID] != 1 {
			e.errorf("<%s> is %d times in Processed", cl.msg.MessageID, inProcessed[cl.msg.MessageID])
		}
		rs := repliesTo(all, cl.msg.MessageID)
		ids := map[string]bool{}
		for _, r := range rs {
			ids[r.MessageID] = true
		}
		if len(ids) != 1 {
			e.errorf("<%s>: %d different replies (%d deliveries), want exactly one reply", cl.msg.MessageID, len(ids), len(rs))
			continue
		}
		r := rs[0]
		if k := outKinds[r.MessageID]; k != cl.decision+"/sent" {
			e.errorf("<%s>: refdesk outbox says its reply is %q, want %s/sent", cl.msg.MessageID, k, cl.decision)
		}
		if ps := r.threadingProblems(cl.msg.MessageID); len(ps) > 0 {
			e.errorf("reply to <%s>: %v", cl.msg.MessageID, ps)
		}
		if short := cl.first + " " + cl.surname[:1] + "."; !strings.Contains(r.Plain, short) {
			e.errorf("reply to <%s> does not name the client as %q", cl.msg.MessageID, short)
		}
		if ls := r.leaks(cl.surname, cl.phone); len(ls) > 0 {
			e.errorf("reply to <%s> shows %v", cl.msg.MessageID, ls)
		}
		if ls := serveLog.find(cl.surname, cl.phone); len(ls) > 0 {
			e.errorf("the serve log shows %v", ls)
		}
	}
	t.Logf("crash test: %d messages, %d kills (%d while work was outstanding; last at %v), finished %v after start (%v after the last kill), %d starts of serve",
		total, kills, busyKills, lastKill.Round(time.Millisecond), finished.Round(time.Millisecond), (finished - lastKill).Round(time.Millisecond), e.starts)
	for _, d := range during {
		t.Logf("  %s", d)
	}
	t.Logf("crash test: %d replies delivered, %d distinct Message-IDs, %d re-deliveries of the same Message-ID (allowed: at most %d)",
		len(all), len(deliveries), dupes, kills)
}
