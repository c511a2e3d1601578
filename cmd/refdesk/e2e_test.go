package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// End-to-end tests: the real refdesk binary (`serve`, `list`, `show`,
// `held`, `outbox`) against a real Dovecot holding the referrals mailbox and
// a real SMTP server (smtpsink) standing in for the program's relay. They
// check what a program's staff would check: where the mail went, what the
// caseworkers got back, and what the CLI says.
//
// They skip without a dovecot binary unless REFDESK_REQUIRE_DOVECOT=1.

const (
	fromMaria = "Maria Lopez <maria.lopez@northside-housing.example>"
	fromAlex  = "Alex Reyes <areyes@northside-housing.example>"
	fromJoy   = "Joy Okafor <jokafor@westside-workforce.example>"

	waitIntake = 20 * time.Second // generous: a loaded CI box, Dovecot's ~0.5 s IDLE notice
)

// referralCase is a referral a caseworker sends and what refdesk must make
// of it.
type referralCase struct {
	name     string
	mail     inMail
	client   string // the client's full name: never in a reply, only first name and last initial
	phone    string // the client's phone as ten digits: never in a reply
	decision string // accepted | redirected | needs-info
	service  string // for redirected
}

var refRe = regexp.MustCompile(`R-\d+`)

// TestE2EReferralReplies: referrals of every decision arrive while serve
// runs (IDLE); each leaves the INBOX for Processed, becomes one record with
// the right decision, and gets exactly one threaded, automatic reply that
// carries neither the client's surname nor phone number.
func TestE2EReferralReplies(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{})
	dob16 := time.Now().AddDate(-16, -2, 0).Format("01/02/2006")
	cases := []referralCase{
		{
			name: "plain text, accepted", client: "Dana Whitfield", phone: "3125550142", decision: "accepted",
			mail: inMail{From: fromMaria, Subject: "Referral: Dana Whitfield", MessageID: "CAF3a91e.plain@northside-housing.example", Body: `Hi Eastside team,

Please see the referral below. Dana would like to work with a coach.

Client name: Dana Whitfield
Phone: (312) 555-0142
Email: dana.whitfield@example.com
ZIP: 60601
DOB: 03/14/1988
Preferred language: English
Reason for referral: wants help with a budget and building credit
Crisis: no
Client consents to contact: yes
Share outcomes: yes
Case ID: NH-2291
Best time to call: weekday mornings

Thanks,
Maria Lopez
Housing Case Manager | Northside Housing Authority
Phone: 555-0100
`},
		},
		{
			name: "Outlook multipart/alternative, quoted-printable, accepted", client: "Marisol Etxeberria", phone: "3125550143", decision: "accepted",
			mail: inMail{From: fromJoy, Subject: "New referral", MessageID: "BN8PR04MB6211.outlook@westside-workforce.example",
				ContentType: `multipart/alternative; boundary="_000_BN8PR04MB6211_"`,
				Headers:     []string{"Thread-Topic: New referral", "X-MS-Has-Attach:", "Content-Language: en-US"},
				Body: `--_000_BN8PR04MB6211_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Hello,

Client: Marisol Etxeberria
Cell: 312.555.0143
Zip code: 60605
Services requested: savings plan, help understanding a credit report =E2=80=93 =
she just started a new job
Permission to contact: Yes
Case number: WW-7731

Joy Okafor | Career Navigator | Westside Workforce Center

--_000_BN8PR04MB6211_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=
=3Dutf-8"></head><body><div>Hello,</div><div><br></div>
<div>Client: Marisol Etxeberria</div><div>Cell: 312.555.0143</div>
<div>Zip code: 60605</div><div>Services requested: savings plan, help unders=
tanding a credit report =E2=80=93 she just started a new job</div>
<div>Permission to contact: Yes</div><div>Case number: WW-7731</div>
<div><br></div><div>Joy Okafor | Career Navigator | Westside Workforce Center=
</div></body></html>

--_000_BN8PR04MB6211_--
`},
		},
		{
			name: "crisis words, redirected", client: "Luis Oyelaran", phone: "3125550144", decision: "redirected", service: "emergency-desk",
			mail: inMail{From: fromAlex, Subject: "referral", MessageID: "20261128.crisis.7781@northside-housing.example", Body: `Client name: Luis Oyelaran
Phone: +1 312 555 0144
ZIP: 60602
Needs: facing eviction next week, behind on rent since his hours were cut
Consent: yes
`},
		},
		{
			name: "outside the service area, redirected", client: "Priya Raghunathan", phone: "3125550145", decision: "redirected", service: "county-211",
			mail: inMail{From: fromMaria, Subject: "Referral for coaching", MessageID: "CAF3a91e.area@northside-housing.example", Body: `Client name: Priya Raghunathan
Phone: 3125550145
ZIP: 60699
Needs: budgeting
Consent: yes
`},
		},
		{
			name: "a minor, redirected", client: "Tyler Brandvold", phone: "3125550146", decision: "redirected", service: "youth-money",
			mail: inMail{From: fromJoy, Subject: "Youth referral", MessageID: "BN8PR04MB6212.minor@westside-workforce.example", Body: `Client name: Tyler Brandvold
Phone: 312-555-0146
ZIP: 60603
Date of birth: ` + dob16 + `
Needs: wants to open a bank account for his first paycheck
Consent: yes
`},
		},
		{
			name: "consent missing, needs-info", client: "Omar Haddadin", phone: "3125550147", decision: "needs-info",
			mail: inMail{From: fromMaria, Subject: "Referral: Omar Haddadin", MessageID: "CAF3a91e.noconsent@northside-housing.example", Body: `Client name: Omar Haddadin
Phone: 312-555-0147
ZIP: 60602
Needs: credit repair
`},
		},
		{
			name: "name and phone in the subject, accepted", client: "Keisha Abernathy", phone: "3125550148", decision: "accepted",
			mail: inMail{From: fromAlex, Subject: "Referral - Keisha Abernathy 312-555-0148", MessageID: "20261128.subject.7782@northside-housing.example", Body: `Client name: Keisha Abernathy
Phone: 312 555 0148
ZIP: 60604
Needs: paying down medical debt
Consent: yes
Case ID: NH-2304
`},
		},
	}

	e.startServe()
	for _, c := range cases {
		e.appendInbox(c.mail.bytes())
	}
	e.waitProcessed(len(cases), 0, waitIntake)
	e.waitFor(fmt.Sprintf("%d replies at the sink", len(cases)), waitIntake, func() (bool, string) {
		e.serveAlive()
		n := len(e.sink.Messages())
		return n >= len(cases), fmt.Sprintf("%d replies", n)
	})
	e.stopServe() // nothing can be in flight after this: counts are final

	inProcessed := e.messageIDs("Processed")
	refs := e.list()
	if len(refs) != len(cases) {
		e.errorf("refdesk list: %d referrals, want %d", len(refs), len(cases))
	}
	outbox := map[string]cliOut{}
	for _, o := range e.outbox() {
		outbox[o.MessageID] = o
	}
	serveLog := e.serveLog()
	all := e.replies()
	if len(all) != len(cases) {
		e.errorf("the sink received %d messages for %d referrals", len(all), len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if inProcessed[c.mail.MessageID] != 1 {
				t.Errorf("<%s> is %d times in Processed, want once", c.mail.MessageID, inProcessed[c.mail.MessageID])
			}
			var rec *cliReferral
			for i := range refs {
				if refs[i].ClientName == c.client {
					if rec != nil {
						t.Errorf("two records for the client: %s and %s", rec.ID, refs[i].ID)
					}
					rec = &refs[i]
				}
			}
			if rec == nil {
				t.Fatalf("no record for the client in `refdesk list --json`")
			}
			if rec.Decision != c.decision || rec.Status != c.decision || rec.Service != c.service {
				t.Errorf("%s: decision %q status %q service %q; want %q, %q, %q", rec.ID, rec.Decision, rec.Status, rec.Service,
					c.decision, c.decision, c.service)
			}
			rs := repliesTo(all, c.mail.MessageID)
			if len(rs) != 1 {
				t.Fatalf("%d replies to <%s>, want exactly 1", len(rs), c.mail.MessageID)
			}
			r := rs[0]
			checkReply(t, r, c.mail, c.client, c.phone)
			if !strings.Contains(r.Subject, "["+rec.ID+"]") {
				t.Errorf("reply subject %q does not carry [%s]", r.Subject, rec.ID)
			}
			if o, ok := outbox[r.MessageID]; !ok || o.Kind != c.decision || o.Status != "sent" {
				t.Errorf("refdesk outbox: reply <%s> is %+v, want kind %s, sent", r.MessageID, o, c.decision)
			}
			if ls := serveLog.find(strings.Fields(c.client)[1], c.phone); len(ls) > 0 {
				t.Errorf("the serve log shows %v", ls)
			}
		})
	}
}

// checkReply checks a reply to in about client (full name, phone as ten
// digits): to the sender, threaded, marked automatic, naming the client only
// by first name and last initial (SPEC §6), and free of the surname and the
// phone number.
func checkReply(t *testing.T, r *sentReply, in inMail, client, phone string) {
	t.Helper()
	names := strings.Fields(client)
	first, surname := names[0], names[len(names)-1]
	if short := first + " " + surname[:1] + "."; !strings.Contains(r.Plain, short) {
		// Also proves the body was decoded: the privacy checks below are
		// not passing on text they could not read.
		t.Errorf("reply <%s> does not name the client as %q:\n%s", r.MessageID, short, r.Plain)
	}
	if want := addrOf(in.From); len(r.Envelope.To) != 1 || r.Envelope.To[0] != want {
		t.Errorf("reply sent to %v, want [%s]", r.Envelope.To, want)
	}
	for _, p := range r.threadingProblems(in.MessageID) {
		t.Errorf("reply <%s>: %s", r.MessageID, p)
	}
	for _, l := range r.leaks(surname, phone) {
		t.Errorf("reply <%s> shows %s:\n%s", r.MessageID, l, r.All)
	}
}

// TestE2ENoReplyForAutomaticAndUntrusted: auto-replies, an Exchange
// out-of-office marked only with X-Auto-Response-Suppress, a bounce, an
// unknown sender and a spoofed partner get no reply; the last two wait in
// `refdesk held`. A partner's message over intake.max_message_size goes to
// Quarantine, unfetched, and the partner gets only the polite "too-large"
// reply (send the form separately). A genuine referral sent last gets its
// reply, so the sink works and the silence is refdesk's.
func TestE2ENoReplyForAutomaticAndUntrusted(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{maxSize: "256KB"})
	silent := []inMail{
		{ // RFC 3834 auto-reply
			From: fromMaria, Subject: "Out of office: Re: Referral: Dana Whitfield [R-1042]", MessageID: "vacation.20261128.4411@northside-housing.example",
			ReturnPath: "<>", Headers: []string{"Auto-Submitted: auto-replied"},
			InReplyTo: "5f1c0a9e2b7d4c3a8e6f1d2c.refdesk@eastside.example", References: []string{"5f1c0a9e2b7d4c3a8e6f1d2c.refdesk@eastside.example"},
			Body: "I am out of the office until Monday, with limited access to email.\nFor urgent housing matters please call the front desk.\n",
		},
		{ // Exchange: no Auto-Submitted, only X-Auto-Response-Suppress
			From: fromJoy, Subject: "Automatic reply: Re: client referral [R-1044]", MessageID: "6a2f0d9e1c4b4f0ab2f1c7e6d5a4b3c2@WW-EXCH01.westside-workforce.example",
			NoAuth: true, Headers: []string{"Thread-Topic: Re: client referral [R-1044]", "X-MS-Has-Attach:", "X-Auto-Response-Suppress: All",
				"X-MS-Exchange-Inbox-Rules-Loop: jokafor@westside-workforce.example"},
			ContentType: `text/plain; charset="us-ascii"` + "\nContent-Transfer-Encoding: quoted-printable",
			Body:        "I'm out of the office this week. For new referrals please contact=\nSam Carter.\n",
		},
		{ // a delivery status notification
			From: "MAILER-DAEMON@mx.eastside.example (Mail Delivery System)", Subject: "Undelivered Mail Returned to Sender",
			MessageID: "20261128152511.4Q8ZqW3Hh1z9@mx.eastside.example", ReturnPath: "<>", NoAuth: true,
			Headers:     []string{"Auto-Submitted: auto-replied"},
			ContentType: `multipart/report; report-type=delivery-status; boundary="4Q8ZqW3Hh1z9.1772465111/mx.eastside.example"`,
			Body: `This is a MIME-encapsulated message.

--4Q8ZqW3Hh1z9.1772465111/mx.eastside.example
Content-Description: Notification
Content-Type: text/plain; charset=utf-8

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<old.caseworker@northside-housing.example>: host mail.northside-housing.example said:
    550 5.1.1 User unknown

--4Q8ZqW3Hh1z9.1772465111/mx.eastside.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.eastside.example

Final-Recipient: rfc822; old.caseworker@northside-housing.example
Action: failed
Status: 5.1.1

--4Q8ZqW3Hh1z9.1772465111/mx.eastside.example
Content-Type: text/rfc822-headers

From: Eastside Financial Coaching <referrals@eastside.example>
To: old.caseworker@northside-housing.example
Subject: Re: Referral [R-1040] accepted
Message-ID: <0a1b2c3d4e5f60718293a4b5.refdesk@eastside.example>
Auto-Submitted: auto-replied

--4Q8ZqW3Hh1z9.1772465111/mx.eastside.example--
`,
		},
	}
	unknown := inMail{
		From: "Sam Carter <sam.carter@gmail.example>", Subject: "Can you help my neighbor?", MessageID: "CAJ9x0f.neighbor@mail.gmail.example",
		Body: "Hi, my neighbor needs help with her budget.\n\nName: Rosa Delacroix\nPhone: 312-555-0171\nConsent: yes\n",
	}
	spoofed := inMail{
		From: fromMaria, Subject: "Referral: Jordan Miles", MessageID: "spoofed.20261128@mail.attacker.example",
		AuthResults: []string{
			"mx.eastside.example;\n\tdkim=none (no signature);\n\tspf=fail smtp.mailfrom=maria.lopez@northside-housing.example;\n\tdmarc=fail (p=NONE) header.from=northside-housing.example",
			"mail.attacker.example; dkim=pass header.d=northside-housing.example;\n\tspf=pass smtp.mailfrom=northside-housing.example; dmarc=pass header.from=northside-housing.example",
		},
		Body: "Client name: Jordan Miles\nPhone: 312-555-0172\nConsent: yes\nNeeds: budgeting\n",
	}
	// A referral with a scanned form far over the limit: quarantined from
	// its RFC822.SIZE, never fetched.
	scan := strings.Repeat("JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\n", 6000)
	oversized := inMail{
		From: fromMaria, Subject: "Referral with scanned intake form", MessageID: "CAF3a91e.scan@northside-housing.example",
		ContentType: `multipart/mixed; boundary="scan-boundary"`,
		Body: "--scan-boundary\nContent-Type: text/plain; charset=utf-8\n\nForm attached.\nClient name: Ines Varga\nPhone: 312-555-0174\nConsent: yes\n\n" +
			"--scan-boundary\nContent-Type: application/pdf; name=\"intake-form.pdf\"\nContent-Disposition: attachment; filename=\"intake-form.pdf\"\n" +
			"Content-Transfer-Encoding: base64\n\n" + scan + "--scan-boundary--\n",
	}
	control := inMail{
		From: fromAlex, Subject: "Referral", MessageID: "20261128.control.7790@northside-housing.example",
		Body: "Client name: Nadia Kowalczyk\nPhone: 312-555-0173\nZIP: 60606\nNeeds: saving for a deposit\nConsent: yes\n",
	}

	e.startServe()
	var all []inMail
	all = append(append(all, silent...), unknown, spoofed, oversized, control)
	for _, m := range all {
		e.appendInbox(m.bytes())
	}
	e.waitProcessed(len(all)-1, 1, waitIntake)
	r := e.waitReplyTo(control.MessageID, waitIntake)
	big := e.waitReplyTo(oversized.MessageID, waitIntake)
	e.stopServe()

	if !strings.Contains(big.Plain, "larger than we can") || big.Envelope.To[0] != addrOf(oversized.From) {
		e.errorf("the reply to the oversized message is not the too-large reply to its sender: to %v\n%s", big.Envelope.To, big.Plain)
	}
	if l := big.leaks("Varga", "3125550174"); len(l) > 0 {
		e.errorf("the too-large reply leaks %q", l)
	}
	checkReply(t, r, control, "Nadia Kowalczyk", "3125550173")
	inProcessed := e.messageIDs("Processed")
	if q := e.messageIDs("Quarantine"); len(q) != 1 || q[oversized.MessageID] != 1 {
		e.errorf("Quarantine holds %v, want only <%s>", q, oversized.MessageID)
	}
	for _, m := range all {
		if m.MessageID == oversized.MessageID {
			continue
		}
		if inProcessed[m.MessageID] != 1 {
			e.errorf("<%s> (%s) is %d times in Processed, want once", m.MessageID, m.Subject, inProcessed[m.MessageID])
		}
	}
	if got := e.sink.Messages(); len(got) != 2 {
		var subjects []string
		for _, r := range e.replies() {
			subjects = append(subjects, fmt.Sprintf("%q to %v in reply to %v", r.Subject, r.Envelope.To, r.InReplyTo))
		}
		e.errorf("the sink received %d messages, want only the reply to the genuine referral and the too-large one:\n%s", len(got), strings.Join(subjects, "\n"))
	}
	if out := e.outbox(); len(out) != 2 {
		e.errorf("refdesk outbox lists %d messages, want 2 (nothing queued for automatic or untrusted mail): %+v", len(out), out)
	}

	var held []cliMessage
	e.cliJSON(&held, "held")
	if len(held) != 2 {
		e.fatalf("refdesk held --json lists %d messages, want 2 (the unknown sender and the spoofed one): %+v", len(held), held)
	}
	idRe := regexp.MustCompile(`^M-\d+$`)
	want := []struct {
		from, reason string
		m            inMail
	}{
		{"sam.carter@gmail.example", "unknown sender", unknown},
		{"maria.lopez@northside-housing.example", "dmarc=fail", spoofed},
	}
	for _, w := range want {
		i := slices.IndexFunc(held, func(h cliMessage) bool { return h.From == w.from && h.Subject == w.m.Subject })
		if i < 0 {
			e.errorf("refdesk held --json has no message from %s %q: %+v", w.from, w.m.Subject, held)
			continue
		}
		h := held[i]
		if !idRe.MatchString(h.ID) {
			e.errorf("held message id %q is not like M-12", h.ID)
		}
		if !strings.Contains(h.Reason, w.reason) {
			e.errorf("held message from %s: reason %q does not say %q", h.From, h.Reason, w.reason)
		}
		if h.Disposition != "held" {
			e.errorf("held message from %s: disposition %q", h.From, h.Disposition)
		}
	}
	var quarantined []cliMessage
	e.cliJSON(&quarantined, "held", "--quarantined")
	if len(quarantined) != 1 || !strings.Contains(quarantined[0].Reason, "too large") || quarantined[0].Folder != "Quarantine" {
		e.errorf("refdesk held --quarantined --json: %+v; want the oversized message, reason \"too large\", folder Quarantine", quarantined)
	}
	if n := len(e.list()); n != 1 {
		e.errorf("refdesk list: %d referrals, want 1 (only the genuine referral)", n)
	}
}

// TestE2EFollowUpAddsConsent: a referral without consent gets a needs-info
// reply; the caseworker answers that reply (In-Reply-To its Message-ID, as
// received) with the consent; the same record becomes accepted, with the
// follow-up in its history, and the caseworker gets an accepted reply.
func TestE2EFollowUpAddsConsent(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{})
	first := inMail{From: fromJoy, Subject: "client referral", MessageID: "BN8PR04MB7001.first@westside-workforce.example", Body: `Hello,

Referring Terrence Halvorsen from our job readiness class.

Client name: Terrence Halvorsen
Phone: (312) 555-0151
ZIP: 60602
Needs: budgeting on a new paycheck, paying off a payday loan
Case ID: WW-8120

Joy Okafor
Career Navigator | Westside Workforce Center
`}
	e.startServe()
	e.appendInbox(first.bytes())
	askReply := e.waitReplyTo(first.MessageID, waitIntake)
	checkReply(t, askReply, first, "Terrence Halvorsen", "3125550151")

	refs := e.list()
	if len(refs) != 1 || refs[0].Status != "needs-info" {
		e.fatalf("after the first message: refdesk list = %+v, want one needs-info referral", refs)
	}
	ref := refs[0].ID
	if !strings.Contains(askReply.Subject, "["+ref+"]") {
		t.Errorf("needs-info reply subject %q does not carry [%s]", askReply.Subject, ref)
	}

	answer := inMail{
		From: fromJoy, Subject: "Re: " + askReply.Subject, MessageID: "BN8PR04MB7002.answer@westside-workforce.example",
		InReplyTo: askReply.MessageID, References: []string{first.MessageID, askReply.MessageID},
		Body: "Hi,\n\nHe said yes.\n\nConsent: yes\n\nThanks,\nJoy\n\n" +
			"On " + time.Now().Format("Mon, Jan 2, 2006 at 3:04 PM") + " Eastside Financial Coaching <referrals@eastside.example> wrote:\n" +
			quoteForReply(askReply.Plain) + "\n",
	}
	e.appendInbox(answer.bytes())
	done := e.waitReplyTo(answer.MessageID, waitIntake)
	e.waitProcessed(2, 0, waitIntake)
	e.stopServe()

	checkReply(t, done, answer, "Terrence Halvorsen", "3125550151")
	if !strings.Contains(done.Subject, "["+ref+"]") {
		t.Errorf("reply to the follow-up: subject %q does not carry [%s]", done.Subject, ref)
	}
	if refs := e.list(); len(refs) != 1 {
		e.errorf("after the follow-up: refdesk list has %d referrals, want still 1: %+v", len(refs), refs)
	}
	r := e.show(ref)
	if r.Status != "accepted" || r.Decision != "accepted" {
		e.errorf("refdesk show %s: status %q decision %q, want accepted, accepted", ref, r.Status, r.Decision)
	}
	if !strings.Contains(r.ClientName, "Halvorsen") {
		e.errorf("refdesk show %s: client_name became %q", ref, r.ClientName)
	}
	followUp, toAccepted := false, false
	for _, ev := range r.Events {
		followUp = followUp || ev.Kind == "follow-up"
		toAccepted = toAccepted || ev.From == "needs-info" && ev.To == "accepted"
	}
	if !followUp || !toAccepted {
		e.errorf("refdesk show %s: events %+v; want a follow-up event and needs-info -> accepted", ref, r.Events)
	}
	kinds := map[string]string{}
	for _, o := range e.outbox() {
		kinds[o.MessageID] = o.Kind + "/" + o.Status
	}
	if kinds[askReply.MessageID] != "needs-info/sent" || kinds[done.MessageID] != "accepted/sent" {
		e.errorf("refdesk outbox: %v; want the first reply needs-info/sent and the second accepted/sent", kinds)
	}
	if n := len(e.sink.Messages()); n != 2 {
		e.errorf("the sink received %d messages, want 2", n)
	}
}

// TestE2EDuplicateClient: the same client referred again (same phone,
// written differently, by another partner) creates no record and gets a
// duplicate reply naming the open referral.
func TestE2EDuplicateClient(t *testing.T) {
	t.Parallel()
	e := newE2E(t, e2eOptions{})
	first := inMail{From: fromMaria, Subject: "Referral", MessageID: "CAF3a91e.first-dup@northside-housing.example",
		Body: "Client name: Tomasz Wierzbicki\nPhone: (312) 555-0161\nZIP: 60601\nNeeds: building credit\nConsent: yes\nCase ID: NH-2400\n"}
	again := inMail{From: fromJoy, Subject: "referral for coaching", MessageID: "BN8PR04MB7100.again@westside-workforce.example",
		Body: "Client: Tomasz Wierzbicki\nCell: 312.555.0161\nZip: 60601\nReason for referral: budgeting after a layoff\nPermission to contact: yes\nCase number: WW-9001\n"}

	e.startServe()
	e.appendInbox(first.bytes())
	r1 := e.waitReplyTo(first.MessageID, waitIntake)
	refs := e.list()
	if len(refs) != 1 || refs[0].Status != "accepted" {
		e.fatalf("after the first referral: refdesk list = %+v, want one accepted referral", refs)
	}
	ref := refs[0].ID

	e.appendInbox(again.bytes())
	r2 := e.waitReplyTo(again.MessageID, waitIntake)
	e.waitProcessed(2, 0, waitIntake)
	e.stopServe()

	checkReply(t, r1, first, "Tomasz Wierzbicki", "3125550161")
	checkReply(t, r2, again, "Tomasz Wierzbicki", "3125550161")
	if !strings.Contains(r2.Subject, ref) && !strings.Contains(r2.Plain, ref) {
		t.Errorf("duplicate reply names no %s; subject %q, body:\n%s", ref, r2.Subject, r2.Plain)
	}
	if named := refRe.FindAllString(r2.Subject+" "+r2.Plain, -1); slices.ContainsFunc(named, func(s string) bool { return s != ref }) {
		t.Errorf("duplicate reply names other references %v, want only %s", named, ref)
	}
	if refs := e.list(); len(refs) != 1 {
		e.errorf("after the duplicate: refdesk list has %d referrals, want still 1: %+v", len(refs), refs)
	}
	for _, o := range e.outbox() {
		if o.MessageID == r2.MessageID && (o.Kind != "duplicate" || o.Status != "sent") {
			e.errorf("refdesk outbox: the second reply is %s/%s, want duplicate/sent", o.Kind, o.Status)
		}
	}
	if n := len(e.sink.Messages()); n != 2 {
		e.errorf("the sink received %d messages, want 2", n)
	}
}
