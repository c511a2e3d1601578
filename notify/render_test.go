package notify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/parse"
	"refdesk/store"
)

func demoConfig(t testing.TB) *configs.Config {
	t.Helper()
	cfg, err := configs.Demo()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newRenderer(t *testing.T, cfg *configs.Config) *notify.Renderer {
	t.Helper()
	r, err := notify.NewRenderer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serviceInfo snapshots a configured service the way intake does.
func serviceInfo(t *testing.T, cfg *configs.Config, id string) *store.ServiceInfo {
	t.Helper()
	s := cfg.Service(id)
	if s == nil {
		t.Fatalf("no service %s in the config", id)
	}
	return &store.ServiceInfo{ID: s.ID, Name: s.Name, Contact: s.Contact, Email: s.Email, About: s.About}
}

// replyFor is a realistic reply of each kind, as intake would enqueue it.
func replyFor(t *testing.T, cfg *configs.Config, kind string) store.Reply {
	t.Helper()
	base := store.ReplyItem{Ref: "R-1042", Decision: kind, CaseID: "NH-2291", Client: "Dana W."}
	switch kind {
	case "accepted", "duplicate":
		return store.Reply{Items: []store.ReplyItem{base}}
	case "redirected":
		base.Service = serviceInfo(t, cfg, "emergency-desk")
		base.Reason = cfg.Rules[0].Reason
		return store.Reply{Items: []store.ReplyItem{base}}
	case "needs-info":
		base.Missing = []string{"consent", "contact"}
		return store.Reply{Items: []store.ReplyItem{base}}
	case "waitlisted":
		base.Reason = "The program is at capacity this month."
		return store.Reply{Items: []store.ReplyItem{base}}
	case "unknown-sender", "too-large":
		return store.Reply{}
	case "batch":
		red := store.ReplyItem{Ref: "R-1043", Decision: "redirected", CaseID: "NH-2292", Client: "Sam O.",
			Source: "clients.csv row 3", Service: serviceInfo(t, cfg, "county-211"), Reason: "The client lives outside our service area."}
		ni := store.ReplyItem{Ref: "R-1044", Decision: "needs-info", Client: "Lee P.", Source: "clients.csv row 4",
			Missing: []string{"consent"}}
		acc := base
		acc.Decision, acc.Source = "accepted", "clients.csv row 2"
		return store.Reply{Items: []store.ReplyItem{acc, red, ni}}
	}
	t.Fatalf("no sample reply for kind %q", kind)
	return store.Reply{}
}

func outMsg(t *testing.T, kind string, reply store.Reply) *store.OutMsg {
	t.Helper()
	data, err := json.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	return &store.OutMsg{ID: 7, Kind: kind, MessageID: "5f2a9c.refdesk@eastside.example",
		To: "maria@northside-housing.example", InReplyTo: "CAF+referral-1@northside-housing.example",
		References: "CAF+referral-1@northside-housing.example", Subject: "Referral for financial coaching",
		Data: data, CreatedAt: time.Date(2026, 11, 4, 15, 0, 0, 0, time.UTC), Status: store.OutPending}
}

func TestRenderEveryKind(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	wantSubject := map[string][]string{
		"accepted":       {"Re: Referral for financial coaching", "[R-1042]", "accepted"},
		"redirected":     {"[R-1042]", "better fit elsewhere"},
		"needs-info":     {"[R-1042]", "need more information"},
		"duplicate":      {"[R-1042]", "already referred"},
		"waitlisted":     {"[R-1042]", "waitlisted"},
		"unknown-sender": {"Re: Referral for financial coaching"},
		"batch":          {"[3 referrals]"},
		"too-large":      {"Re: Referral for financial coaching", "too large"},
	}
	if len(wantSubject) != len(notify.Kinds) {
		t.Errorf("notify.Kinds = %q; this test knows %d kinds", notify.Kinds, len(wantSubject))
	}
	for _, kind := range notify.Kinds {
		t.Run(kind, func(t *testing.T) {
			reply := replyFor(t, cfg, kind)
			got, err := r.Render(outMsg(t, kind, reply))
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(got.Subject, "\r\n") || got.Subject != strings.TrimSpace(got.Subject) {
				t.Errorf("subject is not one trimmed line: %q", got.Subject)
			}
			if !strings.HasPrefix(got.Subject, "Re: ") {
				t.Errorf("subject %q does not start with Re:", got.Subject)
			}
			for _, w := range wantSubject[kind] {
				if !strings.Contains(got.Subject, w) {
					t.Errorf("subject %q lacks %q", got.Subject, w)
				}
			}
			for part, body := range map[string]string{"text": got.Text, "html": got.HTML} {
				if strings.Contains(body, "<no value>") {
					t.Errorf("%s part has <no value>:\n%s", part, body)
				}
				if strings.TrimSpace(body) == "" {
					t.Errorf("%s part is empty", part)
				}
				// Who to call and who we are.
				for _, w := range []string{cfg.Program.Name, cfg.Program.Phone} {
					if !strings.Contains(body, w) {
						t.Errorf("%s part does not name %q", part, w)
					}
				}
				// Each referral's reference, the partner's case ID and the
				// client's first name and last initial.
				for _, it := range reply.Items {
					for _, w := range []string{it.Ref, it.CaseID, it.Client} {
						if w != "" && !strings.Contains(body, w) {
							t.Errorf("%s part does not show %q", part, w)
						}
					}
				}
			}
			if !strings.HasPrefix(got.HTML, "<!DOCTYPE html>") || !strings.Contains(got.HTML, "</html>") {
				t.Errorf("HTML part is not a whole document: %.80q...", got.HTML)
			}
			if strings.Contains(got.Text, "<p>") || strings.Contains(got.Text, "&lt;") {
				t.Errorf("text part carries HTML:\n%s", got.Text)
			}
		})
	}
}

func TestNeedsInfoListsExactlyTheMissingFields(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	cases := []struct {
		name    string
		missing []string
		labels  []string
	}{
		{"consent and contact", []string{"consent", "contact"}, []string{"Consent", "Phone or email for the client"}},
		{"name only", []string{"client_name"}, []string{"Client name"}},
		{"nothing looked like a referral", []string{"client_name", "contact", "consent"}, []string{"Client name", "Phone or email for the client", "Consent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reply := store.Reply{Items: []store.ReplyItem{{Ref: "R-1050", Decision: "needs-info", Client: "Dana W.", Missing: c.missing}}}
			got, err := r.Render(outMsg(t, "needs-info", reply))
			if err != nil {
				t.Fatal(err)
			}
			// Text: the list is the "  - Label (help)" lines.
			var listed []string
			for _, l := range strings.Split(got.Text, "\n") {
				if item, ok := strings.CutPrefix(l, "  - "); ok {
					label, _, _ := strings.Cut(item, " (")
					listed = append(listed, label)
				}
			}
			if !slices.Equal(listed, c.labels) {
				t.Errorf("text lists %q, want exactly %q\n%s", listed, c.labels, got.Text)
			}
			// HTML: one <li> per missing field.
			var html []string
			for _, m := range regexp.MustCompile(`<li><b>([^<]*)</b>`).FindAllStringSubmatch(got.HTML, -1) {
				html = append(html, m[1])
			}
			if !slices.Equal(html, c.labels) {
				t.Errorf("HTML lists %q, want exactly %q", html, c.labels)
			}
			form := notify.BlankForm(cfg.Intake.Required)
			if !strings.Contains(got.Text, form) {
				t.Errorf("text part lacks the copy-ready form:\n%s", got.Text)
			}
			if !strings.Contains(got.HTML, "<pre") || !strings.Contains(got.HTML, "Client name: ") {
				t.Errorf("HTML part lacks the form")
			}
			if !strings.Contains(got.Text, "R-1050") {
				t.Errorf("text part lacks the reference to reply with")
			}
		})
	}
}

func TestBlankFormIsReadBackByTheParser(t *testing.T) {
	form := notify.BlankForm([]string{"client_name", "contact", "consent"})
	lines := strings.Split(strings.TrimSuffix(form, "\n"), "\n")
	// Required fields first: name, then phone and email for "contact", then consent.
	wantFirst := []string{"client_name", "client_phone", "client_email", "consent"}
	aliases := parse.NewAliases(nil)
	var fields []string
	for _, l := range lines {
		label, ok := strings.CutSuffix(l, ": ")
		if !ok {
			t.Fatalf("form line %q is not \"Label: \"", l)
		}
		f, ok := aliases.Field(label)
		if !ok {
			t.Errorf("the parser does not know the form's label %q", label)
		}
		fields = append(fields, f)
	}
	if len(fields) < len(wantFirst) || !slices.Equal(fields[:len(wantFirst)], wantFirst) {
		t.Errorf("form starts with %q, want %q", fields, wantFirst)
	}
	for _, f := range parse.Fields {
		n := 0
		for _, g := range fields {
			if g == f.Name {
				n++
			}
		}
		want := 1
		if f.Name == "referrer_name" || f.Name == "referrer_phone" {
			want = 0 // taken from the sender
		}
		if n != want {
			t.Errorf("field %s is in the form %d times, want %d", f.Name, n, want)
		}
	}
}

func TestRedirectedNamesTheService(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	svc := cfg.Service("emergency-desk")
	got, err := r.Render(outMsg(t, "redirected", replyFor(t, cfg, "redirected")))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{svc.Name, svc.Contact, svc.Email, svc.About, cfg.Rules[0].Reason} {
		if !strings.Contains(got.Text, w) {
			t.Errorf("text part lacks %q", w)
		}
	}
	// html/template escapes "," nowhere, but the service name has no markup.
	for _, w := range []string{svc.Name, svc.Contact, "mailto:" + svc.Email} {
		if !strings.Contains(got.HTML, w) {
			t.Errorf("HTML part lacks %q", w)
		}
	}
}

func TestHTMLEscapesFieldValues(t *testing.T) {
	cfg := demoConfig(t)
	r := newRenderer(t, cfg)
	const evil = `<script>x</script>&`
	const escaped = `&lt;script&gt;x&lt;/script&gt;&amp;`
	for _, kind := range notify.Kinds {
		if kind == "unknown-sender" || kind == "too-large" {
			continue // carries no referral
		}
		t.Run(kind, func(t *testing.T) {
			reply := replyFor(t, cfg, kind)
			for i := range reply.Items {
				reply.Items[i].CaseID = evil
				reply.Items[i].Client = `Dana <b>W.</b>`
			}
			got, err := r.Render(outMsg(t, kind, reply))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got.HTML, "<script>") || strings.Contains(got.HTML, "<b>W.</b>") {
				t.Errorf("HTML part carries the case ID or client unescaped")
			}
			if !strings.Contains(got.HTML, escaped) {
				t.Errorf("HTML part lacks the escaped case ID %q", escaped)
			}
			if !strings.Contains(got.Text, evil) {
				t.Errorf("text part should show the case ID as written")
			}
		})
	}
}

func TestAcceptedPromisesFirstContactInProgramTime(t *testing.T) {
	cases := []struct {
		name     string
		received time.Time
		days     int
		want     string
	}{
		// 03:00 UTC Saturday is still Friday evening in Chicago.
		{"friday evening in Chicago", time.Date(2026, 11, 7, 3, 0, 0, 0, time.UTC), 2, "Tuesday, November 10"},
		{"wednesday", time.Date(2026, 11, 4, 15, 0, 0, 0, time.UTC), 2, "Friday, November 6"},
		{"saturday", time.Date(2026, 11, 7, 18, 0, 0, 0, time.UTC), 1, "Monday, November 9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := demoConfig(t)
			cfg.Program.FirstContactDays = c.days
			r := newRenderer(t, cfg)
			o := outMsg(t, "accepted", replyFor(t, cfg, "accepted"))
			o.CreatedAt = c.received
			got, err := r.Render(o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got.Text, "by "+c.want) || !strings.Contains(got.HTML, c.want) {
				t.Errorf("accepted reply does not promise contact by %s:\n%s", c.want, got.Text)
			}
		})
	}
}

func TestSubjectStaysOneLine(t *testing.T) {
	r := newRenderer(t, demoConfig(t))
	for _, subject := range []string{
		"Referral\r\nBcc: attacker@evil.example",
		"Referral\nX-Injected: yes",
		"  lots   of\tspace  ",
		"",
	} {
		o := outMsg(t, "accepted", store.Reply{Items: []store.ReplyItem{{Ref: "R-1042", Decision: "accepted"}}})
		o.Subject = subject
		got, err := r.Render(o)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(got.Subject, "\r\n\t") || strings.Contains(got.Subject, "  ") {
			t.Errorf("subject from %q is %q", subject, got.Subject)
		}
		if subject == "" && !strings.HasPrefix(got.Subject, "Re: Referral [R-1042]") {
			t.Errorf("empty subject gives %q, want Re: Referral [R-1042]...", got.Subject)
		}
	}
}

func TestTemplateOverrideDirectory(t *testing.T) {
	write := func(t *testing.T, dir, name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a file replaces the embedded one by name", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "accepted.tmpl", `{{define "accepted.subject"}}Welcome aboard: {{.Item.Ref}}{{end}}
{{define "accepted.text"}}Custom text for {{.Item.Ref}}.{{end}}
{{define "accepted.html"}}<p>Custom HTML for {{.Item.CaseID}}</p>{{end}}`)
		write(t, dir, "notes.txt", `{{define "redirected.subject"}}ignored: not a .tmpl file{{end}}`)
		cfg := demoConfig(t)
		cfg.Templates.Dir = dir
		r := newRenderer(t, cfg)
		o := outMsg(t, "accepted", replyFor(t, cfg, "accepted"))
		o.Data, _ = json.Marshal(store.Reply{Items: []store.ReplyItem{{Ref: "R-1042", Decision: "accepted", CaseID: "<b>"}}})
		got, err := r.Render(o)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != "Welcome aboard: R-1042" || got.Text != "Custom text for R-1042." || got.HTML != "<p>Custom HTML for &lt;b&gt;</p>" {
			t.Errorf("override not used (or HTML not escaped): %+v", got)
		}
		// The other kinds keep the embedded templates.
		other, err := r.Render(outMsg(t, "redirected", replyFor(t, cfg, "redirected")))
		if err != nil || !strings.Contains(other.Subject, "better fit elsewhere") {
			t.Errorf("redirected subject = %q, %v", other.Subject, err)
		}
	})

	broken := []struct {
		name, file, text string
	}{
		{"syntax error", "needs-info.tmpl", `{{define "needs-info.subject"}}{{.Item.Ref{{end}}`},
		{"unknown field", "redirected.tmpl", `{{define "redirected.subject"}}{{.Item.Nope}}{{end}}
{{define "redirected.text"}}x{{end}}{{define "redirected.html"}}x{{end}}`},
		{"unknown function", "waitlisted.tmpl", `{{define "waitlisted.subject"}}{{shout .Item.Ref}}{{end}}`},
		{"a part left out", "duplicate.tmpl", `{{define "duplicate.subject"}}Dup {{.Item.Ref}}{{end}}
{{define "duplicate.text"}}x{{end}}`},
	}
	for _, b := range broken {
		t.Run("broken: "+b.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, b.file, b.text)
			cfg := demoConfig(t)
			cfg.Templates.Dir = dir
			r, err := notify.NewRenderer(cfg)
			if err == nil {
				t.Fatalf("NewRenderer accepted a broken %s", b.file)
			}
			if r != nil {
				t.Errorf("a renderer came back with the error")
			}
			if !strings.Contains(err.Error(), b.file) {
				t.Errorf("error %q does not name %s", err, b.file)
			}
		})
	}
}
