package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"refdesk/configs/oauth/oauthtest"
	"refdesk/ingest/imaptest"
	"refdesk/notify/smtpsink"
)

const caseworker = "Maria Lopez <maria.lopez@northside-housing.example>"

// TestOAuth2LoginWithRefreshAndExpiry runs the daemon against an IMAP and an
// SMTP server that accept only OAuth2 tokens from a loopback token endpoint
// whose tokens live three seconds. Mail that arrives after the first tokens
// expired is still taken in and answered: the daemon renews its tokens (and
// its sessions) before they expire, and never offers an expired one.
func TestOAuth2LoginWithRefreshAndExpiry(t *testing.T) {
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			is := oauthtest.Start(t, 3*time.Second)
			im := imaptest.Start(t, imaptest.Options{Tokens: is.Check})
			sink, err := smtpsink.Start(smtpsink.Options{Tokens: is.Check})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			t.Setenv("TEST_REFRESH_TOKEN", is.RefreshToken)
			oauthKeys := fmt.Sprintf(`auth = %q
username = "referrals@eastside.example"
oauth2_token_url = %q
oauth2_scopes = ["https://mail.example/.default", "offline_access"]
oauth2_client_id = %q
oauth2_refresh_token_env = "TEST_REFRESH_TOKEN"`, mech, is.URL, is.ClientID)
			path := loopConfig(t,
				fmt.Sprintf("address = %q\nsecurity = \"none\"\nidle_timeout = \"1s\"\n%s", im.Addr, oauthKeys),
				fmt.Sprintf("address = %q\nsecurity = \"none\"\n%s", sink.Addr(), oauthKeys), "", "")
			_, st, logs := serveInBackground(t, path)

			im.Append(t, "INBOX", refMail(caseworker, "Referral", "Client name: Dana Whitfield\nPhone: 555-014-2000\nConsent: yes\n"))
			if _, err := sink.Wait(1, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(4 * time.Second) // every token issued so far has expired
			im.Append(t, "INBOX", refMail(caseworker, "Referral", "Client name: Luis Ortega\nPhone: 555-013-7788\nConsent: yes\n"))
			if _, err := sink.Wait(2, 20*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			if n := countOf(t, st, "SELECT count(*) FROM referrals"); n != 2 {
				t.Errorf("%d referrals, want 2", n)
			}
			if r := is.Refused(); len(r) > 0 {
				t.Errorf("the servers refused tokens: %q", r)
			}
			if n := is.Issued(); n < 4 {
				t.Errorf("%d tokens issued, want at least 4 (IMAP and SMTP, each renewed)", n)
			}
			for _, sc := range is.Scopes() {
				if sc != "https://mail.example/.default offline_access" {
					t.Errorf("refresh request scope = %q", sc)
				}
			}
			for i := 0; i <= is.Issued(); i++ {
				for _, secret := range []string{fmt.Sprintf("access-%d", i), fmt.Sprintf("refresh-%d", i)} {
					if strings.Contains(logs.String(), secret) {
						t.Errorf("the log contains the token %q", secret)
					}
				}
			}
		})
	}
}

// TestOAuth2TokenCommand logs in with a token printed by token_command.
func TestOAuth2TokenCommand(t *testing.T) {
	im := imaptest.Start(t, imaptest.Options{Tokens: func(_, tok string) error {
		if tok != "token-from-helper" {
			return fmt.Errorf("bad token")
		}
		return nil
	}})
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	path := loopConfig(t, fmt.Sprintf(`address = %q
security = "none"
idle_timeout = "1s"
auth = "xoauth2"
username = "referrals@eastside.example"
token_command = "echo token-from-helper"`, im.Addr),
		fmt.Sprintf("address = %q\nsecurity = \"none\"\nauth = \"none\"", sink.Addr()), "", "")
	_, _, logs := serveInBackground(t, path)
	im.Append(t, "INBOX", refMail(caseworker, "Referral", "Client name: Dana Whitfield\nPhone: 555-014-2000\nConsent: yes\n"))
	if _, err := sink.Wait(1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if strings.Contains(logs.String(), "token-from-helper") {
		t.Error("the log contains the token")
	}
}
