// Package oauth gets the OAuth2 access tokens that auth = "xoauth2" and
// auth = "oauthbearer" log in to IMAP and SMTP with: from a configured
// token_command, or by exchanging a refresh token at Microsoft's or Google's
// token endpoint with golang.org/x/oauth2. Tokens are cached and renewed
// before they expire.
//
// A token, a refresh token and a client secret are secrets: this package
// never logs them and never puts them in an error.
package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"refdesk/configs"
)

const (
	// commandTimeout bounds one run of token_command.
	commandTimeout = 30 * time.Second
	// assumedLifetime is the lifetime of a token_command token that does
	// not say its own (Microsoft's and Google's last 60 minutes or more).
	assumedLifetime = 55 * time.Minute
	// maxEarly is how long before its expiry a token is renewed, at most;
	// short-lived tokens are renewed when a fifth of their life is left.
	maxEarly    = 5 * time.Minute
	httpTimeout = 30 * time.Second
)

// Token is an access token and when to stop using it.
type Token struct {
	Value   string
	Expiry  time.Time // when the provider says it expires
	RenewAt time.Time // when a new one is fetched: before Expiry
}

// Source hands out access tokens for one server, fetching a new one when
// the cached one is due for renewal. It is safe for concurrent use.
type Source struct {
	kind string // "imap" or "smtp": picks the provider scopes
	srv  configs.Server
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu      sync.Mutex
	tok     Token
	refresh string // the current refresh token (providers may rotate it)
	fetches int
}

// New returns the token source for a server, or nil when the server does not
// log in with OAuth2. kind is "imap" or "smtp". Nothing is fetched yet.
func New(kind string, srv configs.Server) *Source {
	if !srv.IsOAuth2() {
		return nil
	}
	return &Source{kind: kind, srv: srv, Now: time.Now}
}

// Token returns a valid access token, from the cache or fetched now.
func (s *Source) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Value != "" && s.Now().Before(s.tok.RenewAt) {
		return s.tok, nil
	}
	var tok Token
	var err error
	if s.srv.TokenCommand != "" {
		tok, err = s.fromCommand(ctx)
	} else {
		tok, err = s.fromRefresh(ctx)
	}
	if err != nil {
		return Token{}, err
	}
	s.tok = tok
	s.fetches++
	return tok, nil
}

// Invalidate drops the cached token, so the next Token fetches a new one
// (after the server refused it).
func (s *Source) Invalidate() {
	s.mu.Lock()
	s.tok = Token{}
	s.mu.Unlock()
}

// RenewAt is when the cached token is due for renewal (zero if none): a
// session logged in with it should log in again before then.
func (s *Source) RenewAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok.RenewAt
}

// Fetches says how many tokens were fetched so far (for tests and `check`).
func (s *Source) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// stamp fills Expiry and RenewAt from a lifetime.
func (s *Source) stamp(value string, expiry time.Time) Token {
	now := s.Now()
	if expiry.IsZero() {
		expiry = now.Add(assumedLifetime)
	}
	early := min(maxEarly, expiry.Sub(now)/5)
	return Token{Value: value, Expiry: expiry, RenewAt: expiry.Add(-early)}
}

// fromCommand runs token_command with sh -c and a timeout. Its standard
// output is the token, or a JSON object with access_token and expires_in.
// Its error output is not shown: a helper may print secrets there.
func (s *Source) fromCommand(ctx context.Context) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.srv.TokenCommand)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.Discard
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Token{}, fmt.Errorf("%s token_command: no token within %v", s.kind, commandTimeout)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Token{}, fmt.Errorf("%s token_command: %v (its error output is not shown; run it by hand to see why)", s.kind, ee.ProcessState)
		}
		return Token{}, fmt.Errorf("%s token_command: %v", s.kind, err)
	}
	out := strings.TrimSpace(stdout.String())
	if strings.HasPrefix(out, "{") {
		var j struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int64  `json:"expires_in"`
		}
		if err := json.Unmarshal([]byte(out), &j); err != nil || j.AccessToken == "" {
			return Token{}, fmt.Errorf("%s token_command: printed a JSON object without access_token", s.kind)
		}
		var exp time.Time
		if j.ExpiresIn > 0 {
			exp = s.Now().Add(time.Duration(j.ExpiresIn) * time.Second)
		}
		return s.stamp(j.AccessToken, exp), nil
	}
	if out == "" || strings.ContainsAny(out, " \t\r\n") {
		return Token{}, fmt.Errorf("%s token_command: printed no token (want one line, or JSON with access_token)", s.kind)
	}
	return s.stamp(out, time.Time{}), nil
}

// Endpoint returns the token URL and scopes of the configured provider;
// oauth2_token_url and oauth2_scopes override them.
func Endpoint(kind string, o configs.OAuth2) (tokenURL string, scopes []string) {
	switch o.Provider {
	case "microsoft":
		tenant := o.Tenant
		if tenant == "" {
			tenant = "organizations"
		}
		tokenURL = "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
		scope := "https://outlook.office.com/IMAP.AccessAsUser.All"
		if kind == "smtp" {
			scope = "https://outlook.office.com/SMTP.Send"
		}
		scopes = []string{scope, "offline_access"}
	case "google":
		tokenURL = "https://oauth2.googleapis.com/token"
		scopes = []string{"https://mail.google.com/"}
	}
	if o.TokenURL != "" {
		tokenURL = o.TokenURL
	}
	if len(o.Scopes) > 0 {
		scopes = o.Scopes
	}
	return tokenURL, scopes
}

// fromRefresh exchanges the refresh token for an access token. A rotated
// refresh token replaces the old one in memory and, when it came from
// oauth2_refresh_token_file, in that file.
func (s *Source) fromRefresh(ctx context.Context) (Token, error) {
	o := s.srv.OAuth2
	if s.refresh == "" {
		rt, err := configs.ReadSecret(o.RefreshTokenEnv, o.RefreshTokenFile)
		if err != nil {
			return Token{}, fmt.Errorf("%s refresh token: %w", s.kind, err)
		}
		s.refresh = rt
	}
	secret, err := configs.ReadSecret(o.ClientSecretEnv, o.ClientSecretFile)
	if err != nil {
		return Token{}, fmt.Errorf("%s client secret: %w", s.kind, err)
	}
	tokenURL, scopes := Endpoint(s.kind, o)
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	hc := &http.Client{Timeout: httpTimeout, Transport: scopeTransport{scopes: strings.Join(scopes, " ")}}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	// A source holding only the refresh token always asks the endpoint.
	t, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh}).Token()
	if err != nil {
		return Token{}, fmt.Errorf("%s token from %s: %s", s.kind, tokenURL, describe(err))
	}
	if t.RefreshToken != "" && t.RefreshToken != s.refresh {
		s.refresh = t.RefreshToken
		if o.RefreshTokenFile != "" {
			if err := writePrivate(o.RefreshTokenFile, t.RefreshToken); err != nil {
				return Token{}, fmt.Errorf("%s: keep the new refresh token: %w", s.kind, err)
			}
		}
	}
	return s.stamp(t.AccessToken, t.Expiry), nil
}

// describe says why a token request failed without the response body
// (which x/oauth2 would print, and which may echo what was sent).
func describe(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "refused"
		if re.Response != nil {
			msg = re.Response.Status
		}
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			d := re.ErrorDescription
			if i := strings.IndexAny(d, "\r\n"); i >= 0 {
				d = d[:i]
			}
			msg += " (" + d + ")"
		}
		return msg
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// scopeTransport adds the scope to refresh requests: x/oauth2 sends only
// grant_type and refresh_token, and Microsoft's v2.0 endpoint wants the
// scope too. Only TLS (or loopback http, as validated) is used.
type scopeTransport struct{ scopes string }

func (t scopeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil && t.scopes != "" {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		v, err := url.ParseQuery(string(b))
		if err == nil && v.Get("grant_type") == "refresh_token" && v.Get("scope") == "" {
			v.Set("scope", t.scopes)
			b = []byte(v.Encode())
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// writePrivate replaces file with value, mode 0600, atomically.
func writePrivate(file, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".refresh-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
