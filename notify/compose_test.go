package notify_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"refdesk/notify"
	"refdesk/parse"
	"refdesk/store"
)

// readBack writes a composed message and parses it with go-message, the way
// the caseworker's mail client would.
type readBack struct {
	h     mail.Header
	parts []part
}

type part struct {
	contentType, charset, body string
}

func compose(t *testing.T, r *notify.Renderer, o *store.OutMsg) readBack {
	t.Helper()
	m, err := r.Compose(o)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	mr, err := mail.CreateReader(&buf)
	if err != nil {
		t.Fatalf("go-message cannot read the message: %v\n%s", err, buf.String())
	}
	out := readBack{h: mr.Header}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ih, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			t.Fatalf("unexpected attachment in a reply")
		}
		ct, params, _ := ih.ContentType()
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		out.parts = append(out.parts, part{ct, params["charset"], string(b)})
	}
	return out
}

// same compares bodies ignoring line endings and trailing space.
func same(a, b string) bool {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			lines = append(lines, strings.TrimRight(l, " "))
		}
		return strings.TrimSpace(strings.Join(lines, "\n"))
	}
	return norm(a) == norm(b)
}

func TestComposeHeadersAndParts(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	o := outMsg(t, "accepted", replyFor(t, cfg, "accepted"))
	o.InReplyTo = "third@northside-housing.example"
	o.References = "first@northside-housing.example 5f2a9b.refdesk@eastside.example third@northside-housing.example"
	want, err := r.Render(o)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	got := compose(t, r, o)
	h := got.h

	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "referrals@eastside.example" || from[0].Name != "Eastside Financial Coaching" {
		t.Errorf("From = %v, %v; want the program's reply_from", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != o.To {
		t.Errorf("To = %v, %v; want %s", to, err, o.To)
	}
	if id, err := h.MessageID(); err != nil || id != o.MessageID {
		t.Errorf("Message-ID = %q, %v; want %q", id, err, o.MessageID)
	}
	if raw := h.Get("Message-Id"); raw != "<"+o.MessageID+">" {
		t.Errorf("Message-ID header is %q", raw)
	}
	if ids, err := h.MsgIDList("In-Reply-To"); err != nil || !slices.Equal(ids, []string{o.InReplyTo}) {
		t.Errorf("In-Reply-To = %q, %v", ids, err)
	}
	refs := h.Values("References")
	if len(refs) != 1 {
		t.Fatalf("%d References headers, want one: %q", len(refs), refs)
	}
	if v := strings.Join(strings.Fields(refs[0]), " "); v != "<first@northside-housing.example> <5f2a9b.refdesk@eastside.example> <third@northside-housing.example>" {
		t.Errorf("References = %q, want every id in angle brackets, space-separated, in order", v)
	}
	if ids, _ := h.MsgIDList("References"); !slices.Equal(ids, strings.Fields(o.References)) {
		t.Errorf("References parse as %q", ids)
	}
	for k, v := range map[string]string{
		"Auto-Submitted":           "auto-replied",
		"X-Auto-Response-Suppress": "All",
		parse.LoopHeader:           "referrals@eastside.example",
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	if notify.LoopValue(cfg) != "referrals@eastside.example" {
		t.Errorf("LoopValue = %q", notify.LoopValue(cfg))
	}
	if s, err := h.Subject(); err != nil || s != want.Subject {
		t.Errorf("Subject = %q, %v; want %q", s, err, want.Subject)
	}
	if d, err := h.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Minute)) {
		t.Errorf("Date = %v, %v; want about now", d, err)
	}
	if ct, _, _ := h.ContentType(); ct != "multipart/alternative" {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	if len(got.parts) != 2 {
		t.Fatalf("%d parts, want text and HTML", len(got.parts))
	}
	// RFC 2046 §5.1.4: the plainest alternative first.
	if p := got.parts[0]; p.contentType != "text/plain" || !strings.EqualFold(p.charset, "utf-8") || !same(p.body, want.Text) {
		t.Errorf("first part %s; charset %s; body:\n%s\nwant:\n%s", p.contentType, p.charset, p.body, want.Text)
	}
	if p := got.parts[1]; p.contentType != "text/html" || !strings.EqualFold(p.charset, "utf-8") || !same(p.body, want.HTML) {
		t.Errorf("second part %s; charset %s; body:\n%s", p.contentType, p.charset, p.body)
	}
}

func TestComposeWithoutThread(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	o := outMsg(t, "unknown-sender", store.Reply{})
	o.InReplyTo, o.References = "", ""
	h := compose(t, r, o).h
	for _, k := range []string{"In-Reply-To", "References"} {
		if h.Has(k) {
			t.Errorf("%s present without a thread: %q", k, h.Get(k))
		}
	}
	if h.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
	}
}

func TestComposeKeepsUnicodeAndRefusesInjection(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)

	o := outMsg(t, "accepted", store.Reply{Items: []store.ReplyItem{{Ref: "R-1042", Decision: "accepted", Client: "Zoë Ł.", CaseID: "Nº 7"}}})
	o.Subject = "Überweisung für Zoë\r\nBcc: attacker@evil.example"
	want, err := r.Render(o)
	if err != nil {
		t.Fatal(err)
	}
	got := compose(t, r, o)
	if s, _ := got.h.Subject(); s != want.Subject || !strings.Contains(s, "Überweisung für Zoë") {
		t.Errorf("Subject = %q, want %q", s, want.Subject)
	}
	if got.h.Has("Bcc") {
		t.Errorf("a CRLF in the subject made a Bcc header: %q", got.h.Get("Bcc"))
	}
	if !strings.Contains(got.parts[0].body, "Zoë Ł.") || !strings.Contains(got.parts[1].body, "Zoë Ł.") {
		t.Errorf("client initials lost their accents")
	}

	for _, to := range []string{"maria@northside-housing.example\r\nBcc: attacker@evil.example", "not an address", ""} {
		o := outMsg(t, "accepted", store.Reply{Items: []store.ReplyItem{{Ref: "R-1042", Decision: "accepted"}}})
		o.To = to
		if _, err := r.Compose(o); err == nil {
			t.Errorf("Compose accepted the recipient %q", to)
		} else if !strings.Contains(err.Error(), "O-7") {
			t.Errorf("error %q does not say which outbox message", err)
		}
	}
}
