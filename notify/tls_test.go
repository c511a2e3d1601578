package notify

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/configs/tlstest"
	"refdesk/notify/smtpsink"
)

// TestSMTPTLSVerifiesCertificates: over STARTTLS and implicit TLS, a relay
// whose certificate comes from a private CA is refused until smtp.ca_file
// names that CA; a relay offering only TLS 1.1 is refused even then.
func TestSMTPTLSVerifiesCertificates(t *testing.T) {
	ca := tlstest.New(t)
	dial := func(t *testing.T, addr, security, caFile string) error {
		cfg := configs.SMTP{Server: configs.Server{Address: addr, Security: security, Auth: "none", CAFile: caFile},
			Timeout: configs.Duration{Duration: 5 * time.Second}}
		c, err := NewClient(context.Background(), cfg, nil)
		if err != nil {
			return err
		}
		if err := c.DialWithContext(context.Background()); err != nil {
			return err
		}
		return c.Close()
	}
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			sink, err := smtpsink.Start(smtpsink.Options{TLS: ca.Server, Implicit: mode == "tls"})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			if err := dial(t, sink.Addr(), mode, ""); err == nil {
				t.Fatal("a certificate from an unknown CA was accepted")
			} else if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("the refusal does not say why: %v", err)
			}
			if err := dial(t, sink.Addr(), mode, ca.File); err != nil {
				t.Fatalf("with ca_file: %v", err)
			}
		})
	}
	t.Run("tls1.1 refused", func(t *testing.T) {
		old := ca.Server.Clone()
		old.MaxVersion = tls.VersionTLS11
		sink, err := smtpsink.Start(smtpsink.Options{TLS: old, Implicit: true})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		if err := dial(t, sink.Addr(), "tls", ca.File); err == nil {
			t.Fatal("TLS 1.1 was accepted")
		}
	})
}
