package configs

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"refdesk/parse"
)

// problems collects every validation problem with its key and line
// (mox's addErrorf habit): one run of `refdesk check` says everything.
type problems struct {
	c    *Config
	errs []error
}

func (p *problems) add(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line := p.c.Line(key); line > 0 {
		p.errs = append(p.errs, fmt.Errorf("%s:%d: %s: %s", p.c.Path, line, key, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.c.Path, key, msg))
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// envName is what an environment variable's name looks like. A password_env
// that is not one is most likely the password itself, so it is never echoed.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the whole config and returns every problem at once, joined.
// It does not read secrets or touch the network; see CheckSecrets.
func (c *Config) Validate() error {
	p := &problems{c: c}
	c.validateProgram(p)
	c.validateServer(p, "imap", c.IMAP.Server)
	c.validateServer(p, "smtp", c.SMTP.Server)
	c.validateIMAP(p)
	c.validateIntake(p)
	c.validateSchedule(p)
	c.validatePartners(p)
	c.validateServices(p)
	c.validateRules(p)
	if c.Templates.Dir != "" {
		if st, err := os.Stat(c.Templates.Dir); err != nil || !st.IsDir() {
			p.add("templates.dir", "%q is not a directory", c.Templates.Dir)
		}
	}
	return errors.Join(p.errs...)
}

func (c *Config) validateProgram(p *problems) {
	if strings.TrimSpace(c.Program.Name) == "" {
		p.add("program.name", "missing: the program's name appears in every reply")
	}
	if c.Program.ReplyFrom == "" {
		p.add("program.reply_from", "missing: the address replies come from")
	} else if _, err := mail.ParseAddress(c.Program.ReplyFrom); err != nil {
		p.add("program.reply_from", "not an email address: %q", c.Program.ReplyFrom)
	}
	loc, err := time.LoadLocation(c.Program.Timezone)
	if err != nil {
		p.add("program.timezone", "unknown time zone %q (use an IANA name like America/Chicago)", c.Program.Timezone)
		loc = time.UTC
	}
	c.Location = loc
	if c.Program.FirstContactDays < 0 {
		p.add("program.first_contact_days", "must be 0 or more")
	}
	if c.Program.Capacity < 0 {
		p.add("program.capacity", "must be 0 (no limit) or more")
	}
	for i, a := range c.Program.Coaches {
		if _, err := mail.ParseAddress(a); err != nil {
			p.add(fmt.Sprintf("program.coaches[%d]", i), "not an email address: %q", a)
		}
	}
}

func (c *Config) validateServer(p *problems, name string, s Server) {
	host, port, err := net.SplitHostPort(s.Address)
	if s.Address == "" {
		p.add(name+".address", "missing: host:port of the %s server", strings.ToUpper(name))
	} else if err != nil || host == "" || port == "" {
		p.add(name+".address", "not host:port: %q", s.Address)
	}
	switch s.Security {
	case "tls", "starttls":
	case "none":
		if err == nil && !IsLoopback(host) {
			p.add(name+".security", `"none" sends the password and referrals in clear text; it is only allowed to a loopback address, not %q`, host)
		}
	default:
		p.add(name+".security", "must be tls, starttls or none, not %q", s.Security)
	}
	switch s.Auth {
	case "password":
		if s.Username == "" {
			p.add(name+".username", "missing: auth = \"password\" needs a username")
		}
		if (s.PasswordEnv == "") == (s.PasswordFile == "") {
			p.add(name+".password_env", "give exactly one of password_env and password_file")
		} else if s.PasswordEnv != "" && !envName.MatchString(s.PasswordEnv) {
			p.add(name+".password_env", "%v", errNotEnvName)
		}
	case "none":
	case "xoauth2", "oauthbearer":
		if s.Username == "" {
			p.add(name+".username", "missing: auth = %q sends the mailbox's address with the token", s.Auth)
		}
		if s.PasswordEnv != "" || s.PasswordFile != "" {
			p.add(name+".password_env", "auth = %q takes no password; remove password_env and password_file", s.Auth)
		}
		c.validateOAuth2(p, name, s)
	default:
		p.add(name+".auth", "must be password, xoauth2, oauthbearer or none, not %q", s.Auth)
	}
	if !s.IsOAuth2() {
		for key, v := range map[string]string{"token_command": s.TokenCommand, "oauth2_provider": s.Provider,
			"oauth2_client_id": s.ClientID, "oauth2_refresh_token_env": s.RefreshTokenEnv,
			"oauth2_refresh_token_file": s.RefreshTokenFile, "oauth2_token_url": s.TokenURL} {
			if v != "" {
				p.add(name+"."+key, "only used with auth = \"xoauth2\" or \"oauthbearer\"")
			}
		}
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			p.add(name+".ca_file", "cannot read the CA file: %v", errors.Unwrap(err))
		}
	}
}

// validateOAuth2 checks where an OAuth2 access token comes from: exactly one
// of token_command and a refresh-token flow (oauth2_provider or
// oauth2_token_url), and what that flow needs.
func (c *Config) validateOAuth2(p *problems, name string, s Server) {
	o := s.OAuth2
	flow := o.Provider != "" || o.TokenURL != ""
	switch {
	case o.TokenCommand != "" && flow:
		p.add(name+".token_command", "give either token_command or oauth2_provider, not both")
		return
	case o.TokenCommand == "" && !flow:
		p.add(name+".auth", "%q needs token_command, or oauth2_provider with a refresh token", s.Auth)
		return
	case o.TokenCommand != "":
		if strings.TrimSpace(o.TokenCommand) == "" {
			p.add(name+".token_command", "empty command")
		}
		return
	}
	switch o.Provider {
	case "microsoft", "google", "":
	default:
		p.add(name+".oauth2_provider", "must be microsoft or google, not %q (or give oauth2_token_url)", o.Provider)
	}
	if o.Provider == "" && len(o.Scopes) == 0 {
		p.add(name+".oauth2_scopes", "missing: oauth2_token_url without oauth2_provider needs the scopes to ask for")
	}
	if o.Tenant != "" && o.Provider != "microsoft" {
		p.add(name+".oauth2_tenant", "only used with oauth2_provider = \"microsoft\"")
	}
	if o.TokenURL != "" {
		u, err := url.Parse(o.TokenURL)
		switch {
		case err != nil || u.Host == "":
			p.add(name+".oauth2_token_url", "not a URL: %q", o.TokenURL)
		case u.Scheme == "https":
		case u.Scheme == "http" && IsLoopback(u.Hostname()):
		default:
			p.add(name+".oauth2_token_url", "must be https (http only to a loopback address), not %q", o.TokenURL)
		}
	}
	if o.ClientID == "" {
		p.add(name+".oauth2_client_id", "missing: the application (client) id registered with the provider")
	}
	if (o.RefreshTokenEnv == "") == (o.RefreshTokenFile == "") {
		p.add(name+".oauth2_refresh_token_env", "give exactly one of oauth2_refresh_token_env and oauth2_refresh_token_file")
	} else if o.RefreshTokenEnv != "" && !envName.MatchString(o.RefreshTokenEnv) {
		p.add(name+".oauth2_refresh_token_env", "%v", errNotEnvName)
	}
	if o.ClientSecretEnv != "" && o.ClientSecretFile != "" {
		p.add(name+".oauth2_client_secret_env", "give at most one of oauth2_client_secret_env and oauth2_client_secret_file")
	} else if o.ClientSecretEnv != "" && !envName.MatchString(o.ClientSecretEnv) {
		p.add(name+".oauth2_client_secret_env", "%v", errNotEnvName)
	}
	if o.Provider == "google" && o.ClientSecretEnv == "" && o.ClientSecretFile == "" {
		p.add(name+".oauth2_client_secret_env", "missing: Google needs the OAuth client's secret (oauth2_client_secret_env or _file)")
	}
}

func (c *Config) validateIMAP(p *problems) {
	m := c.IMAP
	names := map[string]string{"imap.mailbox": m.Mailbox, "imap.processed": m.Processed, "imap.quarantine": m.Quarantine}
	seen := map[string]string{}
	for _, k := range []string{"imap.mailbox", "imap.processed", "imap.quarantine"} {
		if other, ok := seen[strings.ToLower(names[k])]; ok {
			p.add(k, "must differ from %s (%q)", other, names[k])
		}
		seen[strings.ToLower(names[k])] = k
	}
	if d := c.Database.BusyTimeout.Duration; d < 0 || d > time.Hour {
		p.add("database.busy_timeout", "must be between 0s and 1h")
	}
	if m.PollInterval.Duration < time.Second {
		p.add("imap.poll_interval", "must be at least 1s")
	}
	// RFC 2177 §3: servers may drop an IDLE after 30 minutes.
	if m.IdleTimeout.Duration < time.Second || m.IdleTimeout.Duration >= 29*time.Minute {
		p.add("imap.idle_timeout", "must be between 1s and 29m (servers drop IDLE at 30m)")
	}
	if m.BatchSize < 1 || m.BatchSize > 5000 {
		p.add("imap.batch_size", "must be between 1 and 5000")
	}
	if c.SMTP.MaxAttempts < 1 {
		p.add("smtp.max_attempts", "must be at least 1")
	}
}

func (c *Config) validateIntake(p *problems) {
	for i, f := range c.Intake.Required {
		if f != "contact" && !IsField(f) {
			p.add(fmt.Sprintf("intake.required[%d]", i), "unknown field %q (see `refdesk fields`; \"contact\" means phone or email)", f)
		}
	}
	if !slices.Contains([]string{"hold", "reply", "ignore"}, c.Intake.UnknownSenders) {
		p.add("intake.unknown_senders", "must be hold, reply or ignore, not %q", c.Intake.UnknownSenders)
	}
	if c.Intake.MaxMessageSize < 1024 {
		p.add("intake.max_message_size", "must be at least 1KB")
	}
	if c.Intake.MaxAttachments < 1 || c.Intake.MaxAttachments > 1000 {
		p.add("intake.max_attachments", "must be between 1 and 1000")
	}
	if c.Intake.MaxAttachmentSize < 1024 {
		p.add("intake.max_attachment_size", "must be at least 1KB")
	}
	if c.Intake.MaxUnzippedSize < c.Intake.MaxAttachmentSize {
		p.add("intake.max_unzipped_size", "must be at least intake.max_attachment_size")
	}
	if c.Intake.ParseTimeout.Duration < 100*time.Millisecond || c.Intake.ParseTimeout.Duration > 10*time.Minute {
		p.add("intake.parse_timeout", "must be between 100ms and 10m")
	}
	if c.Intake.RepliesPerSenderPerHour < 1 {
		p.add("intake.replies_per_sender_per_hour", "must be at least 1")
	}
	for f := range c.Fields.Aliases {
		if !IsField(f) {
			p.add("fields.aliases."+f, "unknown field %q (see `refdesk fields`)", f)
		}
	}
}

func (c *Config) validateSchedule(p *problems) {
	g := c.Grant
	if g.TargetClients < 0 {
		p.add("grant.target_clients", "must be 0 or more")
	}
	if g.Start.Year != 0 && g.End.Year != 0 && !g.EndIn(time.UTC).After(g.StartIn(time.UTC)) {
		p.add("grant.end", "must be after grant.start")
	}
	if g.TargetClients > 0 && (g.Start.Year == 0 || g.End.Year == 0) {
		p.add("grant", "target_clients needs start and end dates")
	}
	if c.Reports.Day < 1 || c.Reports.Day > 28 {
		p.add("reports.day", "must be 1-28 (every month has it)")
	}
	if c.Reports.Hour < 0 || c.Reports.Hour > 23 {
		p.add("reports.hour", "must be 0-23")
	}
	if c.Digest.Hour < 0 || c.Digest.Hour > 23 {
		p.add("digest.hour", "must be 0-23")
	}
	if c.Digest.NeedsInfoDays < 1 {
		p.add("digest.needs_info_days", "must be at least 1")
	}
	if c.Retention.RawMessages.Duration < 0 || c.Retention.ClosedReferrals.Duration < 0 {
		p.add("retention", "durations must not be negative")
	}
}

func (c *Config) validatePartners(p *problems) {
	ids := map[string]bool{}
	owner := map[string]string{}
	for i, pt := range c.Partners {
		k := fmt.Sprintf("partners[%d]", i)
		if !idPattern.MatchString(pt.ID) {
			p.add(k+".id", "missing or not a lower-case id (letters, digits, . _ -): %q", pt.ID)
		} else if ids[pt.ID] {
			p.add(k+".id", "duplicate partner id %q", pt.ID)
		}
		ids[pt.ID] = true
		if pt.Name == "" {
			p.add(k+".name", "missing")
		}
		if len(pt.Domains) == 0 && len(pt.Addresses) == 0 {
			p.add(k, "partner %q has neither domains nor addresses, so no mail can come from it", pt.ID)
		}
		for j, d := range pt.Domains {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "" || strings.ContainsAny(d, "@ ") || !strings.Contains(d, ".") {
				p.add(fmt.Sprintf("%s.domains[%d]", k, j), "not a domain: %q", d)
			} else if o, dup := owner[d]; dup && o != pt.ID {
				p.add(fmt.Sprintf("%s.domains[%d]", k, j), "%q also belongs to partner %q", d, o)
			}
			owner[d] = pt.ID
		}
		for j, a := range pt.Addresses {
			pa, err := mail.ParseAddress(a)
			if err != nil {
				p.add(fmt.Sprintf("%s.addresses[%d]", k, j), "not an email address: %q", a)
				continue
			}
			if o, dup := owner[strings.ToLower(pa.Address)]; dup && o != pt.ID {
				p.add(fmt.Sprintf("%s.addresses[%d]", k, j), "%q also belongs to partner %q", a, o)
			}
			owner[strings.ToLower(pa.Address)] = pt.ID
		}
		for j, a := range pt.ReportTo {
			if _, err := mail.ParseAddress(a); err != nil {
				p.add(fmt.Sprintf("%s.report_to[%d]", k, j), "not an email address: %q", a)
			}
		}
	}
}

func (c *Config) validateServices(p *problems) {
	ids := map[string]bool{}
	for i, s := range c.Services {
		k := fmt.Sprintf("services[%d]", i)
		if !idPattern.MatchString(s.ID) {
			p.add(k+".id", "missing or not a lower-case id: %q", s.ID)
		} else if ids[s.ID] {
			p.add(k+".id", "duplicate service id %q", s.ID)
		}
		ids[s.ID] = true
		if s.Name == "" {
			p.add(k+".name", "missing")
		}
		if s.Contact == "" && s.Email == "" {
			p.add(k+".contact", "give contact or email, so the referrer knows how to reach the service")
		}
		if s.Email != "" {
			if _, err := mail.ParseAddress(s.Email); err != nil {
				p.add(k+".email", "not an email address: %q", s.Email)
			}
		}
	}
}

func (c *Config) validateRules(p *problems) {
	ids := map[string]bool{}
	for i, r := range c.Rules {
		k := fmt.Sprintf("rules[%d]", i)
		if !idPattern.MatchString(r.ID) {
			p.add(k+".id", "missing or not a lower-case id: %q", r.ID)
		} else if ids[r.ID] {
			p.add(k+".id", "duplicate rule id %q", r.ID)
		}
		ids[r.ID] = true
		switch r.Then {
		case "redirect":
			if r.Service == "" {
				p.add(k+".service", "missing: a redirect rule names the service it points to")
			} else if c.Service(r.Service) == nil {
				p.add(k+".service", "no service with id %q", r.Service)
			}
		case "waitlist":
			if r.Service != "" {
				p.add(k+".service", "only redirect rules name a service")
			}
		default:
			p.add(k+".then", "must be redirect or waitlist, not %q", r.Then)
		}
		if r.Reason == "" {
			p.add(k+".reason", "missing: the reason is told to the referrer")
		}
		if len(r.Keywords) == 0 && r.FieldYes == "" && r.Field == "" && r.FieldMissing == "" &&
			len(r.ZipIn) == 0 && len(r.ZipNotIn) == 0 && r.AgeBelow == nil && r.AgeAbove == nil {
			p.add(k, "rule %q has no condition, so it would match every referral", r.ID)
		}
		for j, kw := range r.Keywords {
			if strings.TrimSpace(kw) == "" {
				p.add(fmt.Sprintf("%s.keywords[%d]", k, j), "empty keyword")
			}
		}
		for j, f := range r.InFields {
			if !IsField(f) {
				p.add(fmt.Sprintf("%s.in_fields[%d]", k, j), "unknown field %q", f)
			}
		}
		for key, f := range map[string]string{"field_yes": r.FieldYes, "field": r.Field, "field_missing": r.FieldMissing} {
			if f != "" && !IsField(f) {
				p.add(k+"."+key, "unknown field %q", f)
			}
		}
		if r.Field == "" && (len(r.In) > 0 || len(r.NotIn) > 0) {
			p.add(k+".field", "in and not_in need field = \"...\"")
		}
		if r.Field != "" && len(r.In) == 0 && len(r.NotIn) == 0 {
			p.add(k+".field", "field needs in or not_in")
		}
		if r.AgeBelow != nil && *r.AgeBelow < 0 || r.AgeAbove != nil && *r.AgeAbove < 0 {
			p.add(k, "ages must not be negative")
		}
	}
}

// IsField reports whether name is a canonical referral field.
func IsField(name string) bool {
	_, ok := parse.FieldByName(name)
	return ok
}

// IsLoopback reports whether host is a loopback name or address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Service returns the service with id, or nil.
func (c *Config) Service(id string) *Service {
	for i := range c.Services {
		if c.Services[i].ID == id {
			return &c.Services[i]
		}
	}
	return nil
}

// Partner returns the partner with id, or nil.
func (c *Config) Partner(id string) *Partner {
	for i := range c.Partners {
		if c.Partners[i].ID == id {
			return &c.Partners[i]
		}
	}
	return nil
}

// PartnerFor returns the partner an address belongs to (by exact address
// first, then by domain or parent domain), or nil.
func (c *Config) PartnerFor(addr string) *Partner {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return nil
	}
	for i := range c.Partners {
		for _, a := range c.Partners[i].Addresses {
			// Validate accepts "Name <addr>"; compare the address part.
			if pa, err := mail.ParseAddress(a); err == nil {
				a = pa.Address
			}
			if strings.EqualFold(strings.TrimSpace(a), addr) {
				return &c.Partners[i]
			}
		}
	}
	domain := addr[at+1:]
	for i := range c.Partners {
		for _, d := range c.Partners[i].Domains {
			d = strings.ToLower(d)
			if domain == d || strings.HasSuffix(domain, "."+d) {
				return &c.Partners[i]
			}
		}
	}
	return nil
}

var errNotEnvName = errors.New("not the name of an environment variable (letters, digits and _); " +
	"the password itself belongs in that variable or in password_file, never in the config file")

// Secret returns the server's password from password_env or password_file.
// The value is never logged; errors name the variable or file, not the value.
func (s Server) Secret() (string, error) { return ReadSecret(s.PasswordEnv, s.PasswordFile) }

// ReadSecret reads a secret from the environment variable env, or else from
// file. The value is never logged; errors name the variable or file, not the
// value. Both empty gives "".
func ReadSecret(env, file string) (string, error) {
	switch {
	case env != "":
		if !envName.MatchString(env) {
			return "", errNotEnvName
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	return "", nil
}

// CheckSecrets reports every secret that cannot be read (unset variable,
// unreadable file), naming where it should be, never its value.
func (c *Config) CheckSecrets() error {
	p := &problems{c: c}
	for _, s := range []struct {
		key string
		srv Server
	}{{"imap", c.IMAP.Server}, {"smtp", c.SMTP.Server}} {
		check := func(env, file, envKey, fileKey string) {
			if _, err := ReadSecret(env, file); err != nil {
				key := s.key + "." + envKey
				if file != "" {
					key = s.key + "." + fileKey
				}
				p.add(key, "%v", err)
			}
		}
		switch {
		case s.srv.Auth == "password":
			check(s.srv.PasswordEnv, s.srv.PasswordFile, "password_env", "password_file")
		case s.srv.IsOAuth2() && s.srv.TokenCommand == "":
			check(s.srv.RefreshTokenEnv, s.srv.RefreshTokenFile, "oauth2_refresh_token_env", "oauth2_refresh_token_file")
			check(s.srv.ClientSecretEnv, s.srv.ClientSecretFile, "oauth2_client_secret_env", "oauth2_client_secret_file")
		}
	}
	return errors.Join(p.errs...)
}
