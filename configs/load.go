package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

//go:embed demo.toml
var demoTOML []byte

//go:embed refdesk.example.toml
var exampleTOML []byte

// Demo returns the embedded demo configuration (configs/demo.toml), loaded
// and validated. The demo rewrites its addresses to the loopback servers it
// starts.
func Demo() (*Config, error) { return Parse("demo.toml", demoTOML) }

// Example returns the text of configs/refdesk.example.toml.
func Example() []byte { return bytes.Clone(exampleTOML) }

// Load reads, decodes and validates the config file at path. The error lists
// every problem found, one per line, each as "file:line: key: what is wrong".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseIn(path, data, filepath.Dir(path))
}

// Parse decodes and validates a config held in memory; name is used in
// messages. On a decoding error the Config is nil; on validation problems the
// Config is returned with the error, so `refdesk check` can say everything.
func Parse(name string, data []byte) (*Config, error) { return parseIn(name, data, "") }

// parseIn is Parse with relative paths (database.path, templates.dir,
// intake.spool_dir) taken
// relative to dir, before validation looks at them.
func parseIn(name string, data []byte, dir string) (*Config, error) {
	c := &Config{Path: name, lines: keyLines(data)}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, c.decodeError(err)
	}
	c.setDefaults()
	if dir != "" {
		// Relative paths are relative to the config file, not to wherever
		// the daemon happens to be started from.
		for _, p := range []*string{&c.Database.Path, &c.Templates.Dir, &c.Intake.SpoolDir} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	return c, c.Validate()
}

// decodeError turns go-toml's errors into one line per problem.
func (c *Config) decodeError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs []error
		for _, e := range strict.Errors {
			row, _ := e.Position()
			key := strings.Join(e.Key(), ".")
			errs = append(errs, fmt.Errorf("%s:%d: %s: unknown key", c.Path, row, key))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := strings.Join(de.Key(), "."); k != "" {
			msg = k + ": " + msg
		}
		return fmt.Errorf("%s:%d: %s", c.Path, row, msg)
	}
	return fmt.Errorf("%s: %w", c.Path, err)
}

// DefaultRequired is intake.required when the config does not say:
// "contact" is a phone or an email.
var DefaultRequired = []string{"client_name", "contact", "consent"}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	// A number the file gives explicitly is kept, even 0, so that Validate
	// reports it rather than it being replaced without a word. key "" means
	// 0 always takes the default.
	defInt := func(key string, i *int, v int) {
		if *i == 0 && (key == "" || !c.isSet(key)) {
			*i = v
		}
	}
	defDur := func(key string, d *Duration, v time.Duration) {
		if d.Duration == 0 && (key == "" || !c.isSet(key)) {
			d.Duration = v
		}
	}
	def(&c.Program.Timezone, "UTC")
	if !c.isSet("program.first_contact_days") {
		c.Program.FirstContactDays = 2
	}
	def(&c.Database.Path, "refdesk.db")
	defDur("database.busy_timeout", &c.Database.BusyTimeout, 10*time.Second)
	def(&c.IMAP.Security, "tls")
	def(&c.IMAP.Auth, "password")
	def(&c.IMAP.Mailbox, "INBOX")
	def(&c.IMAP.Processed, "Processed")
	def(&c.IMAP.Quarantine, "Quarantine")
	defDur("imap.poll_interval", &c.IMAP.PollInterval, 60*time.Second)
	defDur("imap.idle_timeout", &c.IMAP.IdleTimeout, 25*time.Minute)
	defInt("imap.batch_size", &c.IMAP.BatchSize, 500)
	def(&c.SMTP.Security, "starttls")
	def(&c.SMTP.Auth, "password")
	for _, s := range []*Server{&c.IMAP.Server, &c.SMTP.Server} {
		if s.Provider == "microsoft" {
			// Work and school accounts; a tenant id or domain narrows it.
			def(&s.Tenant, "organizations")
		}
	}
	defInt("smtp.max_attempts", &c.SMTP.MaxAttempts, 12)
	defDur("", &c.SMTP.Timeout, 30*time.Second)
	if c.Intake.Required == nil {
		c.Intake.Required = slices.Clone(DefaultRequired)
	}
	def(&c.Intake.UnknownSenders, "hold")
	if c.Intake.MaxMessageSize == 0 && !c.isSet("intake.max_message_size") {
		c.Intake.MaxMessageSize = 25 << 20
	}
	defInt("intake.replies_per_sender_per_hour", &c.Intake.RepliesPerSenderPerHour, 20)
	def(&c.Intake.CountryCode, "1")
	defInt("intake.max_attachments", &c.Intake.MaxAttachments, 20)
	if c.Intake.MaxAttachmentSize == 0 && !c.isSet("intake.max_attachment_size") {
		c.Intake.MaxAttachmentSize = 10 << 20
	}
	if c.Intake.MaxUnzippedSize == 0 && !c.isSet("intake.max_unzipped_size") {
		c.Intake.MaxUnzippedSize = max(50<<20, c.Intake.MaxAttachmentSize)
	}
	defDur("intake.parse_timeout", &c.Intake.ParseTimeout, 10*time.Second)
	defInt("reports.day", &c.Reports.Day, 1)
	if !c.isSet("reports.hour") {
		c.Reports.Hour = 7
	}
	if !c.isSet("digest.hour") {
		c.Digest.Hour = 8
	}
	defInt("digest.needs_info_days", &c.Digest.NeedsInfoDays, 3)
	defDur("", &c.Retention.RawMessages, 4320*time.Hour)
	defDur("", &c.Retention.ClosedReferrals, 26280*time.Hour)
	for i := range c.Rules {
		if len(c.Rules[i].InFields) == 0 {
			c.Rules[i].InFields = []string{"needs", "notes"}
		}
	}
}

// isSet reports whether the file gave key explicitly (so that 0 can be told
// from "not given").
func (c *Config) isSet(key string) bool {
	_, ok := c.lines[key]
	return ok
}

// Line returns the line of key in the file, or of the nearest table that
// holds it, or 0.
func (c *Config) Line(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// keyLines maps every key path in a TOML document to its line: "imap.address",
// "partners[1].domains". Documents that do not parse give what was read
// before the error; the decoder reports the error itself.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	p := unstable.Parser{}
	p.Reset(data)
	prefix := ""
	arrays := map[string]int{}
	keyOf := func(n *unstable.Node) (string, int) {
		var parts []string
		line := 0
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = p.Shape(k.Raw).Start.Line
			}
			parts = append(parts, string(k.Data))
		}
		return strings.Join(parts, "."), line
	}
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table:
			k, line := keyOf(n)
			prefix = k
			lines[prefix] = line
		case unstable.ArrayTable:
			k, line := keyOf(n)
			i := arrays[k]
			arrays[k] = i + 1
			prefix = k + "[" + strconv.Itoa(i) + "]"
			lines[prefix] = line
		case unstable.KeyValue:
			k, line := keyOf(n)
			if prefix != "" {
				k = prefix + "." + k
			}
			lines[k] = line
		}
	}
	return lines
}

// Keys lists the key paths the file set, sorted; for tests and `check -v`.
func (c *Config) Keys() []string {
	keys := make([]string, 0, len(c.lines))
	for k := range c.lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
