package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const msgRosa = `From: Maria Lopez <maria.lopez@northside-housing.example>
To: referrals@eastside.example
Subject: Another referral
Message-ID: <rosa-1@northside-housing.example>
Date: Mon, 23 Nov 2026 10:05:00 -0600

Client name: Rosa Quintana
Phone: 555-014-7777
ZIP: 60602
Consent: yes
Share outcomes: no
Case ID: NHA-3310
`

// The coach workflow of the issue, and the report preview, stats and
// export on the same records (no mail servers: the outbox is not sent).
func TestCloseTheLoopCommands(t *testing.T) {
	cfg := demoConfigFile(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(currentGrant(t, string(b))), 0o600)
	fill(t, cfg, msgDana, msgRosa)
	t.Setenv("REFDESK_USER", "coach.kim")
	cli := func(args ...string) (string, error) {
		out, _, err := run(t, append([]string{"--config", cfg}, args...)...)
		return out, err
	}
	steps := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"update", "R-1001", "completed"}, "cannot move to completed"},
		{[]string{"update", "R-1001", "client-declined"}, "reason is required"},
		{[]string{"outcome", "R-1001", "savings-increased", "--amount", "200"}, "outcomes are recorded for clients in coaching"},
		{[]string{"update", "R-1001", "scheduled"}, ""},
		{[]string{"update", "R-1001", "enrolled"}, ""},
		{[]string{"outcome", "R-1001", "savings-increased"}, "needs --amount"},
		{[]string{"outcome", "R-1001", "savings-increased", "--amount", "200", "--note", "emergency fund"}, ""},
		{[]string{"outcome", "R-1001", "credit-score-improved", "--points", "35", "--by", "lead.ortiz"}, ""},
		{[]string{"outcome", "R-1001", "lottery"}, "unknown outcome"},
		{[]string{"update", "R-1002", "scheduled"}, ""},
		{[]string{"update", "R-1002", "enrolled"}, ""},
		{[]string{"outcome", "R-1002", "budget-created"}, ""},
	}
	for _, s := range steps {
		_, err := cli(s.args...)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%v: %v", s.args, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%v: error %v, want %q", s.args, err, s.wantErr)
		}
	}

	out, err := cli("show", "R-1001", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Status   string
		Outcomes []struct {
			Kind        string
			Amount      json.Number
			AmountCents int64 `json:"amount_cents"`
			By, Note    string
		}
		Events []struct{ Kind, To, By, Note string }
	}
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatal(err)
	}
	if show.Status != "enrolled" || len(show.Outcomes) != 2 || show.Outcomes[0].Kind != "savings-increased" ||
		show.Outcomes[0].Amount.String() != "200.00" || show.Outcomes[0].AmountCents != 20000 || show.Outcomes[1].By != "lead.ortiz" {
		t.Errorf("show --json: %s", out)
	}
	var trail []string
	for _, e := range show.Events {
		trail = append(trail, e.Kind+":"+e.To)
	}
	if got, want := strings.Join(trail, " "), "created:accepted status:scheduled status:enrolled outcome: outcome:"; got != want {
		t.Errorf("history %s, want %s", got, want)
	}
	if out, _ := cli("show", "R-1001"); !strings.Contains(out, "savings-increased $200.00") || !strings.Contains(out, "outcomes:") {
		t.Errorf("show lacks the outcome:\n%s", out)
	}

	// The report preview for this month (fill takes mail in now).
	month := time.Now().In(mustLoad(t, "America/Chicago")).Format("2006-01")
	out, err = cli("report", "--preview", "--month", month, "--partner", "northside-housing")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "NHA-2291") || !strings.Contains(out, "D.W.") {
		t.Errorf("the preview does not list the consenting client:\n%s", out)
	}
	for _, leak := range []string{"NHA-3310", "Rosa", "Quintana", "R.Q.", "Dana", "Whitfield", "014-2000", "0142000", "0147777"} {
		if strings.Contains(out, leak) {
			t.Errorf("the preview shows %q", leak)
		}
	}
	html := filepath.Join(t.TempDir(), "report.html")
	if _, err := cli("report", "--preview", "--month", month, "--partner", "northside-housing", "--html", html); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(html); !strings.Contains(string(b), "<td>NHA-2291</td>") || strings.Contains(string(b), "NHA-3310") {
		t.Errorf("HTML preview:\n%s", b)
	}
	out, err = cli("report", "--month", month)
	if err != nil || !strings.Contains(out, "not queued") {
		t.Errorf("report status: %v\n%s", err, out)
	}
	// A month that is not over: a report "so far", once a day per partner.
	out, err = cli("report", "--send")
	if err != nil || !strings.Contains(out, "is not over") || strings.Count(out, ": queued O-") != 2 {
		t.Errorf("report --send: %v\n%s", err, out)
	}
	out, err = cli("report", "--send", "--month", month)
	if err != nil || strings.Count(out, "already queued") != 2 {
		t.Errorf("report --send again: %v\n%s", err, out)
	}
	if out, _ = cli("report", "--month", month); strings.Count(out, "pending") != 2 || !strings.Contains(out, "/so-far-") {
		t.Errorf("report status:\n%s", out)
	}

	out, err = cli("stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"County Financial Empowerment FY27", "enrolled clients", "of 120", "northside-housing", "savings-increased", "1 of 2", "$200.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	out, err = cli("stats", "--json")
	var st struct {
		Target struct{ Target, Enrolled int }
		Total  struct{ Received, Enrolled int }
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Target.Target != 120 || st.Total.Enrolled != 2 {
		t.Errorf("stats --json: %v %+v\n%s", err, st, out)
	}

	out, err = cli("export", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || rows[1][0] != "R-1001" || !strings.Contains(rows[1][len(rows[1])-1], "savings-increased $200.00") {
		t.Errorf("export csv: %v\n%s", err, out)
	}
	out, err = cli("export", "--format", "json")
	var exp []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &exp) != nil || len(exp) != 2 || exp[0]["outcomes"] == nil {
		t.Errorf("export json: %v\n%s", err, out)
	}
}

// currentGrant moves the config's grant period (demo: FY27) around today, so
// that what the tests do now falls inside it whenever they run.
func currentGrant(t *testing.T, config string) string {
	t.Helper()
	start := time.Now().In(mustLoad(t, "America/Chicago")).AddDate(0, -3, 0)
	start = time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(1, 0, -1)
	for old, repl := range map[string]string{"start = 2026-07-01": "start = " + start.Format(time.DateOnly), "end = 2027-06-30": "end = " + end.Format(time.DateOnly)} {
		if !strings.Contains(config, old) {
			t.Fatalf("the config has no %q", old)
		}
		config = strings.Replace(config, old, repl, 1)
	}
	return config
}

func mustLoad(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
