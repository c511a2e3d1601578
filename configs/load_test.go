package configs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
)

func TestDefaultsMatchTheExampleFile(t *testing.T) {
	c := mustParse(t, "minimal.toml", minimal)
	ex := mustParse(t, "refdesk.example.toml", string(configs.Example()))
	cases := []struct {
		name          string
		get           func(*configs.Config) any
		specifiedWant any // what SPEC or the brief promises; nil = only compare to the example
	}{
		{"imap.batch_size", func(c *configs.Config) any { return c.IMAP.BatchSize }, 500},
		{"imap.security", func(c *configs.Config) any { return c.IMAP.Security }, "tls"},
		{"imap.auth", func(c *configs.Config) any { return c.IMAP.Auth }, "password"},
		{"imap.mailbox", func(c *configs.Config) any { return c.IMAP.Mailbox }, "INBOX"},
		{"imap.processed", func(c *configs.Config) any { return c.IMAP.Processed }, "Processed"},
		{"imap.quarantine", func(c *configs.Config) any { return c.IMAP.Quarantine }, "Quarantine"},
		{"imap.poll_interval", func(c *configs.Config) any { return c.IMAP.PollInterval.Duration }, 60 * time.Second},
		{"imap.idle_timeout", func(c *configs.Config) any { return c.IMAP.IdleTimeout.Duration }, nil},
		{"smtp.security", func(c *configs.Config) any { return c.SMTP.Security }, "starttls"},
		{"smtp.auth", func(c *configs.Config) any { return c.SMTP.Auth }, "password"},
		{"smtp.max_attempts", func(c *configs.Config) any { return c.SMTP.MaxAttempts }, nil},
		{"smtp.timeout", func(c *configs.Config) any { return c.SMTP.Timeout.Duration }, nil},
		{"intake.required", func(c *configs.Config) any { return c.Intake.Required }, []string{"client_name", "contact", "consent"}},
		{"intake.unknown_senders", func(c *configs.Config) any { return c.Intake.UnknownSenders }, "hold"},
		{"intake.max_message_size", func(c *configs.Config) any { return int64(c.Intake.MaxMessageSize) }, int64(25 << 20)},
		{"intake.replies_per_sender_per_hour", func(c *configs.Config) any { return c.Intake.RepliesPerSenderPerHour }, 20},
		{"intake.country_code", func(c *configs.Config) any { return c.Intake.CountryCode }, "1"},
		{"intake.max_attachments", func(c *configs.Config) any { return c.Intake.MaxAttachments }, 20},
		{"intake.max_attachment_size", func(c *configs.Config) any { return int64(c.Intake.MaxAttachmentSize) }, int64(10 << 20)},
		{"intake.max_unzipped_size", func(c *configs.Config) any { return int64(c.Intake.MaxUnzippedSize) }, int64(50 << 20)},
		{"intake.parse_timeout", func(c *configs.Config) any { return c.Intake.ParseTimeout.Duration }, 10 * time.Second},
		{"program.first_contact_days", func(c *configs.Config) any { return c.Program.FirstContactDays }, 2},
		{"program.capacity", func(c *configs.Config) any { return c.Program.Capacity }, 0},
		{"reports.day", func(c *configs.Config) any { return c.Reports.Day }, 1},
		{"reports.hour", func(c *configs.Config) any { return c.Reports.Hour }, 7},
		{"digest.hour", func(c *configs.Config) any { return c.Digest.Hour }, 8},
		{"digest.needs_info_days", func(c *configs.Config) any { return c.Digest.NeedsInfoDays }, nil},
		{"retention.raw_messages", func(c *configs.Config) any { return c.Retention.RawMessages.Duration }, 4320 * time.Hour},
		{"retention.closed_referrals", func(c *configs.Config) any { return c.Retention.ClosedReferrals.Duration }, 26280 * time.Hour},
		{"database.path", func(c *configs.Config) any { return c.Database.Path }, "refdesk.db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, inExample := tc.get(c), tc.get(ex)
			if !reflect.DeepEqual(got, inExample) {
				t.Errorf("default %v, but refdesk.example.toml documents %v", got, inExample)
			}
			if tc.specifiedWant != nil && !reflect.DeepEqual(got, tc.specifiedWant) {
				t.Errorf("default %v, want %v", got, tc.specifiedWant)
			}
		})
	}
	if c.Location != time.UTC {
		t.Errorf("default time zone %v, want UTC", c.Location)
	}
}

func TestExplicitZeroIsKept(t *testing.T) {
	cases := []struct {
		name, add string
		get       func(*configs.Config) int
	}{
		{"program.first_contact_days", "first_contact_days = 0\n", func(c *configs.Config) int { return c.Program.FirstContactDays }},
		{"reports.hour", "[reports]\nhour = 0\n", func(c *configs.Config) int { return c.Reports.Hour }},
		{"digest.hour", "[digest]\nhour = 0\n", func(c *configs.Config) int { return c.Digest.Hour }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := minimal + "\n" + tc.add
			if strings.HasPrefix(tc.add, "first_contact_days") {
				text = strings.Replace(minimal, "[program]\n", "[program]\n"+tc.add, 1)
			}
			if got := tc.get(mustParse(t, "t.toml", text)); got != 0 {
				t.Errorf("%s = 0 in the file became %d", tc.name, got)
			}
		})
	}
}

func TestExplicitZeroIsReportedNotReplaced(t *testing.T) {
	// A 0 written in the file is the administrator's choice: where 0 is not
	// allowed, Validate says so instead of a default taking its place.
	text := strings.Replace(strings.Replace(minimal,
		"[imap]\n", "[imap]\npoll_interval = \"0s\"   # zero imap.poll_interval\nidle_timeout = \"0s\"   # zero imap.idle_timeout\nbatch_size = 0   # zero imap.batch_size\n", 1),
		"[smtp]\n", "[smtp]\nmax_attempts = 0   # zero smtp.max_attempts\n", 1) + `
[intake]
max_message_size = "0"              # zero intake.max_message_size
replies_per_sender_per_hour = 0     # zero intake.replies_per_sender_per_hour

[reports]
day = 0                             # zero reports.day

[digest]
needs_info_days = 0                 # zero digest.needs_info_days
`
	keys := []string{"imap.poll_interval", "imap.idle_timeout", "imap.batch_size", "smtp.max_attempts",
		"intake.max_message_size", "intake.replies_per_sender_per_hour", "reports.day", "digest.needs_info_days"}
	_, err := configs.Parse("t.toml", []byte(text))
	got := problemsOf(err)
	if len(got) != len(keys) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(keys), strings.Join(got, "\n"))
	}
	for _, k := range keys {
		t.Run(k, func(t *testing.T) {
			prefix := fmt.Sprintf("t.toml:%d: %s: ", lineOf(t, text, "# zero "+k), k)
			for _, g := range got {
				if strings.HasPrefix(g, prefix) {
					return
				}
			}
			t.Errorf("no problem %q...", prefix)
		})
	}
}

func TestRuleInFieldsDefault(t *testing.T) {
	text := minimal + `
[[rules]]
id = "no-food"
then = "waitlist"
reason = "r"
keywords = ["no food"]

[[rules]]
id = "in-notes"
then = "waitlist"
reason = "r"
keywords = ["x"]
in_fields = ["notes"]
`
	c := mustParse(t, "t.toml", text)
	if !slices.Equal(c.Rules[0].InFields, []string{"needs", "notes"}) || !slices.Equal(c.Rules[1].InFields, []string{"notes"}) {
		t.Errorf("in_fields: %q and %q, want the default [needs notes] and the given [notes]", c.Rules[0].InFields, c.Rules[1].InFields)
	}
}

func TestLoadResolvesPathsNextToTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "my-templates"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "refdesk.toml")
	text := minimal + "\n[database]\npath = \"data/refdesk.db\"\n\n[templates]\ndir = \"my-templates\"\n\n[intake]\nspool_dir = \"spool\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// The test runs in the package directory, which has no my-templates.
	c, err := configs.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := filepath.Join(dir, "data", "refdesk.db"); c.Database.Path != want {
		t.Errorf("database.path = %q, want %q", c.Database.Path, want)
	}
	if want := filepath.Join(dir, "my-templates"); c.Templates.Dir != want {
		t.Errorf("templates.dir = %q, want %q", c.Templates.Dir, want)
	}
	if want := filepath.Join(dir, "spool"); c.Intake.SpoolDir != want {
		t.Errorf("intake.spool_dir = %q, want %q", c.Intake.SpoolDir, want)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}

	// A templates dir that does not exist next to the file is a problem
	// with the file's name and the key's line.
	text2 := minimal + "\n[templates]\ndir = \"missing-templates\"\n"
	if err := os.WriteFile(path, []byte(text2), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = configs.Load(path)
	want := fmt.Sprintf("%s:%d: templates.dir: ", path, lineOf(t, text2, "missing-templates"))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load with a missing templates dir: %v, want %q...", err, want)
	}

	if _, err := configs.Load(filepath.Join(dir, "absent.toml")); err == nil || !strings.Contains(err.Error(), "absent.toml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
