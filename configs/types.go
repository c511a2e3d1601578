package configs

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pelletier/go-toml/v2"
)

// Config is the whole configuration file (SPEC §8).
type Config struct {
	Program   Program    `toml:"program"`
	Database  Database   `toml:"database"`
	IMAP      IMAP       `toml:"imap"`
	SMTP      SMTP       `toml:"smtp"`
	Intake    Intake     `toml:"intake"`
	Fields    FieldsConf `toml:"fields"`
	Grant     Grant      `toml:"grant"`
	Reports   Reports    `toml:"reports"`
	Digest    Digest     `toml:"digest"`
	Retention Retention  `toml:"retention"`
	Templates Templates  `toml:"templates"`
	Partners  []Partner  `toml:"partners"`
	Services  []Service  `toml:"services"`
	Rules     []Rule     `toml:"rules"`

	// Path is the file the config was read from ("" for an embedded one).
	Path string `toml:"-"`
	// Location is Program.Timezone, loaded.
	Location *time.Location `toml:"-"`

	lines map[string]int // key path ("partners[0].id") -> line in the file
}

// Program describes the program that runs refdesk.
type Program struct {
	Name             string   `toml:"name"`
	ReplyFrom        string   `toml:"reply_from"`
	Phone            string   `toml:"phone"`
	Timezone         string   `toml:"timezone"`
	FirstContactDays int      `toml:"first_contact_days"`
	Capacity         int      `toml:"capacity"`
	Coaches          []string `toml:"coaches"`
}

// ReplyAddress is the address of reply_from, lower-cased ("" when it is not
// an address; Validate refuses that).
func (p Program) ReplyAddress() string {
	a, err := mail.ParseAddress(p.ReplyFrom)
	if err != nil {
		return ""
	}
	return strings.ToLower(a.Address)
}

// ReplyDomain is the domain of reply_from, for the Message-IDs refdesk
// makes ("refdesk.invalid" when there is none).
func (p Program) ReplyDomain() string {
	if _, d, ok := strings.Cut(p.ReplyAddress(), "@"); ok && d != "" {
		return d
	}
	return "refdesk.invalid"
}

// Database says where the SQLite file lives.
type Database struct {
	Path string `toml:"path"`
	// BusyTimeout is how long a write waits for a lock another process
	// holds before it fails with "database is locked".
	BusyTimeout Duration `toml:"busy_timeout"`
}

// Server holds what IMAP and SMTP share: where, how securely, who.
type Server struct {
	Address      string `toml:"address"`
	Security     string `toml:"security"` // tls | starttls | none
	Auth         string `toml:"auth"`     // password | xoauth2 | oauthbearer | none
	Username     string `toml:"username"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
	// CAFile is a PEM file of CA certificates trusted in addition to the
	// system's (a private CA). Certificates are always verified.
	CAFile string `toml:"ca_file"`
	OAuth2
}

// OAuth2 says where the access token for auth = "xoauth2" or "oauthbearer"
// comes from: a command that prints it, or a refresh token exchanged at a
// provider's token endpoint.
type OAuth2 struct {
	TokenCommand     string   `toml:"token_command"`
	Provider         string   `toml:"oauth2_provider"` // microsoft | google
	ClientID         string   `toml:"oauth2_client_id"`
	ClientSecretEnv  string   `toml:"oauth2_client_secret_env"`
	ClientSecretFile string   `toml:"oauth2_client_secret_file"`
	RefreshTokenEnv  string   `toml:"oauth2_refresh_token_env"`
	RefreshTokenFile string   `toml:"oauth2_refresh_token_file"`
	Tenant           string   `toml:"oauth2_tenant"`
	TokenURL         string   `toml:"oauth2_token_url"`
	Scopes           []string `toml:"oauth2_scopes"`
}

// IsOAuth2 reports whether the server logs in with an OAuth2 access token.
func (s Server) IsOAuth2() bool { return s.Auth == "xoauth2" || s.Auth == "oauthbearer" }

// IMAP is the referrals mailbox.
type IMAP struct {
	Server
	Mailbox      string   `toml:"mailbox"`
	Processed    string   `toml:"processed"`
	Quarantine   string   `toml:"quarantine"`
	PollInterval Duration `toml:"poll_interval"`
	IdleTimeout  Duration `toml:"idle_timeout"`
	BatchSize    int      `toml:"batch_size"`
}

// SMTP is the outbound relay.
type SMTP struct {
	Server
	MaxAttempts int      `toml:"max_attempts"`
	Timeout     Duration `toml:"timeout"`
}

// Intake tunes triage.
type Intake struct {
	Required                []string `toml:"required"`
	UnknownSenders          string   `toml:"unknown_senders"` // hold | reply | ignore
	TrustedAuthservID       string   `toml:"trusted_authserv_id"`
	MaxMessageSize          Size     `toml:"max_message_size"`
	RepliesPerSenderPerHour int      `toml:"replies_per_sender_per_hour"`
	CountryCode             string   `toml:"country_code"`
	// Attachment limits (SPEC §9): going over one quarantines the message.
	MaxAttachments    int      `toml:"max_attachments"`
	MaxAttachmentSize Size     `toml:"max_attachment_size"`
	MaxUnzippedSize   Size     `toml:"max_unzipped_size"`
	ParseTimeout      Duration `toml:"parse_timeout"`
	// VerifyDKIM makes refdesk verify DKIM signatures itself (RFC 6376),
	// beside the trusted Authentication-Results.
	VerifyDKIM bool `toml:"verify_dkim"`
	// SpoolDir is where a message above 1 MB and its attachments wait, in
	// files (0600, in a 0700 directory, unlinked as they are made), while
	// it is taken in; "" means database.path + ".spool".
	SpoolDir string `toml:"spool_dir"`
}

// FieldsConf extends the label table: [fields.aliases] client_name = ["..."].
type FieldsConf struct {
	Aliases map[string][]string `toml:"aliases"`
}

// Grant is the funded period and its promised number of clients.
type Grant struct {
	Name          string         `toml:"name"`
	Start         toml.LocalDate `toml:"start"`
	End           toml.LocalDate `toml:"end"`
	TargetClients int            `toml:"target_clients"`
}

// Reports schedules the monthly partner reports.
type Reports struct {
	Day  int `toml:"day"`
	Hour int `toml:"hour"`
}

// Digest schedules the daily coach digest.
type Digest struct {
	Hour          int `toml:"hour"`
	NeedsInfoDays int `toml:"needs_info_days"`
}

// Retention says how long data is kept.
type Retention struct {
	RawMessages     Duration `toml:"raw_messages"`
	ClosedReferrals Duration `toml:"closed_referrals"`
}

// Templates names a directory whose files replace the embedded templates.
type Templates struct {
	Dir string `toml:"dir"`
}

// Partner is an agency allowed to send referrals.
type Partner struct {
	ID        string   `toml:"id"`
	Name      string   `toml:"name"`
	Domains   []string `toml:"domains"`
	Addresses []string `toml:"addresses"`
	ReportTo  []string `toml:"report_to"`
	// RequireAuthentication holds mail from this partner unless it carries
	// a DKIM signature aligned with its From domain (or a DMARC pass from
	// the trusted server).
	RequireAuthentication bool `toml:"require_authentication"`
}

// Service is where a "better fit elsewhere" reply points.
type Service struct {
	ID      string `toml:"id"`
	Name    string `toml:"name"`
	Contact string `toml:"contact"`
	Email   string `toml:"email"`
	About   string `toml:"about"`
}

// Rule is one triage rule (SPEC §5 rule 8); every condition given must hold.
type Rule struct {
	ID       string   `toml:"id"`
	Then     string   `toml:"then"` // redirect | waitlist
	Service  string   `toml:"service"`
	Reason   string   `toml:"reason"`
	Keywords []string `toml:"keywords"`
	InFields []string `toml:"in_fields"`
	FieldYes string   `toml:"field_yes"`
	// Field with In / NotIn: the field's value is (not) one of the list.
	Field        string   `toml:"field"`
	In           []string `toml:"in"`
	NotIn        []string `toml:"not_in"`
	FieldMissing string   `toml:"field_missing"`
	ZipIn        []string `toml:"zip_in"`
	ZipNotIn     []string `toml:"zip_not_in"`
	AgeBelow     *int     `toml:"age_below"`
	AgeAbove     *int     `toml:"age_above"`
}

// Duration is a Go duration written as a string: "30s", "24h".
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (use 30s, 10m, 24h): %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Size is a byte count written like "25MB", "512KB" or a plain integer.
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

// ParseSize reads "25MB", "25 MiB", "512KB", "1GB" or "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	i := strings.IndexFunc(t, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "KB": 1 << 10, "KIB": 1 << 10, "MB": 1 << 20, "MIB": 1 << 20, "GB": 1 << 30, "GIB": 1 << 30}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || v < 0 {
		return 0, fmt.Errorf("not a size (use 25MB, 512KB): %q", s)
	}
	return int64(v * mult), nil
}

// StartIn is the first instant of the grant period in loc.
func (g Grant) StartIn(loc *time.Location) time.Time { return localDate(g.Start, loc) }

// EndIn is the first instant after the grant period (the day after End) in loc.
func (g Grant) EndIn(loc *time.Location) time.Time {
	if g.End.Year == 0 {
		return time.Time{}
	}
	return localDate(g.End, loc).AddDate(0, 0, 1)
}

func localDate(d toml.LocalDate, loc *time.Location) time.Time {
	if d.Year == 0 {
		return time.Time{}
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, loc)
}
