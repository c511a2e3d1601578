package parse

import (
	"bytes"
	"errors"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, must return
// quickly, and what it returns must keep its promises (canonical field
// names, valid UTF-8, no SSN-like digits).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"From: a@b\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n\r\nName: a\r\n--y--\r\n--x--\r\n",
		"Content-Type: text/html\r\n\r\n<table><tr><td><table><tr><td>Name</td><td>Dana</td></tr></table></td></tr></table>",
		"Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n//5OAGEAbQBlADoAIABEAGEAbgBhAA==\r\n",
		"Content-Type: message/rfc822\r\n\r\nMessage-ID: <a@b>\r\n\r\nbody",
	} {
		f.Add([]byte(s))
	}
	opt := Options{MaxParts: 30, MaxPartBytes: 256 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		m, err := Parse(bytes.NewReader(data), opt)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse took %v on %d bytes", d, len(data))
		}
		if err != nil {
			var le *LimitError
			if m != nil {
				t.Fatalf("Message and error both returned: %v", err)
			}
			if errors.As(err, &le) && le.Reason == "" {
				t.Fatal("LimitError without a reason")
			}
			return
		}
		if m == nil {
			t.Fatal("nil Message without an error")
		}
		if len(m.Problems) > 60 {
			t.Errorf("%d problems", len(m.Problems))
		}
		if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) {
			t.Error("invalid UTF-8 in Text or Subject")
		}
		if masked, _ := maskDigits(m.Text, false); masked != m.Text {
			t.Errorf("Text keeps an SSN-like or account-like number: %q", m.Text)
		}
		for _, c := range m.Candidates {
			for k, v := range c.Fields {
				if !isField(k) {
					t.Errorf("field %q is not canonical", k)
				}
				if strings.TrimSpace(v) == "" {
					t.Errorf("field %s set to an empty value", k)
				}
				if masked, _ := maskDigits(v, k == "client_zip"); masked != v {
					t.Errorf("field %s keeps an SSN-like or account-like number: %q", k, v)
				}
			}
		}
	})
}

// FuzzAttachment feeds each attachment reader (CSV, XLSX, PDF, DOCX, JSON,
// vCard, text, forwarded message) arbitrary bytes directly, seeded with the
// files in testdata's messages: a reader may find nothing or call the file
// unreadable, but must not panic (readSafely would hide a panic, so this
// calls the readers bare), hang or break the candidates' promises.
func FuzzAttachment(f *testing.F) {
	kinds := []string{kindCSV, kindXLSX, kindPDF, kindDOCX, kindJSON, kindVCard, kindText, kindHTML, kindMessage}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		m, err := Parse(bytes.NewReader(b), Options{})
		if err != nil {
			continue
		}
		for _, a := range m.Attachments {
			k := kindOf(a.ContentType, a.Filename, a.Data)
			for i, kind := range kinds {
				if kind == k {
					f.Add(uint8(i), a.Data)
				}
			}
		}
	}
	f.Add(uint8(0), []byte("a;b;c\n\"x;y\";2;3\n"))
	f.Add(uint8(4), []byte(`[{"label":"Client name","value":"Dana"},{"label":"Phone","value":"555-0142"}]`))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := kinds[int(k)%len(kinds)]
		w := &walker{opt: Options{MaxParts: 30, MaxPartBytes: 256 << 10, MaxAttachments: 5, MaxAttachmentBytes: 1 << 20,
			MaxUnzippedBytes: 4 << 20, CountryCode: "1", Deadline: time.Now().Add(5 * time.Second)},
			aliases: NewAliases(nil), msg: &Message{}}
		start := time.Now()
		a := attachmentPart{Params: map[string]string{}, Filename: "f"}
		// A reader that hangs would stall the fuzzer silently: crash it
		// instead, so the input is saved.
		watchdog := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("%s reader hangs", kind)) })
		cands, _, err := w.read(kind, a, data, 0)
		watchdog.Stop()
		if d := time.Since(start); d > 6*time.Second {
			t.Fatalf("%s reader took %v on %d bytes", kind, d, len(data))
		}
		if err != nil {
			var le *LimitError
			if !errors.As(err, &le) || le.Reason == "" {
				t.Fatalf("%s reader: %v (want only a *LimitError)", kind, err)
			}
			return
		}
		for _, c := range cands {
			for k, v := range c.Fields {
				if !isField(k) {
					t.Errorf("field %q is not canonical", k)
				}
				if strings.TrimSpace(v) == "" || !utf8.ValidString(v) {
					t.Errorf("field %s = %q", k, v)
				}
				if masked, _ := maskDigits(v, k == "client_zip"); masked != v {
					t.Errorf("field %s keeps an SSN-like or account-like number: %q", k, v)
				}
			}
		}
	})
}

// maskTextBySplit is maskText as it was first written (line by line with
// strings.Split); FuzzMaskText holds the faster one to it.
func maskTextBySplit(text string) string {
	if text == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if !strings.ContainsAny(line, "0123456789") {
			continue
		}
		if ll, ok := splitLabelLine(line); ok && ll.value != "" && sensitiveLabel(ll.label) != notSensitive {
			line = line[:ll.valueAt] + removed
		}
		lines[i], _ = maskDigits(line, false)
	}
	return strings.Join(lines, "\n")
}

func FuzzMaskText(f *testing.F) {
	for _, s := range []string{"", "\n", "a\n", "SSN: 123-45-6789\nok\n", "card 4111 1111 1111 1111", "\n\nPhone: 555-0142\n", "x\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := maskText(s), maskTextBySplit(s); got != want {
			t.Errorf("maskText(%q) = %q, want %q", s, got, want)
		}
	})
}

func FuzzMailDate(f *testing.F) {
	for _, s := range []string{"Mon, 23 Nov 2026 10:00:00 -0600", "Mon, 2 Jan 2006 15:04:05 +0000", "23 Nov 2026 10:00:00 -0600",
		"Mon, 23 Nov 2026 10:00:00 -0600 (CST)", " Mon, 23 Nov 2026 10:00:00 -0600", "Xyz, 31 Feb 2026 10:00:00 +1400", "Mon, 23 Nov 26 10:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := parseMailDate(s)
		want, werr := netmail.ParseDate(s)
		if (gerr == nil) != (werr == nil) || !got.Equal(want) || got.Location().String() != want.Location().String() || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) {
			t.Errorf("parseMailDate(%q) = %v, %v; net/mail %v, %v", s, got, gerr, want, werr)
		}
	})
}

// subjectSignalRegexps is subjectSignal as it was, every regexp tried on
// every subject: FuzzSubjectSignal compares the two.
// bounceSubjectRE is what bounceSubject does, as the regexp it was.
var bounceSubjectRE = regexp.MustCompile(`^(\*+\s*)?(undeliverable|undelivered mail|delivery status notification|delivery notification|delivery failure|delivery failed|delivery has failed|delivery problem|delivery report|mail delivery failed|mail delivery failure|mail delivery problem|mail delivery error|mail delivery system|mail system error|returned mail|failure notice|failure delivery|failed mail|non-delivery|nondelivery|non delivery|nondeliverable|message status - undeliverable|message delayed|delayed mail|mail could not be delivered|message could not be delivered|could not send message|warning: could not send|non remis|non recapitabile|olevererbart|unzustellbar|onbestelbaar|no entregado|unable to deliver|notice: mail delivery status|message undeliverable|there was an error sending your mail|email delivery error|postmaster notify|message you sent blocked|メールエラー|配信エラー)`)

func subjectSignalRegexps(subject string) string {
	if lotusAutoRE.MatchString(strings.TrimSpace(subject)) {
		return `"AUTO:" (Lotus Notes auto-reply)`
	}
	f := foldSubject(subject)
	if m := autoSubjectRE.FindString(f); m != "" {
		return `"` + m + `" (auto-reply)`
	}
	if m := autoBracketRE.FindString(f); m != "" {
		return `"` + m + `" (auto-reply)`
	}
	if !replyPrefixRE.MatchString(f) {
		if m := autoPhraseRE.FindString(f); m != "" {
			return `"` + m + `" (auto-reply)`
		}
	}
	if m := bounceSubjectRE.FindString(f); m != "" {
		return `"` + m + `" (delivery failure)`
	}
	return ""
}

func FuzzBounceSubject(f *testing.F) {
	for _, s := range []string{"", "undeliverable: x", "*** delivery failure", "**\t\vreturned mail", "*", "* non remis", "配信エラー"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := bounceSubject(s), bounceSubjectRE.FindString(s); got != want {
			t.Errorf("bounceSubject(%q) = %q, the regexp: %q", s, got, want)
		}
	})
}

func FuzzSubjectSignal(f *testing.F) {
	for _, s := range []string{"", "New referral 12", "Automatic reply: Out", "Out of Office: back Monday", "Re: automatic reply: x",
		"[Auto-Reply] hello", "(Automatic Response)", "Arpus biroja atrasanas automatiska atbilde: x", "AUTO: away",
		"Undeliverable: referral", "*** Delivery failure", "Réponse automatique : absent", "Automatische Antwort：x", "FW: auto reply:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := subjectSignal(s), subjectSignalRegexps(s); got != want {
			t.Errorf("subjectSignal(%q) = %q, every regexp: %q", s, got, want)
		}
	})
}

// kindOf is the reader attachment picks for a whole file held in memory:
// kindOfHead, then zipKind for an archive.
func kindOf(mt, filename string, data []byte) string {
	k := kindOfHead(mt, filename, data[:min(len(data), sniffBytes)])
	if k == kindZip {
		k = zipKind(bytes.NewReader(data), int64(len(data)))
	}
	return k
}
