package ingest

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"refdesk/configs"
	"refdesk/configs/tlstest"
	"refdesk/ingest/imaptest"
)

// TestIMAPTLSVerifiesCertificates: over implicit TLS and STARTTLS, a server
// whose certificate comes from a private CA is refused until imap.ca_file
// names that CA; a server offering only TLS 1.1 is refused even then.
func TestIMAPTLSVerifiesCertificates(t *testing.T) {
	ca := tlstest.New(t)
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			srv := imaptest.Start(t, imaptest.Options{TLS: ca.Server, Implicit: mode == "tls"})
			t.Setenv("REFDESK_TEST_IMAP_PASSWORD", testPass)
			cfg := configs.IMAP{Server: configs.Server{Address: srv.Addr, Security: mode, Auth: "password",
				Username: testUser, PasswordEnv: "REFDESK_TEST_IMAP_PASSWORD"}}
			if c, err := Dial(context.Background(), cfg, nil, nil); err == nil {
				c.Close()
				t.Fatal("a certificate from an unknown CA was accepted")
			} else if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("the refusal does not say why: %v", err)
			}
			cfg.CAFile = ca.File
			c, err := Dial(context.Background(), cfg, nil, nil)
			if err != nil {
				t.Fatalf("with ca_file: %v", err)
			}
			if err := c.Noop().Wait(); err != nil {
				t.Errorf("NOOP over TLS: %v", err)
			}
			c.Close()
		})
	}
	t.Run("tls1.1 refused", func(t *testing.T) {
		old := ca.Server.Clone()
		old.MaxVersion = tls.VersionTLS11
		srv := imaptest.Start(t, imaptest.Options{TLS: old, Implicit: true})
		t.Setenv("REFDESK_TEST_IMAP_PASSWORD", testPass)
		cfg := configs.IMAP{Server: configs.Server{Address: srv.Addr, Security: "tls", Auth: "password",
			Username: testUser, PasswordEnv: "REFDESK_TEST_IMAP_PASSWORD", CAFile: ca.File}}
		if c, err := Dial(context.Background(), cfg, nil, nil); err == nil {
			c.Close()
			t.Fatal("TLS 1.1 was accepted")
		}
	})
}
