package configs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"refdesk/configs"
)

func TestValidateReportsEveryProblemWithKeyAndLine(t *testing.T) {
	want := []struct {
		marker, key, says string
	}{
		{"P-timezone", "program.timezone", "unknown time zone"},
		{"P-security", "imap.security", "loopback"},
		{"P-required", "intake.required[1]", `unknown field "client_phon"`},
		{"P-alias", "fields.aliases.client_nmae", "unknown field"},
		{"P-day", "reports.day", "1-28"},
		{"P-duplicate", "partners[1].id", `duplicate partner id "northside"`},
		{"P-nowhere", "partners[2]", "neither domains nor addresses"},
		{"P-service", "rules[0].service", `no service with id "no-such-service"`},
		{"P-no-service", "rules[1].service", "names the service"},
	}
	cfg, err := configs.Parse("bad.toml", []byte(everyProblem))
	if cfg == nil {
		t.Fatalf("a config with validation problems must still be returned (for refdesk check); err = %v", err)
	}
	got := problemsOf(err)
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		t.Run(w.key, func(t *testing.T) {
			prefix := fmt.Sprintf("bad.toml:%d: %s: ", lineOf(t, everyProblem, w.marker), w.key)
			for _, g := range got {
				if strings.HasPrefix(g, prefix) {
					if !strings.Contains(g, w.says) {
						t.Errorf("%q does not say %q", g, w.says)
					}
					return
				}
			}
			t.Errorf("no problem starts with %q in:\n%s", prefix, strings.Join(got, "\n"))
		})
	}
	// Validate on its own says the same again.
	if again := problemsOf(cfg.Validate()); !slices.Equal(again, got) {
		t.Errorf("Validate again:\n%s\nwant:\n%s", strings.Join(again, "\n"), strings.Join(got, "\n"))
	}
}

func TestSecurityNoneOnlyToLoopback(t *testing.T) {
	cases := []struct {
		address string
		ok      bool
	}{
		{"127.0.0.1:2525", true},
		{"[::1]:2525", true},
		{"localhost:2525", true},
		{"10.0.0.1:25", false},
		{"smtp.example.org:25", false},
	}
	for _, c := range cases {
		t.Run(c.address, func(t *testing.T) {
			text := strings.Replace(minimal, "[smtp]\naddress = \"smtp.test.example:587\"\n",
				fmt.Sprintf("[smtp]\naddress = %q\nsecurity = \"none\"\n", c.address), 1)
			_, err := configs.Parse("t.toml", []byte(text))
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "smtp.security")) {
				t.Fatalf("err = %v, want a problem with smtp.security", err)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("REFDESK_TEST_SECRET_SET", "pa ss-from-env")
	t.Setenv("REFDESK_TEST_SECRET_EMPTY", "")
	cases := []struct {
		name    string
		srv     configs.Server
		want    string
		errSays string
	}{
		{"env set", configs.Server{PasswordEnv: "REFDESK_TEST_SECRET_SET"}, "pa ss-from-env", ""},
		{"env unset", configs.Server{PasswordEnv: "REFDESK_TEST_SECRET_UNSET"}, "", "REFDESK_TEST_SECRET_UNSET"},
		{"env empty", configs.Server{PasswordEnv: "REFDESK_TEST_SECRET_EMPTY"}, "", "REFDESK_TEST_SECRET_EMPTY"},
		{"file with newline", configs.Server{PasswordFile: write("nl", "from-file\n")}, "from-file", ""},
		{"file with CRLF", configs.Server{PasswordFile: write("crlf", "from-file\r\n")}, "from-file", ""},
		{"file keeps inner and leading spaces", configs.Server{PasswordFile: write("sp", " a b \n")}, " a b ", ""},
		{"file empty", configs.Server{PasswordFile: write("empty", "\n")}, "", "empty"},
		{"file missing", configs.Server{PasswordFile: filepath.Join(dir, "nope")}, "", filepath.Join(dir, "nope")},
		{"no secret configured", configs.Server{}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.srv.Secret()
			if c.errSays != "" {
				if err == nil || !strings.Contains(err.Error(), c.errSays) {
					t.Fatalf("Secret() = %q, %v; want an error naming %q", got, err, c.errSays)
				}
				if got != "" {
					t.Errorf("Secret returned %q with its error", got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Secret() = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestCheckSecretsListsIMAPAndSMTP(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "smtp-password")
	text := strings.Replace(minimal, "password_env = \"REFDESK_TEST_SMTP_PASSWORD\"",
		fmt.Sprintf("password_file = %q", missing), 1)
	os.Unsetenv("REFDESK_TEST_IMAP_PASSWORD")
	c := mustParse(t, "t.toml", text)
	got := problemsOf(c.CheckSecrets())
	want := []string{
		fmt.Sprintf("t.toml:%d: imap.password_env: ", lineOf(t, text, "REFDESK_TEST_IMAP_PASSWORD")),
		fmt.Sprintf("t.toml:%d: smtp.password_file: ", lineOf(t, text, "password_file")),
	}
	if len(got) != len(want) {
		t.Fatalf("CheckSecrets: %d problems, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[0], "REFDESK_TEST_IMAP_PASSWORD") || !strings.Contains(got[1], missing) {
		t.Errorf("problems do not say where the secret should be: %q", got)
	}

	// Once both exist, nothing is reported; auth = "none" needs no secret.
	t.Setenv("REFDESK_TEST_IMAP_PASSWORD", "x")
	if err := os.WriteFile(missing, []byte("y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSecrets(); err != nil {
		t.Errorf("CheckSecrets with both secrets present: %v", err)
	}
	d, err := configs.Demo()
	if err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("REFDESK_DEMO_PASSWORD")
	if got := problemsOf(d.CheckSecrets()); len(got) != 1 || !strings.Contains(got[0], "imap.password_env") {
		t.Errorf("demo config (smtp auth none, imap env unset): %q, want only the imap problem", got)
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	const secret = "Tr0ub4dor&3-never-print"
	t.Setenv("REFDESK_TEST_IMAP_PASSWORD", secret)
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(minimal, "password_env = \"REFDESK_TEST_SMTP_PASSWORD\"", fmt.Sprintf("password_file = %q", file), 1)
	c := mustParse(t, "t.toml", good)
	for _, srv := range []configs.Server{c.IMAP.Server, c.SMTP.Server} {
		if got, err := srv.Secret(); err != nil || got != secret {
			t.Fatalf("Secret() = %q, %v", got, err)
		}
	}
	if err := c.CheckSecrets(); err != nil {
		t.Fatalf("CheckSecrets: %v", err)
	}
	outputs := map[string]string{
		"%+v of the config": fmt.Sprintf("%+v", c),
		"%#v of the config": fmt.Sprintf("%#v", *c),
		"%v of IMAP":        fmt.Sprintf("%v", c.IMAP),
	}
	// Errors from configs that have the password close at hand.
	bad := map[string]string{
		"a validation problem":                 strings.Replace(good, "address = \"smtp.test.example:587\"", "address = \"smtp.test.example\"", 1),
		"the password written inline":          strings.Replace(good, "[imap]\n", "[imap]\npassword = \""+secret+"\"\n", 1),
		"the password written as the env name": strings.Replace(good, "\"REFDESK_TEST_IMAP_PASSWORD\"", "\""+secret+"\"", 1),
	}
	for name, text := range bad {
		cfg, err := configs.Parse("t.toml", []byte(text))
		if err == nil {
			err = cfg.CheckSecrets()
		}
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		outputs["the error for "+name] = err.Error()
	}
	if out := outputs["the error for the password written as the env name"]; !strings.Contains(out, fmt.Sprintf("t.toml:%d: imap.password_env: not the name of an environment variable", lineOf(t, good, "REFDESK_TEST_IMAP_PASSWORD"))) {
		t.Errorf("a password written as password_env is not reported as such: %q", out)
	}
	for name, srv := range map[string]configs.Server{
		"Secret with the password as the env name": {PasswordEnv: secret},
	} {
		_, err := srv.Secret()
		outputs[name] = fmt.Sprint(err)
	}
	t.Setenv("REFDESK_TEST_IMAP_PASSWORD", "")
	outputs["CheckSecrets with the variable emptied"] = fmt.Sprint(c.CheckSecrets())
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, secret) || strings.Contains(out, "Tr0ub4dor") {
				t.Errorf("the password appears in %s:\n%s", name, out)
			}
		})
	}
}
