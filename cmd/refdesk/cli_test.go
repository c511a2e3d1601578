package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/ingest"
	"refdesk/store"
)

// run runs the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// demoConfigFile writes configs/demo.toml with its database in a temp dir.
func demoConfigFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b = bytes.Replace(b, []byte(`path = "refdesk-demo.db"`), []byte(`path = "refdesk.db"`), 1)
	path := filepath.Join(dir, "refdesk.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseDryRunContract(t *testing.T) {
	cfg := demoConfigFile(t)
	cases := []struct {
		file, disposition, decision, rule string
		missing                           []string
	}{
		{"plain-accepted.eml", "referral", "accepted", "", nil},
		{"outlook-table.eml", "referral", "accepted", "", nil},
		{"gmail-html.eml", "referral", "accepted", "", nil},
		{"apple-html.eml", "referral", "accepted", "", nil},
		{"bullets-bold.eml", "referral", "accepted", "", nil},
		{"multiline.eml", "referral", "accepted", "", nil},
		{"latin1.eml", "referral", "accepted", "", nil},
		{"quoted-thread.eml", "referral", "accepted", "", nil},
		{"signature.eml", "referral", "accepted", "", nil},
		{"forwarded.eml", "referral", "accepted", "", nil},
		{"ssn.eml", "referral", "accepted", "", nil},
		{"crisis.eml", "referral", "redirected", "crisis-words", nil},
		{"out-of-area.eml", "referral", "redirected", "out-of-area", nil},
		{"minor.eml", "referral", "redirected", "minor", nil},
		{"missing-consent.eml", "referral", "needs-info", "", []string{"consent"}},
		{"missing-contact.eml", "referral", "needs-info", "", []string{"contact"}},
		{"autoreply.eml", "ignored", "", "", nil},
		{"exchange-oof.eml", "ignored", "", "", nil},
		{"bounce-dsn.eml", "ignored", "", "", nil},
		{"list.eml", "ignored", "", "", nil},
		{"spoofed.eml", "held", "", "", nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			out, _, err := run(t, "--config", cfg, "parse", "--json", filepath.Join("../../parse/testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &raw); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out)
			}
			for _, k := range []string{"disposition", "reason", "referrals"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("contract key %q missing", k)
				}
			}
			var got struct {
				Disposition string
				Reason      string
				Referrals   []map[string]json.RawMessage
			}
			json.Unmarshal([]byte(out), &got)
			if got.Disposition != c.disposition {
				t.Fatalf("disposition = %s (%s), want %s", got.Disposition, got.Reason, c.disposition)
			}
			if c.decision == "" {
				if len(got.Referrals) != 0 {
					t.Errorf("%d referrals for %s mail", len(got.Referrals), c.disposition)
				}
				if got.Reason == "" {
					t.Errorf("no reason given for %s", c.disposition)
				}
				return
			}
			if len(got.Referrals) != 1 {
				t.Fatalf("%d referrals, want 1", len(got.Referrals))
			}
			r := got.Referrals[0]
			for _, k := range []string{"decision", "rule", "service", "missing", "fields"} {
				if _, ok := r[k]; !ok {
					t.Errorf("referral key %q missing", k)
				}
			}
			var decision, rule string
			var missing []string
			var fields map[string]string
			json.Unmarshal(r["decision"], &decision)
			json.Unmarshal(r["rule"], &rule)
			json.Unmarshal(r["missing"], &missing)
			json.Unmarshal(r["fields"], &fields)
			if decision != c.decision || rule != c.rule || !slices.Equal(missing, c.missing) && len(missing)+len(c.missing) > 0 {
				t.Errorf("decision/rule/missing = %s/%s/%v, want %s/%s/%v", decision, rule, missing, c.decision, c.rule, c.missing)
			}
			if fields["client_name"] == "" {
				t.Errorf("no client_name read: %v", fields)
			}
			if decision == "redirected" {
				var svc string
				json.Unmarshal(r["service"], &svc)
				if svc == "" {
					t.Errorf("a redirect without a service")
				}
			}
		})
	}
	t.Run("an SSN never appears", func(t *testing.T) {
		for _, args := range [][]string{{"parse", "--json"}, {"parse"}} {
			out, _, err := run(t, append(append([]string{"--config", cfg}, args...), "../../parse/testdata/ssn.eml")...)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"123-45-6789", "123 45 6789", "123456789", "000123456789"} {
				if strings.Contains(out, bad) {
					t.Errorf("%v output contains %q", args, bad)
				}
			}
		}
	})
}

// A dry run on a machine with no refdesk.toml (a fresh clone) decides with
// the demo's config and says so, rather than failing.
func TestParseWithoutAConfigUsesTheDemo(t *testing.T) {
	msg, err := filepath.Abs("../../parse/testdata/crisis.eml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("REFDESK_CONFIG", "")
	t.Chdir(t.TempDir())
	out, errOut, err := run(t, "parse", msg, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Referrals []struct{ Decision, Rule string } `json:"referrals"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Referrals) != 1 || res.Referrals[0].Decision != "redirected" {
		t.Errorf("parse without a config: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "demo") {
		t.Errorf("no word that the demo's config decided: %q", errOut)
	}
	// A config that is named but missing is still an error.
	if _, _, err := run(t, "--config", "missing.toml", "parse", msg); err == nil {
		t.Error("parse with a missing --config succeeded")
	}
}

func TestCheckReportsEveryProblemWithItsLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte(`[program]
name = "X"
reply_from = "X <x@example.org>"
timezone = "Mars/Olympus"

[imap]
address = "imap.example.org:143"
security = "none"
username = "u"
password_env = "P"

[smtp]
address = "smtp.example.org:587"
auth = "none"

[[partners]]
id = "p"
name = "P"

[[rules]]
id = "r"
then = "redirect"
service = "nowhere"
reason = "because"
keywords = ["x"]
`), 0o600)
	_, errOut, err := run(t, "--config", path, "check")
	if err == nil {
		t.Fatal("check passed a bad config")
	}
	for _, want := range []string{
		path + ":4: program.timezone:",
		path + ":8: imap.security:",
		path + ":16: partners[0]:",
		path + ":23: rules[0].service:",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}

	os.WriteFile(path, []byte("[imap]\npasword_env = \"X\"\n"), 0o600)
	_, errOut, err = run(t, "--config", path, "check")
	if err == nil || !strings.Contains(errOut, path+":2: imap.pasword_env: unknown key") {
		t.Errorf("unknown key: %v\n%s", err, errOut)
	}
	// Other commands say it on one line.
	_, _, err = run(t, "--config", path, "list")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "pasword_env") {
		t.Errorf("list with a bad config: %q", err)
	}
}

// fill takes messages into the database of a config file, as intake does.
func fill(t *testing.T, cfgPath string, msgs ...string) {
	t.Helper()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	proc := ingest.NewProcessor(cfg)
	var n int
	st.DB().Get(&n, "SELECT count(*) FROM messages")
	for i, m := range msgs {
		raw := []byte(strings.ReplaceAll(m, "\n", "\r\n"))
		err := st.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := proc.Process(tx, ingest.Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(n + i + 1), Raw: raw, Size: int64(len(raw)), Received: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

const (
	msgDana = `From: Maria Lopez <maria.lopez@northside-housing.example>
To: referrals@eastside.example
Subject: New referral
Message-ID: <dana-1@northside-housing.example>
Date: Mon, 23 Nov 2026 10:00:00 -0600

Client name: Dana Whitfield
Phone: 555-014-2000
ZIP: 60601
Consent: yes
Share outcomes: yes
Case ID: NHA-2291
`
	msgStranger = `From: Sam <sam@gmail.example>
To: referrals@eastside.example
Subject: my neighbor
Message-ID: <sam-1@gmail.example>

Name: Rosa Diaz
Phone: 555-014-9090
Consent: yes
`
)

func TestCoachWorkflow(t *testing.T) {
	cfg := demoConfigFile(t)
	fill(t, cfg, msgDana, msgStranger)
	t.Setenv("REFDESK_USER", "coach.kim")

	out, _, err := run(t, "--config", cfg, "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "status", "decision", "partner", "received_at", "client_name", "fields"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("list --json lacks %q", k)
		}
	}
	if _, err := time.Parse(time.RFC3339, list[0]["received_at"].(string)); err != nil {
		t.Errorf("received_at is not RFC 3339: %v", list[0]["received_at"])
	}
	ref := list[0]["id"].(string)
	if ref != "R-1001" || list[0]["status"] != "accepted" {
		t.Fatalf("first referral: %v", list[0])
	}

	steps := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"update", ref, "completed"}, "cannot move to completed"},
		{[]string{"update", ref, "client-declined"}, "reason is required"},
		{[]string{"note", ref, "--contact", "left a voicemail"}, ""},
		{[]string{"update", ref, "scheduled", "--note", "Tue 10am"}, ""},
		{[]string{"update", ref, "enrolled"}, ""},
		{[]string{"update", ref, "accepted", "--force", "--by", "lead.ortiz", "--note", "reopened"}, ""},
		{[]string{"update", "R-9999", "scheduled"}, "no referral R-9999"},
		{[]string{"update", ref, "bogus"}, "unknown status"},
	}
	for _, s := range steps {
		_, _, err := run(t, append([]string{"--config", cfg}, s.args...)...)
		switch {
		case s.wantErr == "" && err != nil:
			t.Errorf("%v: %v", s.args, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%v: error %v, want %q", s.args, err, s.wantErr)
		}
	}

	out, _, err = run(t, "--config", cfg, "show", ref, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Status       string `json:"status"`
		Decision     string `json:"decision"`
		FirstContact string `json:"first_contact_at"`
		Events       []struct {
			By, Kind, From, To, Note string
			Forced                   bool
		} `json:"events"`
		Messages []map[string]any `json:"messages"`
		Replies  []map[string]any `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatal(err)
	}
	if show.Status != "accepted" || show.Decision != "accepted" || show.FirstContact == "" {
		t.Errorf("show: status %s decision %s first contact %q", show.Status, show.Decision, show.FirstContact)
	}
	var trail []string
	for _, e := range show.Events {
		trail = append(trail, e.Kind+":"+e.To+":"+e.By)
	}
	want := "created:accepted:refdesk contact::coach.kim status:scheduled:coach.kim status:enrolled:coach.kim status:accepted:lead.ortiz"
	if got := strings.Join(trail, " "); got != want {
		t.Errorf("history:\n got %s\nwant %s", got, want)
	}
	if last := show.Events[len(show.Events)-1]; !last.Forced {
		t.Errorf("the forced change is not marked forced")
	}
	if len(show.Messages) != 1 || len(show.Replies) != 1 {
		t.Errorf("show lists %d messages and %d replies, want 1 and 1", len(show.Messages), len(show.Replies))
	}
	// list --json carries the same history (SPEC §7: events in every listing).
	out, _, err = run(t, "--config", cfg, "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var again []struct {
		ID     string                          `json:"id"`
		Events []struct{ Kind, To, By string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &again); err != nil || len(again) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	trail = nil
	for _, e := range again[0].Events {
		trail = append(trail, e.Kind+":"+e.To+":"+e.By)
	}
	if got := strings.Join(trail, " "); got != want {
		t.Errorf("list --json history:\n got %s\nwant %s", got, want)
	}
	// show's timeline is in order of time: the message, what it made, the
	// reply, then the coaches' changes.
	out, _, err = run(t, "--config", cfg, "show", ref)
	if err != nil {
		t.Fatal(err)
	}
	_, timeline, _ := strings.Cut(out, "timeline:")
	msgAt, createdAt, forcedAt := strings.Index(timeline, "message M-1"), strings.Index(timeline, "-> accepted"), strings.Index(timeline, "(forced)")
	replyAt := strings.Index(timeline, "reply O-")
	if msgAt < 0 || createdAt < msgAt || replyAt < createdAt || forcedAt < replyAt {
		t.Errorf("timeline out of order:%s", timeline)
	}

	// The held queue.
	out, _, err = run(t, "--config", cfg, "held", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var held []map[string]any
	json.Unmarshal([]byte(out), &held)
	if len(held) != 1 || held[0]["from"] != "sam@gmail.example" || !strings.Contains(held[0]["reason"].(string), "unknown sender") {
		t.Fatalf("held: %s", out)
	}
	id := held[0]["id"].(string)
	if _, _, err := run(t, "--config", cfg, "release", id); err == nil || !strings.Contains(err.Error(), "--partner") {
		t.Errorf("release of an unknown sender without --partner: %v", err)
	}
	out, _, err = run(t, "--config", cfg, "release", id, "--partner", "northside-housing")
	if err != nil || !strings.Contains(out, "R-1002") {
		t.Fatalf("release: %v %s", err, out)
	}
	if _, _, err := run(t, "--config", cfg, "discard", id); err == nil {
		t.Errorf("a released message could be discarded")
	}
	out, _, _ = run(t, "--config", cfg, "held", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("held after release: %s", out)
	}

	// The outbox.
	out, _, err = run(t, "--config", cfg, "outbox", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var outbox []map[string]any
	json.Unmarshal([]byte(out), &outbox)
	if len(outbox) != 2 || outbox[0]["status"] != "pending" {
		t.Errorf("outbox: %s", out)
	}
	if _, _, err := run(t, "--config", cfg, "retry", "O-1"); err == nil {
		t.Errorf("a pending message could be retried")
	}
	out, _, err = run(t, "--config", cfg, "list")
	if err != nil || !strings.Contains(out, "R-1002") || !strings.Contains(out, "STATUS") {
		t.Errorf("list table:\n%s", out)
	}
}

func TestDemoOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"demo", "--once"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("demo --once: %v\n%s", err, out.String())
	}
	for _, want := range []string{"accepted", "redirected", "needs-info", "follow-up to R-1004: accepted", "ignored", "held", "duplicate"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
