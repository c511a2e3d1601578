package oauth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/configs/oauth"
	"refdesk/configs/oauth/oauthtest"
)

func server(o configs.OAuth2) configs.Server {
	return configs.Server{Address: "imap.test.example:993", Auth: "xoauth2", Username: "referrals@test.example", OAuth2: o}
}

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	s := oauth.New("imap", server(configs.OAuth2{TokenCommand: "echo plain-token-123"}))
	tok, err := s.Token(ctx)
	if err != nil || tok.Value != "plain-token-123" || !tok.RenewAt.Before(tok.Expiry) {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	s = oauth.New("imap", server(configs.OAuth2{TokenCommand: `echo '{"access_token":"json-token","expires_in":600}'`}))
	tok, err = s.Token(ctx)
	if err != nil || tok.Value != "json-token" || time.Until(tok.Expiry) > 601*time.Second || time.Until(tok.RenewAt) > 480*time.Second {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	// A failing helper: the error says so without its output, which may
	// hold secrets.
	s = oauth.New("imap", server(configs.OAuth2{TokenCommand: "echo leaked-secret >&2; exit 3"}))
	if _, err := s.Token(ctx); err == nil || strings.Contains(err.Error(), "leaked-secret") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error = %v", err)
	}
}

func TestRefreshRotatesAndKeepsTheNewRefreshToken(t *testing.T) {
	is := oauthtest.Start(t, 2*time.Second)
	file := filepath.Join(t.TempDir(), "refresh-token")
	os.WriteFile(file, []byte(is.RefreshToken+"\n"), 0o600)
	s := oauth.New("smtp", server(configs.OAuth2{TokenURL: is.URL, Scopes: []string{"mail"}, ClientID: is.ClientID, RefreshTokenFile: file}))
	ctx := context.Background()
	first, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Token(ctx); again.Value != first.Value {
		t.Errorf("a valid token was not reused: %q then %q", first.Value, again.Value)
	}
	b, _ := os.ReadFile(file)
	if strings.TrimSpace(string(b)) != "refresh-1" {
		t.Errorf("the rotated refresh token was not kept: %q", b)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("refresh token file mode %v", fi.Mode().Perm())
	}
	time.Sleep(time.Until(first.RenewAt) + 10*time.Millisecond)
	second, err := s.Token(ctx)
	if err != nil || second.Value == first.Value {
		t.Fatalf("not renewed before expiry: %+v, %v", second, err)
	}
	if !time.Now().Before(first.Expiry) {
		t.Log("(slow machine: renewed after the first token's expiry)")
	}
	// A refused refresh token: the error names the endpoint's reason only.
	bad := oauth.New("smtp", server(configs.OAuth2{TokenURL: is.URL, Scopes: []string{"mail"}, ClientID: "wrong", RefreshTokenFile: file}))
	if _, err := bad.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "refresh-") {
		t.Fatalf("error = %v", err)
	}
}

func TestProviderEndpoints(t *testing.T) {
	u, sc := oauth.Endpoint("imap", configs.OAuth2{Provider: "microsoft", Tenant: "eastside.example"})
	if u != "https://login.microsoftonline.com/eastside.example/oauth2/v2.0/token" || sc[0] != "https://outlook.office.com/IMAP.AccessAsUser.All" {
		t.Errorf("microsoft imap: %s %v", u, sc)
	}
	u, sc = oauth.Endpoint("smtp", configs.OAuth2{Provider: "google"})
	if u != "https://oauth2.googleapis.com/token" || sc[0] != "https://mail.google.com/" {
		t.Errorf("google smtp: %s %v", u, sc)
	}
}
