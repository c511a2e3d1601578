package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// intake processes raw messages one after another as intake does, each in
// its own transaction, and returns what became of each.
type intake struct {
	t    *testing.T
	cfg  *configs.Config
	st   *store.Store
	proc *Processor
	uid  uint32
}

func newIntake(t *testing.T, mod func(*configs.Config)) *intake {
	cfg := testConfig(t, "127.0.0.1:1")
	if mod != nil {
		mod(cfg)
	}
	return &intake{t: t, cfg: cfg, st: openStore(t, cfg), proc: NewProcessor(cfg)}
}

func (in *intake) take(raw []byte) Processed {
	in.t.Helper()
	in.uid++
	var p Processed
	err := in.st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		p, err = in.proc.Process(tx, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: in.uid, Raw: raw, Size: int64(len(raw)), Received: time.Now()})
		return err
	})
	if err != nil {
		in.t.Fatal(err)
	}
	return p
}

// lastReply returns the newest outbox row.
func (in *intake) lastReply() store.OutMsg {
	in.t.Helper()
	rows, err := in.st.Outbox(context.Background(), "", 1)
	if err != nil || len(rows) == 0 {
		in.t.Fatalf("no reply queued (%v)", err)
	}
	return rows[0]
}

func (in *intake) count(q string) int { return countRows(in.t, in.st, q) }

func TestTriageDecisions(t *testing.T) {
	const partner = "Maria Lopez <maria.lopez@northside-housing.example>"
	cases := []struct {
		name, from, body string
		headers          []string
		disposition      string
		decision         string // for a single referral
		rule             string
		reply            string
	}{
		{"complete referral", partner, goodRef, nil, store.DispReferral, Accepted, "", "accepted"},
		{"crisis keyword", partner, "Name: Luis Ortega\nPhone: 555-013-7788\nNeeds: got a utility shut-off notice\nConsent: yes\n", nil,
			store.DispReferral, Redirected, "crisis-words", "redirected"},
		{"keyword inside another word does not fire", partner, "Name: Luis Ortega\nPhone: 555-013-7788\nZIP: 60601\nNeeds: no foodstuffs budget\nConsent: yes\n", nil,
			store.DispReferral, Accepted, "", "accepted"},
		{"crisis screen yes", partner, "Name: Luis Ortega\nPhone: 555-013-7788\nIn crisis: Yes\nConsent: yes\n", nil,
			store.DispReferral, Redirected, "crisis-screen", "redirected"},
		{"out of area", partner, "Name: Priya Raman\nEmail: priya@example.org\nZIP: 60999\nConsent: yes\n", nil,
			store.DispReferral, Redirected, "out-of-area", "redirected"},
		{"no zip is not out of area", partner, "Name: Priya Raman\nEmail: priya@example.org\nConsent: yes\n", nil,
			store.DispReferral, Accepted, "", "accepted"},
		{"minor by date of birth", partner, "Name: Kayla Brooks\nPhone: 555-017-0001\nDOB: 03/02/2011\nConsent: yes\n", nil,
			store.DispReferral, Redirected, "minor", "redirected"},
		{"waitlist by language", partner, "Name: Rosa Diaz\nPhone: 555-014-9090\nPreferred language: Spanish\nConsent: yes\n", nil,
			store.DispReferral, Waitlisted, "spanish-waitlist", "waitlisted"},
		{"missing consent", partner, "Name: Terrence Hall\nPhone: 555-013-4455\n", nil,
			store.DispReferral, NeedsInfo, "", "needs-info"},
		{"consent no", partner, "Name: Terrence Hall\nPhone: 555-013-4455\nConsent: no\n", nil,
			store.DispReferral, NeedsInfo, "", "needs-info"},
		{"nothing like a referral", partner, "Hi, do you take walk-ins on Fridays?\n", nil,
			store.DispReferral, NeedsInfo, "", "needs-info"},
		{"auto-reply", partner, "Out of office.", []string{"Auto-Submitted: auto-replied"}, store.DispIgnored, "", "", ""},
		{"unknown sender", "Sam <sam@gmail.example>", goodRef, nil, store.DispHeld, "", "", ""},
		{"spoofed partner", partner, goodRef, []string{
			"Authentication-Results: mx.eastside.example; spf=fail smtp.mailfrom=northside-housing.example; dmarc=fail header.from=northside-housing.example",
			"Authentication-Results: relay.attacker.example; dmarc=pass header.from=northside-housing.example"},
			store.DispHeld, "", "", ""},
		{"untrusted dmarc=fail is not believed", partner, goodRef, []string{
			"Authentication-Results: relay.other.example; dmarc=fail header.from=northside-housing.example"},
			store.DispReferral, Accepted, "", "accepted"},
		{"no-reply sender gets no reply", "Forms <noreply-forms@northside-housing.example>", goodRef, nil,
			store.DispReferral, Accepted, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t, nil)
			p := in.take(referral(c.from, "Referral", c.body, c.headers...))
			if p.Disposition != c.disposition {
				t.Fatalf("disposition = %s (%s), want %s", p.Disposition, p.Reason, c.disposition)
			}
			if p.Reply != c.reply {
				t.Errorf("reply = %q, want %q", p.Reply, c.reply)
			}
			if c.decision == "" {
				if n := in.count("SELECT count(*) FROM referrals"); n != 0 {
					t.Errorf("%d referrals created, want none", n)
				}
				return
			}
			rs, err := in.st.Referrals(context.Background(), store.Filter{})
			if err != nil || len(rs) != 1 {
				t.Fatalf("referrals = %d (%v), want 1", len(rs), err)
			}
			if rs[0].Decision != c.decision || rs[0].Status != c.decision || rs[0].RuleID != c.rule {
				t.Errorf("referral decision/status/rule = %s/%s/%s, want %s/%s/%s", rs[0].Decision, rs[0].Status, rs[0].RuleID, c.decision, c.decision, c.rule)
			}
		})
	}
}

func TestNeedsInfoListsExactlyWhatIsMissing(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral", "Name: Terrence Hall\nZIP: 60603\n"))
	var data store.Reply
	if err := json.Unmarshal(in.lastReply().Data, &data); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(data.Items[0].Missing, ","); got != "contact,consent" {
		t.Errorf("missing = %s, want contact,consent", got)
	}
	if in.lastReply().Kind != "needs-info" {
		t.Errorf("kind = %s", in.lastReply().Kind)
	}
}

func TestFollowUpCompletesANeedsInfoReferral(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral", "Name: Terrence Hall\nZIP: 60603\n"))
	ask := in.lastReply()
	p := in.take(referral(maria, "Re: Referral", "Consent: yes\nPhone: 555-013-4455\n\nThanks!\n\nOn Mon, Eastside wrote:\n> Name: Someone Else\n",
		"In-Reply-To: <"+ask.MessageID+">", "References: <"+ask.MessageID+">"))
	if p.Disposition != store.DispFollowUp || p.Reply != "accepted" {
		t.Fatalf("follow-up: %+v", p)
	}
	rs, _ := in.st.Referrals(context.Background(), store.Filter{})
	if len(rs) != 1 || rs[0].Status != store.StatusAccepted || rs[0].ClientPhone != "5550134455" || rs[0].ClientName != "Terrence Hall" {
		t.Fatalf("after the follow-up: %d referrals, first %+v", len(rs), rs[0])
	}
	ev, _ := in.st.Events(context.Background(), rs[0].ID)
	kinds := []string{}
	for _, e := range ev {
		kinds = append(kinds, e.Kind+":"+e.FromStatus+">"+e.ToStatus)
	}
	if got := strings.Join(kinds, " "); got != "created:>needs-info follow-up:> status:needs-info>accepted" {
		t.Errorf("events = %s", got)
	}
	// Reports take the first times of the status a referral was created
	// in from its row (migration 6): the created event's.
	if len(ev) == 0 || !ev[0].At.Equal(rs[0].CreatedAt) || rs[0].CreatedStatus != store.StatusNeedsInfo {
		t.Errorf("created as %q at %v, its created event at %v", rs[0].CreatedStatus, rs[0].CreatedAt, ev)
	}
	if reply := in.lastReply(); reply.InReplyTo == "" || !strings.Contains(reply.References, ask.MessageID) {
		t.Errorf("the answer to a follow-up is not threaded: %+v", reply)
	}
}

func TestFollowUpBySubjectReference(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral", "Name: Terrence Hall\nZIP: 60603\n"))
	// Another partner naming the reference is not a follow-up.
	p := in.take(referral("James <james@westside-workforce.example>", "About [R-1001]", "Consent: yes\nPhone: 555-013-4455\n"))
	if p.Disposition == store.DispFollowUp {
		t.Fatalf("another partner's mail was merged into R-1001")
	}
	p = in.take(referral("Ana <ana@northside-housing.example>", "Re: your note [R-1001]", "Consent: yes\nPhone: 555-013-4455\n"))
	if p.Disposition != store.DispFollowUp || len(p.Refs) != 1 || p.Refs[0] != "R-1001" {
		t.Fatalf("same partner with [R-1001]: %+v", p)
	}
}

func TestFollowUpWithANewClientIsANewReferral(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral", goodRef))
	first := in.lastReply()
	p := in.take(referral(maria, "Re: Referral", "Another one for you:\n\nClient name: Ruth Park\nPhone: 555-016-1234\nConsent: yes\n",
		"In-Reply-To: <"+first.MessageID+">"))
	if p.Disposition != store.DispReferral || p.Refs[0] == "R-1001" {
		t.Fatalf("a new client in a reply was merged: %+v", p)
	}
	if n := in.count("SELECT count(*) FROM referrals"); n != 2 {
		t.Errorf("%d referrals, want 2", n)
	}
}

func TestDuplicates(t *testing.T) {
	cases := []struct{ name, again string }{
		{"same phone", "Client name: D. Whitfield\nPhone: (555) 014-2000\nConsent: yes\n"},
		{"same email", "Client name: Dana W\nEmail: DANA@example.org\nConsent: yes\n"},
		{"same name and date of birth", "Client name: dana  whitfield\nEmail: other@example.org\nDOB: 1980-02-03\nConsent: yes\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t, nil)
			in.take(referral(maria, "Referral", goodRef+"Email: dana@example.org\nDOB: 02/03/1980\n"))
			p := in.take(referral("Ana <ana@northside-housing.example>", "Referral", c.again))
			if len(p.Decisions) != 1 || p.Decisions[0] != Duplicate || p.Refs[0] != "R-1001" || p.Reply != "duplicate" {
				t.Fatalf("second referral: %+v", p)
			}
			if n := in.count("SELECT count(*) FROM referrals"); n != 1 {
				t.Errorf("%d referrals, want 1", n)
			}
		})
	}
	t.Run("a closed referral is not a duplicate", func(t *testing.T) {
		in := newIntake(t, nil)
		in.take(referral(maria, "Referral", "Name: Luis Ortega\nPhone: 555-013-7788\nNeeds: eviction\nConsent: yes\n"))
		p := in.take(referral(maria, "Referral", "Name: Luis Ortega\nPhone: 555-013-7788\nZIP: 60601\nNeeds: budgeting\nConsent: yes\n"))
		if p.Decisions[0] != Accepted {
			t.Fatalf("after a redirect, the client referred again: %+v", p)
		}
	})
}

func TestCapacityWaitlists(t *testing.T) {
	in := newIntake(t, func(c *configs.Config) { c.Program.Capacity = 2 })
	for i := 0; i < 3; i++ {
		p := in.take(referral(maria, "Referral", fmt.Sprintf("Name: Client %c\nPhone: 555-010-000%d\nConsent: yes\n", 'A'+i, i)))
		want := Accepted
		if i == 2 {
			want = Waitlisted
		}
		if p.Decisions[0] != want {
			t.Errorf("referral %d: %s, want %s", i+1, p.Decisions[0], want)
		}
	}
}

func TestReplyCapHoldsPastTheLimit(t *testing.T) {
	in := newIntake(t, nil) // replies_per_sender_per_hour = 5
	var held int
	for i := 0; i < 8; i++ {
		p := in.take(referral(maria, "Referral", fmt.Sprintf("Name: Client %d\nPhone: 555-011-%04d\nConsent: yes\n", i, i)))
		if p.Disposition == store.DispHeld {
			held++
			if !strings.Contains(p.Reason, "reply cap") {
				t.Errorf("held for %q", p.Reason)
			}
		}
	}
	if held != 3 {
		t.Errorf("%d held, want 3", held)
	}
	if n := in.count("SELECT count(*) FROM outbox"); n != 5 {
		t.Errorf("%d replies queued, want 5", n)
	}
}

func TestUnknownSenderPolicies(t *testing.T) {
	for policy, want := range map[string]struct{ disp, reply string }{
		"hold": {store.DispHeld, ""}, "reply": {store.DispHeld, "unknown-sender"}, "ignore": {store.DispIgnored, ""},
	} {
		t.Run(policy, func(t *testing.T) {
			in := newIntake(t, func(c *configs.Config) { c.Intake.UnknownSenders = policy })
			p := in.take(referral("Sam <sam@gmail.example>", "Referral", goodRef))
			if p.Disposition != want.disp || p.Reply != want.reply {
				t.Errorf("got %s/%q, want %s/%q", p.Disposition, p.Reply, want.disp, want.reply)
			}
		})
	}
}

func TestReleaseAHeldMessage(t *testing.T) {
	in := newIntake(t, nil)
	p := in.take(referral("Sam <sam@gmail.example>", "Referral", goodRef))
	ctx := context.Background()
	if _, err := in.proc.Release(ctx, in.st, p.ID, Options{SkipAuth: true}, "coach"); err == nil || !strings.Contains(err.Error(), "unknown sender") {
		t.Fatalf("release without a partner: %v", err)
	}
	res, err := in.proc.Release(ctx, in.st, p.ID, Options{SkipAuth: true, Partner: in.cfg.Partner("northside-housing")}, "coach")
	if err != nil || res.Disposition != store.DispReferral || res.Reply != "accepted" {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if held, _ := in.st.Unresolved(ctx, store.DispHeld); len(held) != 0 {
		t.Errorf("still held: %d", len(held))
	}
	if _, err := in.proc.Release(ctx, in.st, p.ID, Options{}, "coach"); err == nil {
		t.Errorf("a message was released twice")
	}
}

func TestBounceOfOurReplyMarksItBounced(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral", goodRef))
	reply := in.lastReply()
	bounce := fmt.Sprintf("From: Mail Delivery System <MAILER-DAEMON@mx.northside-housing.example>\r\nTo: referrals@eastside.example\r\n"+
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.example>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver.\r\n"+
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; maria.lopez@northside-housing.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"+
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <%s>\r\nSubject: Re: Referral\r\n\r\n--b--\r\n", reply.MessageID)
	p := in.take([]byte(bounce))
	if p.Disposition != store.DispIgnored {
		t.Fatalf("bounce: %+v", p)
	}
	if got, _ := in.st.OutMsg(context.Background(), reply.ID); got.Status != store.OutBounced {
		t.Errorf("our reply is %s after its bounce, want bounced", got.Status)
	}
}

func TestRepliesKeepPersonalDataOut(t *testing.T) {
	in := newIntake(t, nil)
	in.take(referral(maria, "Referral for Dana Whitfield 555-014-2000", goodRef+"Case ID: NHA-2291\nDOB: 1980-02-03\nNotes: lives with her sister\n"))
	o := in.lastReply()
	for _, bad := range []string{"Whitfield", "5550142000", "555-014-2000", "1980", "sister"} {
		if strings.Contains(string(o.Data), bad) || strings.Contains(o.Subject, bad) {
			t.Errorf("reply data or subject carries %q: %s / %s", bad, o.Subject, o.Data)
		}
	}
	if !strings.Contains(string(o.Data), "Dana W.") || !strings.Contains(string(o.Data), "NHA-2291") {
		t.Errorf("reply lacks the initials or case ID: %s", o.Data)
	}
}

func TestScrubSubject(t *testing.T) {
	rs := []Result{{Candidate: candidate("Dana Whitfield")}}
	cases := map[string]string{
		"New referral":                   "New referral",
		"RE: Fwd: New referral [R-1001]": "New referral",
		"Referral: Dana":                 "Referral: Dana",
		"Referral: Dana Whitfield":       "Referral",
		"Referral Whitfield, D.":         "Referral",
		"call 555-014-2000":              "Referral",
		"from dana@example.org":          "Referral",
		"":                               "Referral",
	}
	for in, want := range cases {
		if got := ScrubSubject(in, rs); got != want {
			t.Errorf("ScrubSubject(%q) = %q, want %q", in, got, want)
		}
	}
	// No client name to check against (unknown sender, too large, a
	// needs-info without the name): the subject is never echoed.
	for _, rs := range [][]Result{nil, {{Candidate: candidate("")}}, {{Candidate: candidate("Luis Ortega")}, {Candidate: candidate("")}}} {
		if got := ScrubSubject("Referral for Dana Whitfield", rs); got != "Referral" {
			t.Errorf("ScrubSubject with no client name = %q, want Referral", got)
		}
	}
}

func candidate(name string) parse.Candidate {
	return parse.Candidate{Source: "body", Fields: map[string]string{"client_name": name}}
}

// FuzzKeywords holds the byte scan for ASCII text to the regexp it stands
// for.
func FuzzKeywords(f *testing.F) {
	for _, s := range []string{"facing eviction next week", "EVICTION", "no  food", "no\tfood!", "no\vfood", "shut-off",
		"shut-offs", "xeviction", "eviction2", "1no food", "no food_", "Shut-Off notice", "ſhut-off", "no fooD", ""} {
		f.Add(s, "eviction,shut-off,no food, two  words ")
	}
	f.Fuzz(func(t *testing.T, s, list string) {
		if !utf8.ValidString(list) {
			return // config keywords are text
		}
		kws := strings.Split(list, ",")
		k := newKeywords(kws)
		if got, want := k.MatchString(s), k.re.MatchString(s); got != want {
			t.Errorf("keywords %q in %q: %v, regexp %v", kws, s, got, want)
		}
	})
}
