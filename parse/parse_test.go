package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseTestdata(t *testing.T, name string) *Message {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(bytes.NewReader(raw), Options{})
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

func body(t *testing.T, m *Message) Candidate {
	t.Helper()
	for _, c := range m.Candidates {
		if c.Source == "body" {
			return c
		}
	}
	t.Fatalf("no body candidate; problems: %v", m.Problems)
	return Candidate{}
}

// TestGolden parses every referral in testdata and checks the fields a coach
// would look at.
func TestGolden(t *testing.T) {
	tests := []struct {
		file   string
		fields map[string]string // expected values (a subset)
		absent []string          // fields that must not be set
		extra  map[string]string
	}{
		{file: "plain-accepted.eml", fields: map[string]string{
			"client_name": "Dana Whitfield", "client_phone": "5550142", "client_email": "dana.whitfield@example.com",
			"client_zip": "60601", "date_of_birth": "1988-03-14", "language": "English",
			"needs": "wants help with a budget and building credit", "crisis": "no", "consent": "yes",
			"share_outcomes": "yes", "partner_case_id": "NH-2291", "best_time": "weekday mornings",
		}, absent: []string{"referrer_phone"}},
		{file: "outlook-table.eml", fields: map[string]string{
			"client_name": "Luis Ortega", "client_phone": "5550143", "client_email": "luis.ortega@example.com",
			"client_zip": "60602", "date_of_birth": "1979-07-04", "language": "Spanish",
			"needs": "Credit report review and a plan for his medical debt", "consent": "yes", "partner_case_id": "NH-2302",
		}, absent: []string{"referrer_phone"}},
		{file: "gmail-html.eml", fields: map[string]string{
			"client_name": "Aisha Bello", "client_phone": "5550144", "date_of_birth": "1990-11-02",
			"client_zip": "60601", "needs": "make a savings plan and open a checking account", "consent": "yes",
		}},
		{file: "apple-html.eml", fields: map[string]string{
			"client_name": "Tom Nguyen", "client_phone": "5550145", "client_email": "tom.nguyen@example.com",
			"client_zip": "60603", "age": "42", "needs": "wants to pay down two credit cards & fix his credit score",
			"consent": "yes",
		}},
		{file: "bullets-bold.eml", fields: map[string]string{
			"client_name": "Dana Whitfield", "client_phone": "5550142000", "client_email": "dana.whitfield@example.com",
			"client_zip": "60601", "date_of_birth": "1988-03-14", "partner_case_id": "NH-2291", "consent": "yes",
			"share_outcomes": "no",
		}, extra: map[string]string{"Housing status": "renting, lease ends in June"}},
		{file: "multiline.eml", fields: map[string]string{
			"client_name": "Rosa Delgado", "client_phone": "5550146",
			"needs":     "help with a budget after a job loss; she also wants to start saving for a deposit",
			"notes":     "Prefers text messages. Works evenings, so call before noon.",
			"best_time": "mornings before 11", "consent": "yes",
		}},
		{file: "latin1.eml", fields: map[string]string{
			"client_name": "José Peña", "client_phone": "5550148", "language": "Español",
			"needs": "presupuesto familiar (family budget) – help with a pay-day loan", "consent": "yes",
		}},
		{file: "quoted-thread.eml", fields: map[string]string{
			"client_name": "Marcus Reed", "client_phone": "5550147", "client_zip": "60602", "consent": "yes",
		}},
		{file: "signature.eml", fields: map[string]string{
			"client_name": "Priya Shah", "client_phone": "5550141", "client_email": "priya.shah@example.com", "consent": "yes",
		}, absent: []string{"referrer_phone", "referrer_name"}},
		{file: "spoofed.eml", fields: map[string]string{"client_name": "Jordan Miles", "client_phone": "5550150"}},
		{file: "crisis.eml", fields: map[string]string{
			"client_name": "Keisha Brown", "crisis": "yes", "partner_case_id": "NH-2315",
			"needs": "She received an eviction notice on Friday and her electric service has a shut-off date of March 6. She also wants budgeting help once things are stable.",
		}},
		{file: "out-of-area.eml", fields: map[string]string{"client_name": "Ben Okafor", "client_zip": "60999"},
			extra: map[string]string{"Address": "4410 Prairie Rd, Westfield, IL 60999"}},
		{file: "minor.eml", fields: map[string]string{"client_name": "Ava Lindqvist", "date_of_birth": "2009-08-15", "consent": "yes"}},
		{file: "missing-consent.eml", fields: map[string]string{"client_name": "Omar Haddad", "client_phone": "5550154"},
			absent: []string{"consent"}},
		{file: "missing-contact.eml", fields: map[string]string{"client_name": "Grace Kim", "consent": "yes"},
			absent: []string{"client_phone", "client_email"}},
		{file: "forwarded.eml", fields: map[string]string{
			"client_name": "Nadia Petrov", "client_phone": "5550155", "language": "Russian", "consent": "yes",
		}},
		{file: "web-form.eml", fields: map[string]string{
			"client_name": "Samuel Ortiz", "client_phone": "5550142021", "client_email": "sam.ortiz@example.com",
			"date_of_birth": "1971-10-30", "client_zip": "60603", "consent": "yes", "share_outcomes": "no",
			"partner_case_id": "NH-2320", "referrer_name": "Maria Lopez", "referrer_phone": "5550100",
		}, extra: map[string]string{"Referrer email": "maria.lopez@northside-housing.example"}},
		{file: "ssn.eml", fields: map[string]string{
			"client_name": "Carla Jimenez", "client_phone": "5550149", "date_of_birth": "1975-05-22",
			"notes": "her social is [removed] in case you need it for the credit pull",
		}, extra: map[string]string{"SSN": removed, "Bank account number": removed}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := parseTestdata(t, tt.file)
			if m.Auto != "" {
				t.Errorf("Auto = %q, want a person's mail", m.Auto)
			}
			if len(m.Candidates) != 1 {
				t.Fatalf("%d candidates, want 1", len(m.Candidates))
			}
			c := body(t, m)
			for k, want := range tt.fields {
				if got := c.Fields[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := c.Fields[k]; ok {
					t.Errorf("%s = %q, want it unset", k, v)
				}
			}
			for k, want := range tt.extra {
				if got := c.Extra[k]; got != want {
					t.Errorf("extra %q = %q, want %q", k, got, want)
				}
			}
			for k := range c.Fields {
				if !isField(k) {
					t.Errorf("field %q is not canonical", k)
				}
			}
		})
	}
}

// TestNotReferrals covers mail that a machine wrote: it is recognised, and a
// bounce names the message it is about.
func TestNotReferrals(t *testing.T) {
	tests := []struct {
		file    string
		auto    string // expected in Auto
		bounce  bool
		bounced string
	}{
		{file: "autoreply.eml", auto: "Auto-Submitted: auto-replied"},
		{file: "exchange-oof.eml", auto: "X-Auto-Response-Suppress"},
		{file: "bounce-dsn.eml", auto: "auto-replied", bounce: true, bounced: "20260302151500.R-1042.accepted@eastside.example"},
		{file: "list.eml", auto: "List-Id"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := parseTestdata(t, tt.file)
			if !strings.Contains(m.Auto, tt.auto) {
				t.Errorf("Auto = %q, want it to name %q", m.Auto, tt.auto)
			}
			if m.Bounce != tt.bounce {
				t.Errorf("Bounce = %v, want %v", m.Bounce, tt.bounce)
			}
			if tt.bounced != "" && !slices.Contains(m.Bounced, tt.bounced) {
				t.Errorf("Bounced = %v, want it to hold %s", m.Bounced, tt.bounced)
			}
			if !tt.bounce && len(m.Bounced) > 0 {
				t.Errorf("Bounced = %v for a message that is not a bounce", m.Bounced)
			}
		})
	}
}

func TestHeaderFacts(t *testing.T) {
	m := parseTestdata(t, "quoted-thread.eml")
	if m.MessageID != "CAJq9Zr.quoted-thread@northside-housing.example" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if want := []string{"20260302151500.R-1042.accepted@eastside.example"}; !slices.Equal(m.InReplyTo, want) {
		t.Errorf("InReplyTo = %v, want %v", m.InReplyTo, want)
	}
	if want := []string{"CAF3a91e.plain-accepted@northside-housing.example", "20260302151500.R-1042.accepted@eastside.example"}; !slices.Equal(m.References, want) {
		t.Errorf("References = %v, want %v", m.References, want)
	}
	if m.From != (Address{Name: "Maria Lopez", Addr: "maria.lopez@northside-housing.example"}) {
		t.Errorf("From = %+v", m.From)
	}
	if !slices.Equal(m.SubjectRefs, []string{"R-1042"}) {
		t.Errorf("SubjectRefs = %v", m.SubjectRefs)
	}
	if want := time.Date(2026, 3, 4, 17, 2, 45, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if strings.Contains(m.Text, "Dana") {
		t.Errorf("Text keeps the quoted thread:\n%s", m.Text)
	}

	latin := parseTestdata(t, "latin1.eml")
	if latin.Subject != "Referral: José Peña" {
		t.Errorf("Subject = %q, want the RFC 2047 decoded subject", latin.Subject)
	}
	if len(latin.Problems) > 0 {
		t.Errorf("Problems = %v", latin.Problems)
	}

	dsn := parseTestdata(t, "bounce-dsn.eml")
	if dsn.From.Addr != "mailer-daemon@mx.eastside.example" {
		t.Errorf("From = %q, want the address lower-cased", dsn.From.Addr)
	}
}

// TestAuthResults: both Authentication-Results headers are kept; the caller
// decides which authserv-id to trust.
func TestAuthResults(t *testing.T) {
	m := parseTestdata(t, "spoofed.eml")
	want := []AuthResult{
		{AuthServID: "mx.eastside.example", DMARC: "fail", DKIM: "none", SPF: "fail"},
		{AuthServID: "mail.attacker.example", DMARC: "pass", DKIM: "pass", SPF: "pass"},
	}
	if !slices.Equal(m.AuthResults, want) {
		t.Errorf("AuthResults = %+v\nwant %+v", m.AuthResults, want)
	}
	raw := "From: a@b.example\r\nAuthentication-Results: ;;; =\r\nAuthentication-Results: mx.example 2; spf=pass\r\n\r\nhi\r\n"
	m, err := Parse(strings.NewReader(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.AuthResults) != 0 || len(m.Problems) != 2 {
		t.Errorf("unreadable headers: AuthResults = %+v, Problems = %v", m.AuthResults, m.Problems)
	}
}

// TestNoSSN: the SSN and the account number appear nowhere in what Parse
// returns, and the record gets a note.
func TestNoSSN(t *testing.T) {
	m := parseTestdata(t, "ssn.eml")
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{string(out), m.Text} {
		for _, secret := range []string{"6789", "123-45", "123 45", "000123456789"} {
			if strings.Contains(s, secret) {
				t.Errorf("output contains %q:\n%s", secret, s)
			}
		}
	}
	c := body(t, m)
	if len(c.Notes) != 3 || !strings.Contains(c.Notes[0], "SSN") || !strings.Contains(c.Notes[1], "notes") {
		t.Errorf("Notes = %q", c.Notes)
	}
}

func TestSignatureNotClientPhone(t *testing.T) {
	m := parseTestdata(t, "signature.eml")
	out, _ := json.Marshal(m.Candidates)
	if strings.Contains(string(out), "5550100") || strings.Contains(m.Text, "555-0100") {
		t.Errorf("the caseworker's signature phone leaked into the referral: %s", out)
	}
}

func TestAlternativeChoice(t *testing.T) {
	// Outlook's plain version of a table has no labels; the HTML one wins.
	m := parseTestdata(t, "outlook-table.eml")
	if !strings.Contains(m.Text, "Client name: Luis Ortega") {
		t.Errorf("Text is not from the HTML alternative:\n%s", m.Text)
	}
	// Equal alternatives: plain text wins.
	g := parseTestdata(t, "gmail-html.eml")
	if !strings.Contains(g.Text, "*Cell:* 555-0144") || strings.Contains(g.Text, "<") {
		t.Errorf("Text is not from the plain alternative:\n%s", g.Text)
	}
}

func TestParseErrors(t *testing.T) {
	var le *LimitError
	tests := []struct {
		name  string
		input string
		opt   Options
		limit bool // want a *LimitError
		ok    bool // want no error
	}{
		{name: "empty", input: "", ok: false},
		{name: "no header", input: "\r\nhello\r\n", ok: false},
		{name: "prose", input: "just some text\r\nand more\r\n", ok: false},
		{name: "header only", input: "From: a@b.example\r\nSubject: hi", ok: true},
		{name: "mbox From_ line", input: "From a@b.example Mon Mar  2 09:00:00 2026\nFrom: a@b.example\n\nClient name: Dana\n", ok: true},
		{name: "huge header", input: "X-A: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", limit: true},
		{name: "too many parts", input: "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 5) + "--b--\r\n",
			opt: Options{MaxParts: 3}, limit: true},
		{name: "part too large", input: "Content-Type: text/plain\r\n\r\n" + strings.Repeat("x", 5000), opt: Options{MaxPartBytes: 1000}, limit: true},
		{name: "broken multipart", input: "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nName: Dana\r\n", ok: true},
		{name: "unknown charset", input: "Content-Type: text/plain; charset=x-klingon\r\n\r\nClient name: Jos\xe9\r\n", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tt.input), tt.opt)
			switch {
			case tt.limit && !errors.As(err, &le):
				t.Errorf("err = %v, want a *LimitError", err)
			case tt.ok && err != nil:
				t.Errorf("err = %v, want none", err)
			case !tt.ok && !tt.limit && err == nil:
				t.Errorf("no error, want one")
			case !tt.ok && !tt.limit && errors.As(err, &le):
				t.Errorf("err = %v, want a plain error", err)
			}
			if err == nil && m == nil {
				t.Error("nil Message without error")
			}
		})
	}

	t.Run("unknown charset is a problem", func(t *testing.T) {
		m, err := Parse(strings.NewReader("Content-Type: text/plain; charset=x-klingon\r\n\r\nClient name: Jos\xe9\r\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "x-klingon") {
			t.Errorf("Problems = %v", m.Problems)
		}
		if got := body(t, m).Fields["client_name"]; got != "José" {
			t.Errorf("client_name = %q, want windows-1252 fallback", got)
		}
	})

	t.Run("endless input ends", func(t *testing.T) {
		r := io.MultiReader(strings.NewReader("Content-Type: text/plain\r\n\r\n"), endless{})
		_, err := Parse(r, Options{MaxParts: 1, MaxPartBytes: 1 << 10})
		if !errors.As(err, &le) {
			t.Errorf("err = %v, want a *LimitError", err)
		}
	})
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestTestdataREADME keeps testdata/README.md listing every .eml file.
func TestTestdataREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("testdata", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, f := range files {
		if !bytes.Contains(readme, []byte(filepath.Base(f))) {
			t.Errorf("testdata/README.md does not describe %s", filepath.Base(f))
		}
	}
}
