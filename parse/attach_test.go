package parse

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAttachmentGolden parses each attachment message in testdata and checks
// what a coach would look at: one referral per row in row order, the fields
// read from the file, the body's referrer and notes merged in, notes about
// files that could not be read.
func TestAttachmentGolden(t *testing.T) {
	type want struct {
		source string
		fields map[string]string
		absent []string
	}
	tests := []struct {
		file        string
		cands       []want
		notes       []string // each candidate's Notes contain these
		attachments int
		problems    int // attachments with a Problem
	}{
		{file: "attach-csv-batch.eml", attachments: 1, cands: []want{
			{"attachment march-referrals.csv row 2", map[string]string{"client_name": "Dana Whitfield", "client_phone": "5550142000",
				"client_email": "dana.whitfield@example.com", "consent": "yes", "partner_case_id": "NH-3001",
				"needs": "Budgeting, and building credit", "referrer_name": "Maria Lopez", "referrer_phone": "5550100",
				"notes": "all three live in Northside properties"}, nil},
			{"attachment march-referrals.csv row 3", map[string]string{"client_name": "Keisha Brown", "partner_case_id": "NH-3002",
				"needs": "Eviction notice received; wants a budget after"}, []string{"client_email"}},
			{"attachment march-referrals.csv row 4", map[string]string{"client_name": "Omar Haddad", "partner_case_id": "NH-3003"},
				[]string{"consent"}},
		}},
		{file: "attach-xlsx.eml", attachments: 1, cands: []want{
			{"attachment referrals.xlsx sheet Referrals row 4", map[string]string{"client_name": "Luis Ortega", "client_phone": "5550142031",
				"date_of_birth": "1979-07-04", "client_zip": "60602", "consent": "yes", "partner_case_id": "NH-3010"}, nil},
			{"attachment referrals.xlsx sheet Referrals row 5", map[string]string{"client_name": "Aisha Bello", "client_phone": "5550142032",
				"date_of_birth": "1990-11-02", "consent": "yes", "partner_case_id": "NH-3011"}, nil},
		}},
		{file: "attach-pdf-form.eml", attachments: 1, cands: []want{
			{"attachment Referral Form.pdf", map[string]string{"client_name": "Nadia Petrov", "client_phone": "5550142055",
				"client_email": "nadia.petrov@example.com", "client_zip": "60604", "consent": "yes", "language": "Russian",
				"needs": "Help with a budget and paying down a car loan", "partner_case_id": "NH-3020"}, nil},
		}},
		{file: "attach-pdf-text.eml", attachments: 1, cands: []want{
			{"attachment kim-referral.pdf", map[string]string{"client_name": "Grace Kim", "client_phone": "5550142061",
				"client_zip": "60605", "consent": "yes", "partner_case_id": "NH-3030"}, nil},
		}},
		{file: "attach-docx-form.eml", attachments: 1, cands: []want{
			{"attachment Referral form.docx", map[string]string{"client_name": "Marcus Reed", "client_phone": "5550142071",
				"client_email": "marcus.reed@example.com", "date_of_birth": "1975-05-22", "client_zip": "60606", "consent": "yes",
				"needs": "Rebuild credit after a bankruptcy; wants a monthly budget", "partner_case_id": "NH-3040",
				"best_time": "weekday afternoons", "referrer_name": "Maria Lopez"}, nil},
		}},
		{file: "attach-vcard.eml", attachments: 1, cands: []want{
			{"attachment Rosa Delgado.vcf", map[string]string{"client_name": "Rosa Delgado", "client_phone": "5550142081",
				"client_email": "rosa.delgado@example.com", "client_zip": "60607", "consent": "yes", "share_outcomes": "yes",
				"partner_case_id": "NH-3050", "needs": "budgeting after a job loss, wants to save for a deposit"}, nil},
		}},
		{file: "attach-json-noreply.eml", attachments: 1, cands: []want{
			{"attachment submission-S-88213.json", map[string]string{"client_name": "Samuel Ortiz", "client_phone": "5550142091",
				"date_of_birth": "1971-10-30", "consent": "yes", "crisis": "no", "share_outcomes": "no",
				"referrer_name": "Maria Lopez", "referrer_phone": "5550100", "partner_case_id": "NH-3060"}, nil},
		}},
		{file: "attach-forward-rfc822.eml", attachments: 1, cands: []want{
			{"attachment Walk-in referral for coaching.eml", map[string]string{"client_name": "José Peña", "client_phone": "5550142101",
				"consent": "yes", "partner_case_id": "NH-3070"}, []string{"referrer_name"}},
		}},
		{file: "attach-unreadable.eml", attachments: 2, problems: 2, notes: []string{"intake.xls not readable", "scan.pdf not readable"}, cands: []want{
			{"body", map[string]string{"client_name": "Ben Okafor", "client_phone": "5550142111", "consent": "yes"}, nil},
		}},
		{file: "attach-charsets.eml", attachments: 1, cands: []want{
			{"attachment notas de Peña.txt", map[string]string{"client_name": "Renée Fontaine", "language": "Español",
				"notes": "prefers “text first”, then a call", "consent": "yes"}, nil},
		}},
		{file: "malformed-multipart.eml", attachments: 1, problems: 1, cands: []want{
			{"body", map[string]string{"client_name": "Priya Shah", "client_phone": "5550142131", "consent": "yes",
				"needs": "wants to make a budget – new job"}, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := parseTestdata(t, tt.file)
			if m.Auto != "" {
				t.Errorf("Auto = %q", m.Auto)
			}
			if len(m.Attachments) != tt.attachments {
				t.Errorf("%d attachments, want %d", len(m.Attachments), tt.attachments)
			}
			problems := 0
			for _, a := range m.Attachments {
				if a.Problem != "" {
					problems++
				}
				// Data: the files Parse reads (an old .xls is not read);
				// TestAttachmentSinks checks every file's bytes.
				if a.Size == 0 || a.Data != nil && a.Size != int64(len(a.Data)) {
					t.Errorf("attachment %q: size %d, %d bytes", a.Filename, a.Size, len(a.Data))
				}
			}
			if problems != tt.problems {
				t.Errorf("%d attachments with a problem, want %d: %+v", problems, tt.problems, m.Attachments)
			}
			if len(m.Candidates) != len(tt.cands) {
				t.Fatalf("%d candidates, want %d: %+v", len(m.Candidates), len(tt.cands), m.Candidates)
			}
			for i, w := range tt.cands {
				c := m.Candidates[i]
				if c.Source != w.source {
					t.Errorf("candidate %d: Source = %q, want %q", i, c.Source, w.source)
				}
				for k, v := range w.fields {
					if got := c.Fields[k]; got != v {
						t.Errorf("candidate %d: %s = %q, want %q", i, k, got, v)
					}
				}
				for _, k := range w.absent {
					if v, ok := c.Fields[k]; ok {
						t.Errorf("candidate %d: %s = %q, want it unset", i, k, v)
					}
				}
				for _, n := range tt.notes {
					if !slices.ContainsFunc(c.Notes, func(s string) bool { return strings.Contains(s, n) }) {
						t.Errorf("candidate %d: Notes %q lack %q", i, c.Notes, n)
					}
				}
			}
		})
	}
}

// part is one MIME part of a test message.
type part struct{ ctype, disposition, body string }

// mixed builds a multipart/mixed message with a text body and base64 parts.
func mixed(headers, text string, parts ...part) string {
	var b strings.Builder
	b.WriteString("From: Maria Lopez <maria.lopez@northside-housing.example>\r\nSubject: referral\r\n" + headers +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BND\"\r\n\r\n--BND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(text, "\n", "\r\n") + "\r\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "--BND\r\nContent-Type: %s\r\nContent-Disposition: %s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			p.ctype, p.disposition, base64.StdEncoding.EncodeToString([]byte(p.body)))
	}
	b.WriteString("--BND--\r\n")
	return b.String()
}

func csvPart(name, body string) part {
	return part{"text/csv", `attachment; filename="` + name + `"`, body}
}

func TestCSVShapes(t *testing.T) {
	tests := []struct {
		name, csv string
		names     []string // client_name of each candidate, in order
	}{
		{"semicolon with a BOM", "\ufeffName;Phone;Consent\r\nDana Whitfield;555-0142;yes\r\nLuis Ortega;555-0143;yes\r\n", []string{"Dana Whitfield", "Luis Ortega"}},
		{"tab", "Client name\tCell\tConsent\nDana Whitfield\t555-0142\tyes\n", []string{"Dana Whitfield"}},
		{"pipe", "Client|Phone|Consent\nDana Whitfield|555-0142|y\n", []string{"Dana Whitfield"}},
		{"quoted comma and newline", "Name,Notes,Phone\n\"Whitfield, Dana\",\"two\nlines\",555-0142\n", []string{"Whitfield, Dana"}},
		{"title row above the header, blank rows", "Northside referrals, March\n\nFirst name,Last name,Phone\nDana,Whitfield,555-0142\n,,\nLuis,Ortega,555-0143\n", []string{"Dana Whitfield", "Luis Ortega"}},
		{"UTF-16 as Excel saves Unicode text", "\xff\xfeN\x00a\x00m\x00e\x00\t\x00P\x00h\x00o\x00n\x00e\x00\n\x00J\x00o\x00s\x00\xe9\x00\t\x005\x005\x005\x00-\x000\x001\x004\x002\x00\n\x00", []string{"José"}},
		{"labels and values in two columns", "Client name,Dana Whitfield\nPhone,555-0142\nConsent,yes\n", []string{"Dana Whitfield"}},
		{"windows-1252 without a charset", "Name,Phone\nJos\xe9 Pe\xf1a,555-0142\n", []string{"José Peña"}},
		{"no header at all", "just,some,numbers\n1,2,3\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(mixed("", "See attached.", csvPart("list.csv", tt.csv))), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range m.Candidates {
				got = append(got, c.Fields["client_name"])
			}
			if !slices.Equal(got, tt.names) {
				t.Errorf("client names %q, want %q", got, tt.names)
			}
		})
	}
}

// TestConfiguredAliases: [fields.aliases] reaches every reader.
func TestConfiguredAliases(t *testing.T) {
	opt := Options{Aliases: map[string][]string{"client_name": {"participant full name"}, "partner_case_id": {"hmis #", "intake no"}}}
	msgs := map[string]string{
		"body": mixed("", "Participant full name: Dana Whitfield\nIntake no: X-1\nPhone: 555-0142"),
		"csv":  mixed("", "see attached", csvPart("a.csv", "Participant Full Name,HMIS #,Phone\nDana Whitfield,X-1,555-0142\n")),
		"json": mixed("", "see attached", part{"application/json", `attachment; filename="a.json"`,
			`{"participant_full_name": "Dana Whitfield", "intake_no": "X-1", "phone": "555-0142"}`}),
		"docx": mixed("", "see attached", part{"application/octet-stream", `attachment; filename="a.docx"`,
			string(docxOf(t, `<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Participant full name</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Dana Whitfield</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p><w:r><w:t>HMIS #: X-1</w:t></w:r></w:p>`))}),
	}
	for name, raw := range msgs {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(raw), opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Candidates) != 1 || m.Candidates[0].Fields["client_name"] != "Dana Whitfield" || m.Candidates[0].Fields["partner_case_id"] != "X-1" {
				t.Errorf("candidates %+v", m.Candidates)
			}
			without, _ := Parse(strings.NewReader(raw), Options{})
			for _, c := range without.Candidates {
				if c.Fields["client_name"] == "Dana Whitfield" {
					t.Errorf("without the alias the name was read anyway: %+v", c)
				}
			}
		})
	}
}

// docxOf is a Word document whose body is the given WordprocessingML.
func docxOf(t *testing.T, body string) []byte {
	return zipOf(t, map[string][]byte{"word/document.xml": []byte(`<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body + `</w:body></w:document>`)})
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for name, b := range files {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJSONShapes(t *testing.T) {
	tests := []struct {
		name, json string
		want       []map[string]string
	}{
		{"flat", `{"Client Name": "Dana Whitfield", "Phone": "555-0142", "Consent": true, "Crisis": false}`,
			[]map[string]string{{"client_name": "Dana Whitfield", "consent": "yes", "crisis": "no"}}},
		{"batch array", `[{"name": "Dana Whitfield", "phone": "555-0142"}, {"name": "Luis Ortega", "phone": "555-0143"}]`,
			[]map[string]string{{"client_name": "Dana Whitfield"}, {"client_name": "Luis Ortega"}}},
		{"wrapped batch", `{"count": 2, "referrals": [{"client": {"name": "Dana Whitfield", "phone": "555-0142"}}, {"client": {"name": "Luis Ortega", "phone": "555-0143"}}]}`,
			[]map[string]string{{"client_name": "Dana Whitfield", "client_phone": "5550142"}, {"client_name": "Luis Ortega"}}},
		{"label/value answers", `{"answers": [{"question": "Client name", "answer": "Dana Whitfield"}, {"question": "Phone", "answer": "555-0142"}, {"question": "Services requested", "answer": ["budgeting", "credit"]}]}`,
			[]map[string]string{{"client_name": "Dana Whitfield", "client_phone": "5550142", "needs": "budgeting; credit"}}},
		{"referrer section keeps its name", `{"referrer": {"name": "Maria Lopez", "phone": "555-0100"}, "client": {"name": "Dana Whitfield", "phone": "555-0142"}}`,
			[]map[string]string{{"client_name": "Dana Whitfield", "client_phone": "5550142", "referrer_name": "Maria Lopez", "referrer_phone": "5550100"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(mixed("", "see attached", part{"application/json", `attachment; filename="f.json"`, tt.json})), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Candidates) != len(tt.want) {
				t.Fatalf("%d candidates, want %d: %+v", len(m.Candidates), len(tt.want), m.Candidates)
			}
			for i, w := range tt.want {
				for k, v := range w {
					if got := m.Candidates[i].Fields[k]; got != v {
						t.Errorf("candidate %d: %s = %q, want %q", i, k, got, v)
					}
				}
			}
		})
	}
}

func TestMerge(t *testing.T) {
	body := Candidate{Source: "body", Fields: map[string]string{"client_name": "Dana", "client_phone": "5550142", "consent": "yes",
		"referrer_name": "Maria Lopez", "notes": "cover note"}, Notes: []string{"body note"}}
	row := func(name string) Candidate {
		return Candidate{Source: "attachment a.csv row 2", Fields: map[string]string{"client_name": name, "referrer_name": "Front desk", "notes": "row note"}}
	}
	t.Run("one attachment candidate takes missing client fields", func(t *testing.T) {
		got := merge(body, []Candidate{row("Dana Whitfield")}, []string{"Attachment x not readable."})
		if len(got) != 1 {
			t.Fatalf("%d candidates", len(got))
		}
		f := got[0].Fields
		if f["client_name"] != "Dana Whitfield" || f["client_phone"] != "5550142" || f["consent"] != "yes" ||
			f["referrer_name"] != "Maria Lopez" || f["notes"] != "cover note; row note" {
			t.Errorf("fields %v", f)
		}
		if !slices.Equal(got[0].Notes, []string{"body note", "Attachment x not readable."}) {
			t.Errorf("notes %q", got[0].Notes)
		}
	})
	t.Run("a batch does not copy the body's client into rows", func(t *testing.T) {
		got := merge(body, []Candidate{row("Luis Ortega"), {Fields: map[string]string{"needs": "x"}}}, nil)
		if got[1].Fields["client_name"] != "" || got[1].Fields["client_phone"] != "" || got[1].Fields["consent"] != "yes" {
			t.Errorf("second row %v", got[1].Fields)
		}
	})
	t.Run("no attachment candidates: the body alone, with the notes", func(t *testing.T) {
		got := merge(body, nil, []string{"n"})
		if len(got) != 1 || got[0].Source != "body" || len(got[0].Notes) != 2 {
			t.Errorf("%+v", got)
		}
		if got := merge(Candidate{Fields: map[string]string{}}, nil, nil); got != nil {
			t.Errorf("an empty body made %+v", got)
		}
	})
}

// TestAttachmentLimits: going over a limit is a *LimitError with a reason,
// quickly; auto-generated mail over a limit is still recognised (ignored,
// not quarantined).
func TestAttachmentLimits(t *testing.T) {
	bomb := func(name string) []byte {
		// One part that inflates a thousandfold: 60 MB of zeros.
		var buf bytes.Buffer
		z := zip.NewWriter(&buf)
		w, _ := z.Create(name)
		zeros := make([]byte, 1<<20)
		for i := 0; i < 60; i++ {
			w.Write(zeros)
		}
		z.Close()
		return buf.Bytes()
	}
	many := make([]part, 4)
	for i := range many {
		many[i] = csvPart(fmt.Sprintf("f%d.csv", i), "Name,Phone\nA,555-0142\n")
	}
	tests := []struct {
		name   string
		raw    string
		opt    Options
		reason string
	}{
		{"too many attachments", mixed("", "x", many...), Options{MaxAttachments: 3}, "more than 3 attachments"},
		{"attachment too large", mixed("", "x", csvPart("big.csv", strings.Repeat("a,b\n", 5000))), Options{MaxAttachmentBytes: 10000}, "big.csv is larger than 10000 bytes"},
		{"docx zip bomb", mixed("", "x", part{"application/octet-stream", `attachment; filename="form.docx"`, string(bomb("word/document.xml"))}), Options{}, "unzips to more than"},
		{"xlsx zip bomb", mixed("", "x", part{"application/octet-stream", `attachment; filename="list.xlsx"`, string(bomb("xl/worksheets/sheet1.xml"))}), Options{}, "unzips to more than"},
		{"deadline passed", mixed("", "x", csvPart("a.csv", "Name,Phone\nA,555-0142\n")), Options{Deadline: time.Now().Add(-time.Second)}, "time limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			m, err := Parse(strings.NewReader(tt.raw), tt.opt)
			var le *LimitError
			if !errors.As(err, &le) || !strings.Contains(le.Reason, tt.reason) {
				t.Fatalf("err = %v (message %v), want a *LimitError saying %q", err, m != nil, tt.reason)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("a bounce over a limit is still a bounce", func(t *testing.T) {
		raw := mixed("Auto-Submitted: auto-replied\r\n", "x", many...)
		m, err := Parse(strings.NewReader(raw), Options{MaxAttachments: 2})
		if err != nil || m.Auto == "" {
			t.Errorf("err %v, auto %q", err, m.Auto)
		}
	})
}

func TestRFC2231(t *testing.T) {
	tests := []struct{ in, want string }{
		{`attachment; filename*=iso-8859-1''Pe%F1a.txt`, "Peña.txt"},
		{`attachment; filename*0*=UTF-8''Jos%C3%A9%20; filename*1=list.csv`, "José list.csv"},
		{`attachment; filename="plain.csv"`, "plain.csv"},
		{`attachment`, ""},
	}
	for _, tt := range tests {
		if got := rfc2231Param(tt.in, "filename"); got != tt.want {
			t.Errorf("rfc2231Param(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// RFC 2047 in a filename, as Outlook writes it.
	raw := mixed("", "x", part{"text/csv", `attachment; filename="=?UTF-8?B?Sm9zw6kuY3N2?="`, "Name,Phone\nA,555-0142\n"})
	m, err := Parse(strings.NewReader(raw), Options{})
	if err != nil || len(m.Attachments) != 1 || m.Attachments[0].Filename != "José.csv" {
		t.Errorf("err %v, attachments %+v", err, m.Attachments)
	}
}

func TestPDFContentText(t *testing.T) {
	content := `BT /F1 12 Tf 50 700 Td (Client name:) Tj 120 0 Td (Dana \(D.\) Whitfield) Tj ET
BT 50 680 Td [(Pho) 20 (ne:) -300 (555-0142)] TJ ET
BT 14 TL 50 660 Td (Consent: yes) Tj T* <4E6F7465733A2062756467657420686970> Tj ET`
	got := contentText([]byte(content))
	want := "Client name: Dana (D.) Whitfield\nPhone: 555-0142\nConsent: yes\nNotes: budget hip"
	if got != want {
		t.Errorf("contentText =\n%q\nwant\n%q", got, want)
	}
}

// TestForwardWithItsOwnAttachment: a forwarded message whose body has the
// consent and whose own attachment has the client's card is one referral.
func TestForwardWithItsOwnAttachment(t *testing.T) {
	card := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Grace Kim\r\nTEL;VALUE=uri;TYPE=cell:tel:+1-555-014-2061\r\nEND:VCARD\r\n"
	inner := "From: Front Desk <frontdesk@northside-housing.example>\r\nSubject: walk-in\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=IN\r\n\r\n--IN\r\nContent-Type: text/plain\r\n\r\nConsent: yes\r\nReason: budgeting\r\n" +
		"--IN\r\nContent-Type: text/vcard; name=grace.vcf\r\n\r\n" + card + "--IN--\r\n"
	raw := "From: Maria Lopez <maria.lopez@northside-housing.example>\r\nSubject: Fwd: walk-in\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=OUT\r\n\r\n--OUT\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n" +
		"--OUT\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "\r\n--OUT--\r\n"
	m, err := Parse(strings.NewReader(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Candidates) != 1 {
		t.Fatalf("%d candidates: %+v", len(m.Candidates), m.Candidates)
	}
	c := m.Candidates[0]
	if c.Source != "attachment grace.vcf" || c.Fields["client_name"] != "Grace Kim" || c.Fields["client_phone"] != "5550142061" ||
		c.Fields["consent"] != "yes" || c.Fields["needs"] != "budgeting" {
		t.Errorf("%+v", c)
	}
	if len(m.Attachments) != 2 {
		t.Errorf("%d attachments, want the forwarded message and its card", len(m.Attachments))
	}
}
