package configs_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
)

// specBlock is SPEC §8's TOML block, copied as it stands: every key in it
// must work as shown.
const specBlock = `[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
phone = "555-0100"
timezone = "America/Chicago"
first_contact_days = 2            # promised in acceptance replies; digest flags late ones
capacity = 0                      # open-caseload limit for waitlisting; 0 = none
coaches = ["coach@eastside.example"]

[database]
path = "refdesk.db"

[imap]
address = "imap.example.org:993"
security = "tls"                  # tls | starttls | none (none only to a loopback address)
auth = "password"                 # password | xoauth2 | none
username = "referrals@eastside.example"
password_env = "REFDESK_IMAP_PASSWORD"   # or password_file = "..."
mailbox = "INBOX"
processed = "Processed"
quarantine = "Quarantine"
poll_interval = "60s"             # used when the server has no IDLE

[smtp]
address = "smtp.example.org:587"
security = "starttls"
auth = "password"                 # password | xoauth2 | none (a relay that needs no login)
username = "referrals@eastside.example"
password_env = "REFDESK_SMTP_PASSWORD"

[intake]
required = ["client_name", "contact", "consent"]   # "contact" = phone or email
unknown_senders = "hold"          # hold | reply | ignore
trusted_authserv_id = "mx.eastside.example"   # whose Authentication-Results to believe
max_message_size = "25MB"
replies_per_sender_per_hour = 20

[grant]
name = "County Financial Empowerment FY27"
start = 2026-07-01
end = 2027-06-30
target_clients = 120

[reports]
day = 1
hour = 7

[digest]
hour = 8

[retention]
raw_messages = "4320h"            # 180 days
closed_referrals = "26280h"       # 3 years

[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]
addresses = []                    # single allowed addresses, e.g. a caseworker's own mailbox
report_to = ["referrals@northside-housing.example"]

[[services]]                      # where "better fit elsewhere" points
id = "emergency-desk"
name = "Emergency Assistance Desk, 2nd floor"
contact = "555-0199, walk in Mon-Fri 9-4"
email = "emergency@eastside.example"
about = "food boxes, utility shut-off help, eviction prevention"

[[rules]]                         # first match wins; every condition given must hold
id = "crisis-words"
then = "redirect"                 # redirect | waitlist
service = "emergency-desk"
reason = "The client seems to be in crisis; the emergency desk can help today."
keywords = ["eviction", "shut-off", "shutoff", "no food"]   # any of, whole words, any case
in_fields = ["needs", "notes"]    # where keywords are looked for (default: needs, notes)
# other conditions:
# field_yes = "crisis"            # that field is a yes
# zip_not_in = ["60601", "60602"] # client_zip present and not in the list
# age_below = 18                  # from date_of_birth or age, at the message date
# age_above = 64
`

// minimal is the least a valid config needs; everything else is defaulted.
const minimal = `[program]
name = "Test Program"
reply_from = "Test Program <referrals@test.example>"

[imap]
address = "imap.test.example:993"
username = "referrals@test.example"
password_env = "REFDESK_TEST_IMAP_PASSWORD"

[smtp]
address = "smtp.test.example:587"
username = "referrals@test.example"
password_env = "REFDESK_TEST_SMTP_PASSWORD"
`

// lineOf is the 1-based line of the only line of text containing marker.
func lineOf(t *testing.T, text, marker string) int {
	t.Helper()
	found := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			if found != 0 {
				t.Fatalf("marker %q is on lines %d and %d", marker, found, i+1)
			}
			found = i + 1
		}
	}
	if found == 0 {
		t.Fatalf("marker %q not in the config", marker)
	}
	return found
}

// problemsOf splits a joined error into its problems.
func problemsOf(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func mustParse(t *testing.T, name, text string) *configs.Config {
	t.Helper()
	c, err := configs.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("%s does not load:\n%v", name, err)
	}
	return c
}

func TestEmbeddedConfigsLoadAndValidate(t *testing.T) {
	cases := []struct {
		name string
		load func() (*configs.Config, error)
	}{
		{"demo.toml", configs.Demo},
		{"refdesk.example.toml", func() (*configs.Config, error) {
			return configs.Parse("refdesk.example.toml", configs.Example())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := c.load()
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("loads but a second Validate fails:\n%v", err)
			}
			if cfg.Location == nil || cfg.Location.String() != "America/Chicago" {
				t.Errorf("Location = %v, want America/Chicago", cfg.Location)
			}
			if len(cfg.Partners) == 0 || len(cfg.Services) == 0 || len(cfg.Rules) == 0 {
				t.Errorf("expected partners, services and rules; got %d, %d, %d", len(cfg.Partners), len(cfg.Services), len(cfg.Rules))
			}
			for _, r := range cfg.Rules {
				if r.Then == "redirect" && cfg.Service(r.Service) == nil {
					t.Errorf("rule %s points to missing service %q", r.ID, r.Service)
				}
			}
		})
	}
}

func TestExampleIsNotChangedByCallers(t *testing.T) {
	a := configs.Example()
	a[0] = 'X'
	if b := configs.Example(); b[0] == 'X' {
		t.Fatal("Example returns the embedded bytes themselves; a caller's change leaks into the next call")
	}
}

func TestSpecBlockKeysLandInTheStruct(t *testing.T) {
	c := mustParse(t, "spec.toml", specBlock)
	date := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, c.Location) }
	checks := []struct {
		key       string
		got, want any
	}{
		{"program.name", c.Program.Name, "Eastside Financial Coaching"},
		{"program.reply_from", c.Program.ReplyFrom, "Eastside Financial Coaching <referrals@eastside.example>"},
		{"program.phone", c.Program.Phone, "555-0100"},
		{"program.timezone", c.Location.String(), "America/Chicago"},
		{"program.first_contact_days", c.Program.FirstContactDays, 2},
		{"program.capacity", c.Program.Capacity, 0},
		{"program.coaches", c.Program.Coaches, []string{"coach@eastside.example"}},
		{"database.path", c.Database.Path, "refdesk.db"},
		{"imap.address", c.IMAP.Address, "imap.example.org:993"},
		{"imap.security", c.IMAP.Security, "tls"},
		{"imap.auth", c.IMAP.Auth, "password"},
		{"imap.username", c.IMAP.Username, "referrals@eastside.example"},
		{"imap.password_env", c.IMAP.PasswordEnv, "REFDESK_IMAP_PASSWORD"},
		{"imap.mailbox", c.IMAP.Mailbox, "INBOX"},
		{"imap.processed", c.IMAP.Processed, "Processed"},
		{"imap.quarantine", c.IMAP.Quarantine, "Quarantine"},
		{"imap.poll_interval", c.IMAP.PollInterval.Duration, 60 * time.Second},
		{"smtp.address", c.SMTP.Address, "smtp.example.org:587"},
		{"smtp.security", c.SMTP.Security, "starttls"},
		{"smtp.auth", c.SMTP.Auth, "password"},
		{"smtp.username", c.SMTP.Username, "referrals@eastside.example"},
		{"smtp.password_env", c.SMTP.PasswordEnv, "REFDESK_SMTP_PASSWORD"},
		{"intake.required", c.Intake.Required, []string{"client_name", "contact", "consent"}},
		{"intake.unknown_senders", c.Intake.UnknownSenders, "hold"},
		{"intake.trusted_authserv_id", c.Intake.TrustedAuthservID, "mx.eastside.example"},
		{"intake.max_message_size", int64(c.Intake.MaxMessageSize), int64(25 << 20)},
		{"intake.replies_per_sender_per_hour", c.Intake.RepliesPerSenderPerHour, 20},
		{"grant.name", c.Grant.Name, "County Financial Empowerment FY27"},
		{"grant.start", c.Grant.StartIn(c.Location), date(2026, 7, 1)},
		{"grant.end", c.Grant.EndIn(c.Location), date(2027, 7, 1)}, // the first instant after the period
		{"grant.target_clients", c.Grant.TargetClients, 120},
		{"reports.day", c.Reports.Day, 1},
		{"reports.hour", c.Reports.Hour, 7},
		{"digest.hour", c.Digest.Hour, 8},
		{"retention.raw_messages", c.Retention.RawMessages.Duration, 180 * 24 * time.Hour},
		{"retention.closed_referrals", c.Retention.ClosedReferrals.Duration, 3 * 365 * 24 * time.Hour},
		{"partners[0].id", c.Partners[0].ID, "northside-housing"},
		{"partners[0].name", c.Partners[0].Name, "Northside Housing Authority"},
		{"partners[0].domains", c.Partners[0].Domains, []string{"northside-housing.example"}},
		{"partners[0].addresses", c.Partners[0].Addresses, []string{}},
		{"partners[0].report_to", c.Partners[0].ReportTo, []string{"referrals@northside-housing.example"}},
		{"services[0].id", c.Services[0].ID, "emergency-desk"},
		{"services[0].name", c.Services[0].Name, "Emergency Assistance Desk, 2nd floor"},
		{"services[0].contact", c.Services[0].Contact, "555-0199, walk in Mon-Fri 9-4"},
		{"services[0].email", c.Services[0].Email, "emergency@eastside.example"},
		{"services[0].about", c.Services[0].About, "food boxes, utility shut-off help, eviction prevention"},
		{"rules[0].id", c.Rules[0].ID, "crisis-words"},
		{"rules[0].then", c.Rules[0].Then, "redirect"},
		{"rules[0].service", c.Rules[0].Service, "emergency-desk"},
		{"rules[0].reason", c.Rules[0].Reason, "The client seems to be in crisis; the emergency desk can help today."},
		{"rules[0].keywords", c.Rules[0].Keywords, []string{"eviction", "shut-off", "shutoff", "no food"}},
		{"rules[0].in_fields", c.Rules[0].InFields, []string{"needs", "notes"}},
	}
	checked := map[string]bool{}
	for _, ck := range checks {
		checked[ck.key] = true
		t.Run(ck.key, func(t *testing.T) {
			if !reflect.DeepEqual(ck.got, ck.want) {
				t.Errorf("%s = %#v, want %#v", ck.key, ck.got, ck.want)
			}
		})
	}
	// Every value key of the block is checked above (tables are not values).
	tables := map[string]bool{"program": true, "database": true, "imap": true, "smtp": true, "intake": true,
		"grant": true, "reports": true, "digest": true, "retention": true, "partners[0]": true, "services[0]": true, "rules[0]": true}
	for _, k := range c.Keys() {
		if !tables[k] && !checked[k] {
			t.Errorf("key %s of SPEC §8 is not checked by this test", k)
		}
	}
	if p := c.Service("emergency-desk"); p == nil || p.Name != "Emergency Assistance Desk, 2nd floor" {
		t.Errorf("Service(emergency-desk) = %+v", p)
	}
	if p := c.Partner("northside-housing"); p == nil || p.Name != "Northside Housing Authority" {
		t.Errorf("Partner(northside-housing) = %+v", p)
	}
}

func TestSizes(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"25MB", 25 << 20, false},
		{"25 MiB", 25 << 20, false},
		{"512KB", 512 << 10, false},
		{"1GB", 1 << 30, false},
		{"1048576", 1 << 20, false},
		{"1.5MB", 3 << 19, false},
		{"25XB", 0, true},
		{"MB", 0, true},
		{"-1MB", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := configs.ParseSize(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d, want an error", c.in, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
		})
	}
}

func TestBadValuesNameKeyAndLine(t *testing.T) {
	cases := []struct {
		name, text, key, want string
	}{
		{"duration", strings.Replace(minimal, "[imap]\n", "[imap]\npoll_interval = \"60\"   # bad\n", 1), "imap.poll_interval", "not a duration"},
		{"size", minimal + "\n[intake]\nmax_message_size = \"25 lightyears\"   # bad\n", "intake.max_message_size", "not a size"},
		{"type", minimal + "\n[reports]\nday = \"first\"   # bad\n", "reports.day", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := configs.Parse("bad.toml", []byte(c.text))
			if err == nil {
				t.Fatalf("loaded: %+v", cfg)
			}
			prefix := fmt.Sprintf("bad.toml:%d: %s: ", lineOf(t, c.text, "# bad"), c.key)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to start with %q and say %q", msg, prefix, c.want)
			}
			if strings.Contains(err.Error(), ": toml: ") {
				t.Errorf("error %q carries the TOML library's prefix", err)
			}
		})
	}
}

func TestUnknownKeysAreErrorsWithKeyAndLine(t *testing.T) {
	cases := []struct {
		name string
		text string
		keys []string // in the order of the file; each line is marked "# unknown N"
	}{
		{"misspelt in a table",
			strings.Replace(minimal, "password_env = \"REFDESK_TEST_IMAP_PASSWORD\"", "pasword_env = \"REFDESK_TEST_IMAP_PASSWORD\"   # unknown 0", 1),
			[]string{"imap.pasword_env"}},
		{"misspelt inside [[partners]]",
			minimal + "\n[[partners]]\nid = \"p\"\nname = \"P\"\ndomain = [\"p.example\"]   # unknown 0\n",
			[]string{"partners.domain"}},
		{"misspelt inside [[rules]]",
			minimal + "\n[[rules]]\nid = \"r\"\nthen = \"waitlist\"\nreason = \"full\"\nkeyword = [\"x\"]   # unknown 0\n",
			[]string{"rules.keyword"}},
		{"unknown table",
			minimal + "\n[imapp]   # unknown 0\naddress = \"x:1\"\n",
			[]string{"imapp"}},
		{"a password written inline",
			strings.Replace(minimal, "[smtp]\n", "[smtp]\npassword = \"hunter2-inline\"   # unknown 0\n", 1),
			[]string{"smtp.password"}},
		{"several, all reported",
			strings.Replace(strings.Replace(minimal,
				"[imap]\n", "[imap]\npoll_intervall = \"60s\"   # unknown 0\n", 1),
				"[smtp]\n", "[smtp]\nsecurty = \"tls\"   # unknown 1\n", 1) +
				"\n[[partners]]\nid = \"p\"\nname = \"P\"\ndomains = [\"p.example\"]\nreport-to = [\"a@p.example\"]   # unknown 2\n",
			[]string{"imap.poll_intervall", "smtp.securty", "partners.report-to"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := configs.Parse("refdesk.toml", []byte(c.text))
			if err == nil {
				t.Fatalf("loaded with unknown keys: %+v", cfg.Keys())
			}
			if cfg != nil {
				t.Errorf("a config that does not decode should not be returned")
			}
			got := problemsOf(err)
			if len(got) != len(c.keys) {
				t.Fatalf("%d problems, want %d:\n%v", len(got), len(c.keys), err)
			}
			for i, k := range c.keys {
				want := fmt.Sprintf("refdesk.toml:%d: %s: unknown key", lineOf(t, c.text, fmt.Sprintf("# unknown %d", i)), k)
				if !slices.Contains(got, want) {
					t.Errorf("missing %q in:\n%v", want, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats a password written in the file: %v", err)
			}
		})
	}
}

// everyProblem has one of each problem Validate must find, each on a marked line.
const everyProblem = `[program]
name = "Test Program"
reply_from = "Test Program <referrals@test.example>"
timezone = "America/Chicag"                  # P-timezone

[imap]
address = "imap.test.example:143"
security = "none"                            # P-security
username = "referrals@test.example"
password_env = "REFDESK_TEST_IMAP_PASSWORD"

[smtp]
address = "127.0.0.1:2525"
security = "none"
auth = "none"

[intake]
required = ["client_name", "client_phon"]    # P-required

[fields.aliases]
client_nmae = ["participant full name"]      # P-alias
notes = ["case notes"]

[reports]
day = 31                                     # P-day

[[partners]]
id = "northside"
name = "Northside Housing"
domains = ["northside.example"]

[[partners]]
id = "northside"                             # P-duplicate
name = "Northside, again"
domains = ["northside-two.example"]

[[partners]]                                 # P-nowhere
id = "nowhere"
name = "Nowhere Agency"

[[services]]
id = "desk"
name = "Front desk"
contact = "555-0101"

[[rules]]
id = "to-missing"
then = "redirect"
service = "no-such-service"                  # P-service
reason = "elsewhere"
keywords = ["x"]

[[rules]]                                    # P-no-service
id = "no-service"
then = "redirect"
reason = "elsewhere"
keywords = ["y"]
`

func TestPartnerFor(t *testing.T) {
	text := minimal + `
[[partners]]
id = "northside"
name = "Northside Housing"
domains = ["Northside-Housing.example"]

[[partners]]
id = "maria-direct"
name = "Maria's own mailbox"
addresses = ["maria@northside-housing.example"]

[[partners]]
id = "food-bank"
name = "Food Bank"
domains = ["foodbank.example"]
addresses = ["Intake Desk <Intake@Gmail.example>"]
`
	c := mustParse(t, "t.toml", text)
	cases := []struct {
		addr, want string
	}{
		{"caseworker@northside-housing.example", "northside"},
		{"maria@northside-housing.example", "maria-direct"}, // exact address beats domain, whatever the order
		{"Maria@NORTHSIDE-housing.example", "maria-direct"},
		{"  maria@northside-housing.example ", "maria-direct"},
		{"worker@intake.northside-housing.example", "northside"}, // subdomain
		{"WORKER@Northside-Housing.Example", "northside"},
		{"intake@gmail.example", "food-bank"}, // a listed address written with a display name
		{"someone-else@gmail.example", ""},
		{"x@evilnorthside-housing.example", ""},
		{"x@northside-housing.example.evil.test", ""},
		{"x@other.example", ""},
		{"northside-housing.example", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			p := c.PartnerFor(tc.addr)
			got := ""
			if p != nil {
				got = p.ID
			}
			if got != tc.want {
				t.Errorf("PartnerFor(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	cases := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"::1", true},
		{"localhost", true},
		{"LocalHost", true},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"example.org", false},
		{"localhost.example.org", false},
		{"", false},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			if got := configs.IsLoopback(tc.host); got != tc.want {
				t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
}

func TestLineFallsBackToTheTable(t *testing.T) {
	c := mustParse(t, "spec.toml", specBlock)
	cases := []struct {
		key, marker string
	}{
		{"imap.poll_interval", "poll_interval"},
		{"partners[0].domains", `domains = ["northside-housing.example"]`},
		{"rules[0].field_yes", "[[rules]]"}, // not in the file: the [[rules]] line
		{"digest.needs_info_days", "[digest]"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			if got, want := c.Line(tc.key), lineOf(t, specBlock, tc.marker); got != want {
				t.Errorf("Line(%s) = %d, want %d", tc.key, got, want)
			}
		})
	}
	if got := c.Line("templates.dir"); got != 0 {
		t.Errorf("Line of a key whose table is absent = %d, want 0", got)
	}
}

// TestAttachmentLimitsValidated: the [intake] attachment limits are checked,
// an explicit zero included, each problem with its key and line.
func TestAttachmentLimitsValidated(t *testing.T) {
	text := minimal + `
[intake]
max_attachments = 0             # bad intake.max_attachments
max_attachment_size = "512"     # bad intake.max_attachment_size
max_unzipped_size = "100"       # bad intake.max_unzipped_size
parse_timeout = "0s"            # bad intake.parse_timeout
`
	_, err := configs.Parse("t.toml", []byte(text))
	got := problemsOf(err)
	for _, k := range []string{"intake.max_attachments", "intake.max_attachment_size", "intake.max_unzipped_size", "intake.parse_timeout"} {
		prefix := fmt.Sprintf("t.toml:%d: %s: ", lineOf(t, text, "# bad "+k), k)
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, prefix) }) {
			t.Errorf("no problem %q... in:\n%s", prefix, strings.Join(got, "\n"))
		}
	}
}

func TestReplyAddressAndDomain(t *testing.T) {
	for from, want := range map[string][2]string{
		"Eastside Financial Coaching <Referrals@Eastside.example>": {"referrals@eastside.example", "eastside.example"},
		"referrals@eastside.example":                               {"referrals@eastside.example", "eastside.example"},
		"not an address":                                           {"", "refdesk.invalid"},
	} {
		p := configs.Program{ReplyFrom: from}
		if got := p.ReplyAddress(); got != want[0] {
			t.Errorf("ReplyAddress(%q) = %q, want %q", from, got, want[0])
		}
		if got := p.ReplyDomain(); got != want[1] {
			t.Errorf("ReplyDomain(%q) = %q, want %q", from, got, want[1])
		}
	}
}
