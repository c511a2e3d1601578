package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode any charset a reply might use
	"github.com/emersion/go-message/mail"

	"refdesk/notify/smtpsink"
)

// ---- inbound mail, as the program's MX delivers it ----

// inMail is one message a caseworker (or a machine) sends to the referrals
// mailbox.
type inMail struct {
	From       string // "Maria Lopez <maria.lopez@northside-housing.example>"
	Subject    string
	MessageID  string // without angle brackets
	InReplyTo  string // without angle brackets
	References []string
	// AuthResults are Authentication-Results header values; nil means a
	// passing result from our MX for the From domain, none means none at all.
	AuthResults []string
	NoAuth      bool
	ReturnPath  string   // "" = the From address; "<>" for a bounce
	Headers     []string // extra header lines, e.g. "Auto-Submitted: auto-replied"
	// ContentType of the body ("" = text/plain; charset=utf-8); Body is the
	// body as written, with \n line ends (CRLF on the wire).
	ContentType string
	Body        string
	Date        time.Time
}

func addrOf(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// bytes renders the message with CRLF line ends.
func (m inMail) bytes() []byte {
	from := addrOf(m.From)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	var h []string
	rp := m.ReturnPath
	if rp == "" {
		rp = "<" + from + ">"
	}
	h = append(h, "Return-Path: "+rp)
	h = append(h, fmt.Sprintf("Received: from mail.%s (mail.%s [192.0.2.25])\n\tby mx.eastside.example (Postfix) with ESMTPS id 4Q8Z%X\n\tfor <referrals@eastside.example>; %s",
		domainOf(from), domainOf(from), date.UnixNano()&0xffffff, date.Format(time.RFC1123Z)))
	switch {
	case m.NoAuth:
	case m.AuthResults != nil:
		for _, ar := range m.AuthResults {
			h = append(h, "Authentication-Results: "+ar)
		}
	default:
		d := domainOf(from)
		h = append(h, "Authentication-Results: mx.eastside.example;\n\tdkim=pass header.d="+d+" header.s=sel1;\n\tspf=pass smtp.mailfrom="+from+";\n\tdmarc=pass (p=QUARANTINE) header.from="+d)
	}
	h = append(h,
		"From: "+m.From,
		"To: Eastside Financial Coaching <referrals@eastside.example>",
		"Subject: "+m.Subject,
		"Date: "+date.Format(time.RFC1123Z),
		"Message-ID: <"+m.MessageID+">",
	)
	if m.InReplyTo != "" {
		h = append(h, "In-Reply-To: <"+m.InReplyTo+">")
	}
	if len(m.References) > 0 {
		h = append(h, "References: <"+strings.Join(m.References, "> <")+">")
	}
	h = append(h, m.Headers...)
	ct := m.ContentType
	if ct == "" {
		ct = `text/plain; charset="UTF-8"` + "\nContent-Transfer-Encoding: 8bit"
	}
	h = append(h, "MIME-Version: 1.0", "Content-Type: "+ct)
	raw := strings.Join(h, "\n") + "\n\n" + m.Body
	if !strings.HasSuffix(raw, "\n") {
		raw += "\n"
	}
	return []byte(strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n"))
}

// ---- replies, as the relay receives them ----

// sentReply is one message refdesk sent, as the SMTP sink got it, decoded.
type sentReply struct {
	Envelope   smtpsink.Received
	MessageID  string // without brackets
	InReplyTo  []string
	References []string
	Subject    string
	Header     mail.Header
	// All is every header field and every body part, decoded
	// (RFC 2047 words, transfer encodings, charsets); HTML parts are
	// also added unescaped and without tags.
	All string
	// Plain is the decoded text/plain part.
	Plain string
}

func parseReply(r smtpsink.Received) (*sentReply, error) {
	ent, err := message.Read(bytes.NewReader(r.Data))
	if err != nil {
		return nil, fmt.Errorf("reply is not a MIME message: %w", err)
	}
	h := mail.Header{Header: ent.Header}
	out := &sentReply{Envelope: r, Header: h}
	if out.MessageID, err = h.MessageID(); err != nil {
		return nil, fmt.Errorf("reply Message-ID: %w", err)
	}
	if out.InReplyTo, err = h.MsgIDList("In-Reply-To"); err != nil {
		return nil, fmt.Errorf("reply In-Reply-To: %w", err)
	}
	if out.References, err = h.MsgIDList("References"); err != nil {
		return nil, fmt.Errorf("reply References: %w", err)
	}
	if out.Subject, err = h.Subject(); err != nil {
		return nil, fmt.Errorf("reply Subject: %w", err)
	}
	var all strings.Builder
	err = ent.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		fields := part.Header.Fields()
		for fields.Next() {
			v, err := fields.Text()
			if err != nil {
				return fmt.Errorf("header %s: %w", fields.Key(), err)
			}
			fmt.Fprintf(&all, "%s: %s\n", fields.Key(), v)
		}
		mt, _, _ := part.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			return fmt.Errorf("part %s: %w", mt, err)
		}
		all.Write(body)
		all.WriteString("\n")
		switch mt {
		case "text/html":
			all.WriteString(html.UnescapeString(htmlTag.ReplaceAllString(string(body), "")))
			all.WriteString("\n")
		case "text/plain":
			out.Plain += string(body)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	out.All = all.String()
	return out, nil
}

var (
	htmlTag = regexp.MustCompile(`<[^>]*>`)
	// A run of digits in any of the ways a phone number is written:
	// 3125550142, (312) 555-0142, 312.555.0142, +1 312 555 0142.
	digitRun = regexp.MustCompile(`\d(?:[ \t().\-+/]*\d)*`)
)

// leaks lists the personal data of a client that a text shows: the
// surname, or the phone number in any digit form. phone is the number as
// ten digits.
func leaks(text, surname, phone string) []string {
	return newLeakFinder(text).find(surname, phone)
}

func (r *sentReply) leaks(surname, phone string) []string { return leaks(r.All, surname, phone) }

// leakFinder looks for many clients' data in one text (a long log).
type leakFinder struct {
	lower  string
	runs   []string // digit runs as written
	digits []string // the same, digits only
}

func newLeakFinder(text string) *leakFinder {
	f := &leakFinder{lower: strings.ToLower(text), runs: digitRun.FindAllString(text, -1)}
	for _, run := range f.runs {
		f.digits = append(f.digits, strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, run))
	}
	return f
}

func (f *leakFinder) find(surname, phone string) []string {
	var out []string
	if surname != "" && strings.Contains(f.lower, strings.ToLower(surname)) {
		out = append(out, fmt.Sprintf("the client's surname %q", surname))
	}
	local := phone[len(phone)-7:] // the number without its area code is still the number
	for i, d := range f.digits {
		if strings.Contains(d, local) {
			out = append(out, fmt.Sprintf("the client's phone number as %q", f.runs[i]))
			break
		}
	}
	return out
}

// threadingProblems lists what is wrong with the headers every automatic reply
// must carry (SPEC §6, RFC 3834): threading to parent and the markers that
// stop auto-responders answering it.
func (r *sentReply) threadingProblems(parent string) []string {
	var out []string
	if len(r.InReplyTo) != 1 || r.InReplyTo[0] != parent {
		out = append(out, fmt.Sprintf("In-Reply-To is %q, want <%s>", r.Header.Get("In-Reply-To"), parent))
	}
	found := false
	for _, id := range r.References {
		found = found || id == parent
	}
	if !found {
		out = append(out, fmt.Sprintf("References %q does not contain <%s>", r.Header.Get("References"), parent))
	}
	if v := r.Header.Get("Auto-Submitted"); v != "auto-replied" {
		out = append(out, fmt.Sprintf("Auto-Submitted is %q, want auto-replied", v))
	}
	if v := r.Header.Get("X-Auto-Response-Suppress"); v != "All" {
		out = append(out, fmt.Sprintf("X-Auto-Response-Suppress is %q, want All", v))
	}
	if !strings.HasPrefix(r.Subject, "Re: ") {
		out = append(out, fmt.Sprintf("Subject %q does not start with \"Re: \"", r.Subject))
	}
	if r.MessageID == "" {
		out = append(out, "no Message-ID")
	}
	return out
}

// replies parses everything the sink holds.
func (e *e2eEnv) replies() []*sentReply {
	e.t.Helper()
	var out []*sentReply
	for i, r := range e.sink.Messages() {
		p, err := parseReply(r)
		if err != nil {
			e.fatalf("sink message %d: %v\n%s", i+1, err, r.Data)
		}
		out = append(out, p)
	}
	return out
}

// repliesTo returns the replies whose In-Reply-To is parent.
func repliesTo(all []*sentReply, parent string) []*sentReply {
	var out []*sentReply
	for _, r := range all {
		for _, id := range r.InReplyTo {
			if id == parent {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// waitReplyTo waits until a reply to parent reached the sink and returns
// the first.
func (e *e2eEnv) waitReplyTo(parent string, timeout time.Duration) *sentReply {
	e.t.Helper()
	var got *sentReply
	e.waitFor("a reply to <"+parent+">", timeout, func() (bool, string) {
		e.serveAlive()
		all := e.replies()
		if rs := repliesTo(all, parent); len(rs) > 0 {
			got = rs[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d messages at the sink, none in reply to it; %s", len(all), mailboxState(e.folders()))
	})
	return got
}

// quoteForReply quotes text the way a mail client does in a reply.
func quoteForReply(text string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n")
}

// TestE2EReplyCheckerSeesThroughEncodings makes sure the privacy check the
// end-to-end tests rely on is not vacuous: a surname or phone number hidden
// in an encoded header, a quoted-printable line break, a base64 HTML part or
// between HTML tags is still found.
func TestE2EReplyCheckerSeesThroughEncodings(t *testing.T) {
	const head = "From: referrals@eastside.example\r\nTo: maria.lopez@northside-housing.example\r\n" +
		"Message-ID: <x1@eastside.example>\r\nIn-Reply-To: <orig@northside-housing.example>\r\n" +
		"References: <orig@northside-housing.example>\r\nAuto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\nMIME-Version: 1.0\r\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	alt := func(text, htmlB64 string) string {
		return "Subject: Re: Referral [R-1001] accepted\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + text + "\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + htmlB64 + "\r\n--b--\r\n"
	}
	clean := alt("Client: Dana W.", b64("<p>Client: Dana W.</p>"))
	cases := []struct {
		name, msg string
		leaks     int
	}{
		{"clean", clean, 0},
		{"surname in an encoded subject", strings.Replace(clean, "Subject: Re: Referral", "Subject: =?UTF-8?B?"+b64("Re: Dana Whitfield")+"?=", 1), 1},
		{"phone across a quoted-printable soft break", alt("Client: Dana W., call (312) 555-=\r\n0142", b64("<p>ok</p>")), 1},
		{"phone in base64 HTML with an entity", alt("ok", b64("<p>&#43;1 312 555 0142</p>")), 1},
		{"surname and phone split by tags", alt("ok", b64("<p>Whit<b>field</b>, 555-<i>0142</i></p>")), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := parseReply(smtpsink.Received{Data: []byte(head + c.msg)})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.leaks("Whitfield", "3125550142"); len(got) != c.leaks {
				t.Errorf("found %v, want %d leaks in:\n%s", got, c.leaks, r.All)
			}
			if ps := r.threadingProblems("orig@northside-housing.example"); len(ps) > 0 {
				t.Errorf("threading: %v", ps)
			}
		})
	}
}
