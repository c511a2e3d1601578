package configs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"refdesk/configs"
)

// oauthIMAP replaces the IMAP password with an OAuth2 table body.
func oauthIMAP(keys string) string {
	return strings.Replace(minimal, `password_env = "REFDESK_TEST_IMAP_PASSWORD"`, keys, 1)
}

func TestOAuth2KeysAreValidated(t *testing.T) {
	cases := []struct {
		name  string
		keys  string
		wants []string // "key: words" each on its own problem; none = valid
	}{
		{"token command", "auth = \"xoauth2\"\ntoken_command = \"oama access referrals@test.example\"", nil},
		{"microsoft", "auth = \"xoauth2\"\noauth2_provider = \"microsoft\"\noauth2_client_id = \"app\"\noauth2_refresh_token_file = \"/etc/refdesk/rt\"\noauth2_tenant = \"eastside.example\"", nil},
		{"google needs a secret", "auth = \"oauthbearer\"\noauth2_provider = \"google\"\noauth2_client_id = \"app\"\noauth2_refresh_token_env = \"RT\"",
			[]string{"imap.oauth2_client_secret_env: missing"}},
		{"neither source", "auth = \"xoauth2\"", []string{"imap.auth: \"xoauth2\" needs token_command"}},
		{"both sources", "auth = \"xoauth2\"\ntoken_command = \"x\"\noauth2_provider = \"google\"", []string{"imap.token_command: give either"}},
		{"unknown provider", "auth = \"xoauth2\"\noauth2_provider = \"yahoo\"\noauth2_client_id = \"a\"\noauth2_refresh_token_env = \"RT\"",
			[]string{"imap.oauth2_provider: must be microsoft or google"}},
		{"plain http token url", "auth = \"xoauth2\"\noauth2_token_url = \"http://login.example/token\"\noauth2_scopes = [\"x\"]\noauth2_client_id = \"a\"\noauth2_refresh_token_env = \"RT\"",
			[]string{"imap.oauth2_token_url: must be https"}},
		{"refresh token written as the env name", "auth = \"xoauth2\"\noauth2_provider = \"microsoft\"\noauth2_client_id = \"a\"\noauth2_refresh_token_env = \"0.AVYA-secret-looking\"",
			[]string{"imap.oauth2_refresh_token_env: not the name of an environment variable"}},
		{"token keys without oauth", "password_env = \"P\"\ntoken_command = \"x\"", []string{"imap.token_command: only used with auth"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := oauthIMAP(c.keys)
			_, err := configs.Parse("t.toml", []byte(text))
			got := problemsOf(err)
			if len(c.wants) == 0 && len(got) > 0 {
				t.Fatalf("valid config refused: %q", got)
			}
			for _, w := range c.wants {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w) && strings.HasPrefix(g, "t.toml:")
				}
				if !found {
					t.Errorf("no problem %q with file:line in %q", w, got)
				}
			}
			for _, g := range got {
				if strings.Contains(g, "0.AVYA-secret-looking") {
					t.Errorf("a secret-looking value is echoed: %q", g)
				}
			}
		})
	}
}

func TestPlaintextToRemoteHostNamesSecurity(t *testing.T) {
	text := strings.Replace(minimal, `address = "imap.test.example:993"`, "address = \"imap.test.example:143\"\nsecurity = \"none\"", 1)
	_, err := configs.Parse("t.toml", []byte(text))
	want := fmt.Sprintf("t.toml:%d: imap.security:", lineOf(t, text, `security = "none"`))
	if got := problemsOf(err); len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("problems %q, want one starting %q", got, want)
	}
}

func TestCAFileMustExist(t *testing.T) {
	text := strings.Replace(minimal, `address = "smtp.test.example:587"`, "address = \"smtp.test.example:587\"\nca_file = \"/nonexistent/ca.pem\"", 1)
	_, err := configs.Parse("t.toml", []byte(text))
	if got := problemsOf(err); len(got) != 1 || !strings.Contains(got[0], "smtp.ca_file") {
		t.Fatalf("problems %q", got)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	c, err := configs.Parse("t.toml", []byte(strings.Replace(text, "/nonexistent/ca.pem", ca, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SMTP.TLSConfig(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without a certificate: %v", err)
	}
}
