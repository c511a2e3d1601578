package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"refdesk/configs"
	"refdesk/notify"
	"refdesk/store"
)

// dryRun runs `refdesk parse FILE --json` on a testdata message.
func dryRun(t *testing.T, cfg, file string) (out struct {
	Disposition string `json:"disposition"`
	Reason      string `json:"reason"`
	Reply       string `json:"reply"`
	NoReply     string `json:"no_reply"`
	Referrals   []struct {
		Decision string            `json:"decision"`
		Rule     string            `json:"rule"`
		Service  string            `json:"service"`
		Missing  []string          `json:"missing"`
		Source   string            `json:"source"`
		Fields   map[string]string `json:"fields"`
		Notes    []string          `json:"notes"`
	} `json:"referrals"`
	Attachments []struct {
		Filename   string `json:"filename"`
		Candidates int    `json:"candidates"`
		Problem    string `json:"problem"`
	} `json:"attachments"`
}) {
	t.Helper()
	stdout, _, err := run(t, "--config", cfg, "parse", "--json", filepath.Join("../../parse/testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	return out
}

// TestParseAttachmentsDryRun: the dry run reads referrals the way partners
// send them: attached spreadsheets, forms, contact cards, web-form JSON and
// forwarded mail.
func TestParseAttachmentsDryRun(t *testing.T) {
	cfg := demoConfigFile(t)
	type ref struct {
		decision, rule string
		missing        []string
		fields         map[string]string
	}
	tests := []struct {
		file    string
		reply   string
		noReply bool
		refs    []ref
	}{
		{file: "attach-csv-batch.eml", reply: "batch", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Dana Whitfield", "partner_case_id": "NH-3001"}},
			{"redirected", "crisis-words", nil, map[string]string{"client_name": "Keisha Brown", "partner_case_id": "NH-3002"}},
			{"needs-info", "", []string{"consent"}, map[string]string{"client_name": "Omar Haddad", "partner_case_id": "NH-3003"}},
		}},
		{file: "attach-xlsx.eml", reply: "batch", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Luis Ortega", "date_of_birth": "1979-07-04"}},
			{"accepted", "", nil, map[string]string{"client_name": "Aisha Bello", "date_of_birth": "1990-11-02"}},
		}},
		{file: "attach-pdf-form.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Nadia Petrov", "client_phone": "5550142055", "consent": "yes"}},
		}},
		{file: "attach-docx-form.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Marcus Reed", "client_phone": "5550142071", "consent": "yes"}},
		}},
		{file: "attach-vcard.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Rosa Delgado", "client_phone": "5550142081",
				"needs": "budgeting after a job loss, wants to save for a deposit", "consent": "yes"}},
		}},
		{file: "attach-json-noreply.eml", reply: "accepted", noReply: true, refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Samuel Ortiz", "consent": "yes"}},
		}},
		{file: "attach-forward-rfc822.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "José Peña", "partner_case_id": "NH-3070"}},
		}},
		{file: "malformed-multipart.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Priya Shah"}},
		}},
		{file: "attach-unreadable.eml", reply: "accepted", refs: []ref{
			{"accepted", "", nil, map[string]string{"client_name": "Ben Okafor"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := dryRun(t, cfg, tt.file)
			if got.Disposition != "referral" {
				t.Fatalf("disposition %s (%s)", got.Disposition, got.Reason)
			}
			if got.Reply != tt.reply || (got.NoReply != "") != tt.noReply {
				t.Errorf("reply %q, no_reply %q; want %q, held: %v", got.Reply, got.NoReply, tt.reply, tt.noReply)
			}
			if len(got.Referrals) != len(tt.refs) {
				t.Fatalf("%d referrals, want %d", len(got.Referrals), len(tt.refs))
			}
			for i, w := range tt.refs {
				r := got.Referrals[i]
				if r.Decision != w.decision || r.Rule != w.rule || !slices.Equal(r.Missing, w.missing) && len(r.Missing)+len(w.missing) > 0 {
					t.Errorf("referral %d: %s/%s/%v, want %s/%s/%v", i+1, r.Decision, r.Rule, r.Missing, w.decision, w.rule, w.missing)
				}
				for k, v := range w.fields {
					if r.Fields[k] != v {
						t.Errorf("referral %d: %s = %q, want %q", i+1, k, r.Fields[k], v)
					}
				}
			}
		})
	}
	t.Run("unreadable files are notes", func(t *testing.T) {
		got := dryRun(t, cfg, "attach-unreadable.eml")
		if len(got.Attachments) != 2 || got.Attachments[0].Problem == "" || len(got.Referrals[0].Notes) != 2 {
			t.Errorf("attachments %+v, notes %q", got.Attachments, got.Referrals[0].Notes)
		}
	})
	t.Run("the human output names the attachments and the held reply", func(t *testing.T) {
		out, _, err := run(t, "--config", cfg, "parse", "../../parse/testdata/attach-json-noreply.eml")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"attachment:  submission-S-88213.json", "1 referral(s)", "reply:       none: noreply-forms@northside-housing.example is a no-reply address"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestAttachmentsKept: a batch file and a form are stored with their
// referrals; show lists them and --save-attachments writes safe 0600 files;
// the batch reply names each row's case ID and row, never a full name; a
// reply to a noreply address is held and the outbox says so.
func TestAttachmentsKept(t *testing.T) {
	cfg := demoConfigFile(t)
	var msgs []string
	for _, f := range []string{"attach-csv-batch.eml", "attach-json-noreply.eml"} {
		b, err := os.ReadFile(filepath.Join("../../parse/testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, strings.ReplaceAll(string(b), "\r\n", "\n"))
	}
	fill(t, cfg, msgs...)

	out, _, err := run(t, "--config", cfg, "show", "R-1002", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Fields      map[string]string `json:"fields"`
		Attachments []struct {
			ID, Filename string
			Candidates   int
		} `json:"attachments"`
	}
	json.Unmarshal([]byte(out), &show)
	if show.Fields["client_name"] != "Keisha Brown" || len(show.Attachments) != 1 || show.Attachments[0].Filename != "march-referrals.csv" || show.Attachments[0].Candidates != 3 {
		t.Fatalf("show R-1002: %s", out)
	}
	out, _, _ = run(t, "--config", cfg, "show", "R-1004")
	if !strings.Contains(out, "attachments:") || !strings.Contains(out, "submission-S-88213.json") {
		t.Errorf("show R-1004 lists no attachment:\n%s", out)
	}

	dir := filepath.Join(t.TempDir(), "saved")
	if _, _, err := run(t, "--config", cfg, "show", "R-1001", "--save-attachments", dir); err != nil {
		t.Fatal(err)
	}
	run(t, "--config", cfg, "show", "R-1003", "--save-attachments", dir) // the same file again: a second name
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if !slices.Equal(names, []string{"march-referrals-2.csv", "march-referrals.csv"}) {
		t.Errorf("saved %q", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "march-referrals.csv")); !strings.Contains(string(b), "Omar Haddad") {
		t.Errorf("saved file: %q", b)
	}

	out, _, err = run(t, "--config", cfg, "outbox", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var outbox []struct {
		Kind      string `json:"kind"`
		To        string `json:"to"`
		Status    string `json:"status"`
		LastError string `json:"last_error"`
	}
	json.Unmarshal([]byte(out), &outbox)
	if len(outbox) != 2 {
		t.Fatalf("outbox: %s", out)
	}
	held := outbox[0] // newest first
	if held.Status != "suppressed" || !strings.Contains(held.LastError, "no-reply address") {
		t.Errorf("the reply to noreply-forms@ is not held: %s", out)
	}
	out, _, _ = run(t, "--config", cfg, "outbox")
	if !strings.Contains(out, "suppressed") || !strings.Contains(out, "not sent: noreply-forms@northside-housing.example is a no-reply address") {
		t.Errorf("outbox table:\n%s", out)
	}

	// The one reply for the batch: each row's outcome, case ID and row.
	c, err := configs.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), c.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	batch, err := st.OutMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var reply store.Reply
	json.Unmarshal(batch.Data, &reply)
	var items []string
	for _, it := range reply.Items {
		items = append(items, strings.Join([]string{it.Ref, it.Decision, it.CaseID, it.Client, it.Source}, "|"))
	}
	want := []string{"R-1001|accepted|NH-3001|Dana W.|row 2", "R-1002|redirected|NH-3002|Keisha B.|row 3", "R-1003|needs-info|NH-3003|Omar H.|row 4"}
	if batch.Kind != "batch" || !slices.Equal(items, want) {
		t.Errorf("batch reply %s items:\n%q\nwant\n%q", batch.Kind, items, want)
	}
	r, err := notify.NewRenderer(c)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.Render(batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Whitfield", "Brown", "Haddad", "5550142", "march-referrals"} {
		if strings.Contains(msg.Text+msg.HTML+msg.Subject, secret) {
			t.Errorf("the batch reply contains %q:\n%s", secret, msg.Text)
		}
	}
	for _, want := range []string{"NH-3001", "NH-3002", "NH-3003", "row 4", "Consent", "You can copy this template:\n\nClient name: \n"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("the batch reply lacks %q:\n%s", want, msg.Text)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct{ name, ctype, want string }{
		{"../../etc/passwd", "", "passwd"},
		{`C:\Users\maria\Desktop\form.pdf`, "", "form.pdf"},
		{"..", "application/pdf", "A-1.pdf"},
		{".bashrc", "", "bashrc"},
		{"a\x00b\nc|d.csv", "", "abc_d.csv"},
		{"", "message/rfc822", "A-1.eml"},
	}
	for _, tt := range tests {
		if got := safeFileName(tt.name, tt.ctype, "A-1"); got != tt.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFieldsAndTemplate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "refdesk.toml")
	b, _ := os.ReadFile(demoConfigFile(t))
	b = append(b, []byte("\n[fields.aliases]\nclient_name = [\"participant full name\"]\n")...)
	os.WriteFile(cfg, b, 0o600)
	out, _, err := run(t, "--config", cfg, "fields")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Client name (client_name)  [required]", "participant full name", "Consent (consent)", "partner_case_id"} {
		if !strings.Contains(out, want) {
			t.Errorf("fields lacks %q", want)
		}
	}
	out, _, err = run(t, "--config", cfg, "fields", "--json")
	var fields []struct {
		Name     string
		Required bool
		Labels   []string
	}
	if err != nil || json.Unmarshal([]byte(out), &fields) != nil || len(fields) < 10 || fields[0].Name != "client_name" || !fields[0].Required {
		t.Errorf("fields --json: %v %s", err, out)
	}
	out, _, err = run(t, "--config", cfg, "template")
	if err != nil || !strings.HasPrefix(out, "Client name: \nClient phone: \nClient email: \nConsent: \n") {
		t.Errorf("template: %v\n%s", err, out)
	}
	// The template a caseworker fills in is read back by the parser.
	filled := strings.NewReplacer("Client name: ", "Client name: Dana Whitfield", "Client phone: ", "Client phone: 555-0142",
		"Consent: ", "Consent: yes").Replace(out)
	msg := "From: Maria Lopez <maria.lopez@northside-housing.example>\nSubject: referral\n\n" + filled
	path := filepath.Join(dir, "filled.eml")
	os.WriteFile(path, []byte(msg), 0o600)
	res, _, err := run(t, "--config", cfg, "parse", "--json", path)
	if err != nil || !strings.Contains(res, `"decision": "accepted"`) {
		t.Errorf("a filled-in template: %v\n%s", err, res)
	}
}
