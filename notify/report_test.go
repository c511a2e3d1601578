package notify_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/store"
)

// world is a real store with a clock the test moves, and the demo config
// (America/Chicago; partners northside-housing and westside-workforce).
type world struct {
	t   *testing.T
	cfg *configs.Config
	st  *store.Store
	now time.Time
	uid uint32
}

func newWorld(t *testing.T, start time.Time) *world {
	t.Helper()
	return newWorldAt(t, filepath.Join(t.TempDir(), "refdesk.db"), start)
}

func newWorldAt(t *testing.T, path string, start time.Time) *world {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, cfg: demoConfig(t), st: st, now: start}
	st.Now = func() time.Time { return w.now }
	return w
}

// chicago is a wall-clock time in the demo config's zone.
func chicago(y int, m time.Month, d, h, min int) time.Time {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		panic(err)
	}
	return time.Date(y, m, d, h, min, 0, 0, loc)
}

type person struct {
	name, phone, caseID string
	share               bool
}

// refer takes in a referral of p from partner at w.now with decision, and
// answers it a minute later.
func (w *world) refer(partner string, p person, decision string, mod func(*store.Referral)) *store.Referral {
	w.t.Helper()
	w.uid++
	r := &store.Referral{PartnerID: partner, Decision: decision, Status: decision, ClientName: p.name,
		NameKey: strings.ToLower(p.name), ClientPhone: p.phone, PartnerCaseID: p.caseID, ShareOutcomes: p.share,
		ReceivedAt: w.now, Fields: store.Map{"client_name": p.name, "client_phone": p.phone, "partner_case_id": p.caseID}}
	if mod != nil {
		mod(r)
	}
	ctx := context.Background()
	var out *store.OutMsg
	err := w.st.InTx(ctx, func(tx *store.Tx) error {
		m := &store.Message{Mailbox: "INBOX", UIDValidity: 1, UID: w.uid, SHA256: "sum" + p.phone + r.PartnerCaseID,
			ReceivedAt: w.now, ProcessedAt: w.now, Disposition: store.DispReferral, FromAddr: "cw@" + partner + ".example"}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		r.MessageID = m.ID
		if err := tx.CreateReferral(r, &m.ID, ""); err != nil {
			return err
		}
		out = &store.OutMsg{Kind: decision, MessageID: store.NewMessageID("eastside.example"), To: m.FromAddr, InboundID: &m.ID, ReferralID: &r.ID}
		_, err := tx.Enqueue(out)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	saved := w.now
	w.now = w.now.Add(time.Minute)
	if err := w.st.MarkSent(ctx, out.ID); err != nil {
		w.t.Fatal(err)
	}
	w.now = saved
	return r
}

func (w *world) move(r *store.Referral, to ...string) {
	w.t.Helper()
	for _, s := range to {
		if _, err := w.st.UpdateStatus(context.Background(), r.ID, store.Change{To: s, By: "coach", Reason: "because"}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) outcome(r *store.Referral, kind string, cents int64) {
	w.t.Helper()
	o := &store.Outcome{ReferralID: r.ID, Kind: kind, Date: w.now.In(w.cfg.Location).Format(time.DateOnly), By: "coach"}
	if cents > 0 {
		o.AmountCents = &cents
	}
	if err := w.st.AddOutcome(context.Background(), o, false); err != nil {
		w.t.Fatal(err)
	}
}

var (
	dana  = person{"Dana Whitfield", "5550142000", "NHA-2291", true}
	rosa  = person{"Rosa Diaz", "5550149090", "NHA-3310", false}
	luis  = person{"Luis Ortega", "5550137788", "NHA-4410", false}
	terry = person{"Terrence Hall", "5550161234", "", true}
	west  = person{"Kim Park", "5550170000", "WW-77", true}
)

// october is a month of northside-housing referrals: Dana (shares) is
// accepted, enrolled and saves $200; Rosa (does not share) is accepted and
// enrolled; Luis (does not share) is redirected as in crisis; Terry (shares)
// lacks consent; Rosa's other referral was entered in error.
func october(t *testing.T) (*world, map[string]*store.Referral) {
	w := newWorld(t, chicago(2026, 10, 5, 10, 0))
	rs := map[string]*store.Referral{}
	rs["dana"] = w.refer("northside-housing", dana, "accepted", nil)
	rs["rosa"] = w.refer("northside-housing", rosa, "accepted", nil)
	rs["luis"] = w.refer("northside-housing", luis, "redirected", func(r *store.Referral) {
		r.ServiceID, r.RuleID, r.Reason = "emergency-desk", "crisis-words", w.cfg.Rules[0].Reason
	})
	rs["terry"] = w.refer("northside-housing", terry, "needs-info", func(r *store.Referral) { r.Missing = store.List{"consent"} })
	rs["error"] = w.refer("northside-housing", person{"Rosa Diaz", "5550149091", "NHA-9999", true}, "accepted", nil)
	rs["west"] = w.refer("westside-workforce", west, "accepted", nil)
	w.now = chicago(2026, 10, 6, 9, 0)
	w.st.AddNote(context.Background(), rs["dana"].ID, "called", "coach", true)
	w.now = chicago(2026, 10, 8, 9, 0)
	w.st.AddNote(context.Background(), rs["rosa"].ID, "called", "coach", true)
	w.move(rs["dana"], "scheduled", "enrolled")
	w.move(rs["rosa"], "scheduled", "enrolled")
	w.move(rs["error"], "entered-in-error")
	w.now = chicago(2026, 10, 20, 9, 0)
	w.outcome(rs["dana"], store.OutcomeSavingsIncreased, 20000)
	w.outcome(rs["rosa"], store.OutcomeBudgetCreated, 0)
	// Late on Halloween, program time: still October (UTC says November).
	w.now = chicago(2026, 10, 31, 23, 30)
	rs["late"] = w.refer("northside-housing", person{"Ana Ruiz", "5550188888", "NHA-5000", true}, "accepted", nil)
	return w, rs
}

func TestReportContentAndPrivacy(t *testing.T) {
	w, _ := october(t)
	ctx := context.Background()
	p := w.cfg.Partner("northside-housing")
	now := chicago(2026, 11, 1, 7, 0)
	rep, err := notify.BuildReport(ctx, w.cfg, w.st, p, chicago(2026, 10, 1, 0, 0), now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Received != 5 || rep.Eligible != 3 || rep.EligiblePct != 60 || rep.Partial {
		t.Errorf("received %d, eligible %d (%d%%), partial %v; want 5, 3 (60%%), false", rep.Received, rep.Eligible, rep.EligiblePct, rep.Partial)
	}
	if len(rep.Redirects) != 1 || rep.Redirects[0].Service != "Emergency Assistance Desk, 2nd floor" || !strings.Contains(rep.Redirects[0].Reason, "crisis") {
		t.Errorf("redirects = %+v", rep.Redirects)
	}
	if rep.ReplyTime != "1 minute" || rep.ReplyN != 5 || rep.ContactN != 2 {
		t.Errorf("responsiveness: reply %q of %d, contact %q of %d", rep.ReplyTime, rep.ReplyN, rep.ContactTime, rep.ContactN)
	}
	if rep.YTD == nil || rep.YTD.Funnel.Received != 5 || rep.YTD.Since != "2026-07-01" || rep.YTD.Through != "2026-10-31" {
		t.Errorf("ytd = %+v", rep.YTD)
	}
	if len(rep.Lines) != 3 || rep.Unlisted != 2 {
		t.Fatalf("lines %+v, unlisted %d; want Dana, Terry and Ana listed, Rosa and Luis counted", rep.Lines, rep.Unlisted)
	}
	if l := rep.Lines[0]; l.CaseID != "NHA-2291" || l.Initials != "D.W." || l.Status != "enrolled" || l.Outcomes != "savings-increased" {
		t.Errorf("Dana's line = %+v", l)
	}
	r := newRenderer(t, w.cfg)
	o, err := notify.QueueReport(ctx, w.cfg, w.st, p, chicago(2026, 10, 1, 0, 0), now, false)
	if err != nil || !o.Added {
		t.Fatalf("queue: %+v, %v", o, err)
	}
	got, err := r.Render(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("%d attachments", len(got.Attachments))
	}
	rows, err := csv.NewReader(bytes.NewReader(got.Attachments[0].Data)).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][0] != "NHA-2291" {
		t.Errorf("CSV = %q, %v", rows, err)
	}
	all := strings.Join([]string{got.Subject, got.Text, got.HTML, string(got.Attachments[0].Data), string(o.Out.Data)}, "\n")
	for _, leak := range []string{"Whitfield", "Dana", "Rosa", "Diaz", "R.D.", "NHA-3310", "Luis", "Ortega", "L.O.", "NHA-4410", "NHA-9999", "5550142000", "Kim", "WW-77"} {
		if strings.Contains(all, leak) {
			t.Errorf("the report shows %q", leak)
		}
	}
	for _, want := range []string{"NHA-2291", "D.W.", "T.H.", "NHA-5000", "October 2026", "Client name", "Consent", "County Financial Empowerment FY27"} {
		if !strings.Contains(got.Text, want) || !strings.Contains(got.HTML, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Logf("subject: %s\n%s", got.Subject, got.Text)
	}
}

func TestComposeReportHasCSVAndIsAutoGenerated(t *testing.T) {
	w, _ := october(t)
	ctx := context.Background()
	p := *w.cfg.Partner("northside-housing")
	p.ReportTo = []string{"referrals@northside-housing.example", `"Lopez, Maria" <director@northside-housing.example>`}
	res, err := notify.QueueReport(ctx, w.cfg, w.st, &p, chicago(2026, 10, 1, 0, 0), chicago(2026, 11, 1, 7, 0), false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newRenderer(t, w.cfg).Compose(res.Out)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	mr, err := mail.CreateReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := mr.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q, want auto-generated (RFC 3834 §5: not a reply)", got)
	}
	if mr.Header.Get("In-Reply-To") != "" {
		t.Errorf("a report threads into something")
	}
	to, err := mr.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Address != "director@northside-housing.example" {
		t.Errorf("To = %v, %v; want both report contacts on one message", to, err)
	}
	var kinds []string
	var csvBody string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part.Body)
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			kinds = append(kinds, ct)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			ct, _, _ := h.ContentType()
			kinds = append(kinds, ct+" "+name)
			csvBody = string(b)
		}
	}
	want := "text/plain text/html text/csv referrals-northside-housing-2026-10.csv"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("parts = %s, want %s", got, want)
	}
	if !strings.HasPrefix(csvBody, strings.Join(notify.ReportCSVColumns, ",")+"\r\n") || !strings.Contains(csvBody, "NHA-2291,D.W.,2026-10-05") {
		t.Errorf("CSV:\n%s", csvBody)
	}
}

func TestCSVCellsCannotBeFormulas(t *testing.T) {
	got := notify.CSVRow("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "NHA-1", "")
	want := []string{"'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "NHA-1", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d = %q, want %q", i, got[i], want[i])
		}
	}
}
