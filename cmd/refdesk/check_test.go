package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"refdesk/notify/smtpsink"
)

// TestCheckRefusesPlaintextToRemoteAndUnknownKeys: `refdesk check` names
// imap.security for plaintext IMAP to a host that is not loopback, and names
// an unknown key, each with file:line.
func TestCheckRefusesPlaintextToRemoteAndUnknownKeys(t *testing.T) {
	smtp := "address = \"127.0.0.1:25\"\nsecurity = \"none\"\nauth = \"none\""
	path := loopConfig(t, `address = "imap.eastside.example:143"
security = "none"
username = "referrals@eastside.example"
password_env = "REFDESK_IMAP_PASSWORD"`, smtp, "", "")
	_, errOut, err := run(t, "--config", path, "check")
	if err == nil {
		t.Fatal("check accepted plaintext IMAP to a remote host")
	}
	if !strings.Contains(errOut, "imap.security: \"none\"") || !strings.Contains(errOut, "imap.eastside.example") || !strings.Contains(errOut, filepath.Base(path)+":") {
		t.Errorf("check does not name imap.security (with file:line) for the remote host:\n%s", errOut)
	}
	path = loopConfig(t, "address = \"127.0.0.1:143\"\nsecurity = \"none\"\nauth = \"none\"", smtp, `verify_dkm = true`, "")
	_, errOut, err = run(t, "--config", path, "check")
	if err == nil {
		t.Fatal("check accepted an unknown key")
	}
	if !strings.Contains(errOut, "intake.verify_dkm: unknown key") || !strings.Contains(errOut, filepath.Base(path)+":") {
		t.Errorf("check does not name the unknown key with file:line:\n%s", errOut)
	}
}

// TestCheckConnectPrintsNoSecrets: `check --connect` with a password and a
// token command, against servers that refuse them, says what failed without
// the secrets.
func TestCheckConnectPrintsNoSecrets(t *testing.T) {
	sink, err := smtpsink.Start(smtpsink.Options{Users: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	t.Setenv("REFDESK_SMTP_PASSWORD", "pa55-word-never-printed")
	path := loopConfig(t, `address = "127.0.0.1:1"
security = "none"
auth = "xoauth2"
username = "referrals@eastside.example"
token_command = "echo tok-never-printed"`, fmt.Sprintf(`address = %q
security = "none"
username = "referrals@eastside.example"
password_env = "REFDESK_SMTP_PASSWORD"`, sink.Addr()), "", "")
	out, errOut, err := run(t, "--config", path, "check", "--connect")
	if err == nil {
		t.Fatal("check --connect passed against refusing servers")
	}
	all := out + errOut + err.Error()
	for _, secret := range []string{"pa55-word-never-printed", "tok-never-printed"} {
		if strings.Contains(all, secret) {
			t.Errorf("check printed the secret %q:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, "FAILED") {
		t.Errorf("check does not say what failed:\n%s", all)
	}
	os.Remove(path)
}
