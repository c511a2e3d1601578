package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"refdesk/store"
)

// testKeys is a DNS of DKIM keys the test generated: no network.
type testKeys map[string]string // "sel._domainkey.domain" -> TXT record

func (k testKeys) lookup(domain string) ([]string, error) {
	if txt, ok := k[domain]; ok {
		return []string{txt}, nil
	}
	return nil, fmt.Errorf("no TXT record for %s", domain)
}

func signFor(t *testing.T, keys testKeys, domain string, raw []byte) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys["sel1._domainkey."+domain] = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "sel1", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestDKIMVerificationAndAlignment(t *testing.T) {
	cases := []struct {
		name    string
		signer  string // "" = unsigned
		tamper  bool
		require bool
		held    string // "" = taken in as a referral
	}{
		{name: "aligned signature", signer: "northside-housing.example"},
		{name: "signature from a subdomain is aligned", signer: "mail.northside-housing.example", require: true},
		{name: "body changed after signing", signer: "northside-housing.example", tamper: true,
			held: "DKIM signature for northside-housing.example failed: body hash did not verify"},
		{name: "unsigned, authentication not required", signer: ""},
		{name: "unsigned, partner requires authentication", signer: "", require: true,
			held: "no aligned DKIM signature; partner requires authentication"},
		{name: "signed by another domain, partner requires authentication", signer: "bulk-mailer.example", require: true,
			held: "no aligned DKIM signature; partner requires authentication"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:1")
			cfg.Intake.VerifyDKIM = true
			cfg.Partners[0].RequireAuthentication = c.require
			st := openStore(t, cfg)
			p := NewProcessor(cfg)
			keys := testKeys{}
			p.SetLookupTXT(keys.lookup)
			raw := referral(maria, "New referral", goodRef)
			if c.signer != "" {
				raw = signFor(t, keys, c.signer, raw)
			}
			if c.tamper {
				raw = bytes.Replace(raw, []byte("a budget"), []byte("a budgeT"), 1)
			}
			var got Processed
			err := st.InTx(context.Background(), func(tx *store.Tx) error {
				var err error
				got, err = p.Process(tx, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: 1, Raw: raw, Size: int64(len(raw)), Received: time.Now()})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.held == "" {
				if got.Disposition != store.DispReferral {
					t.Fatalf("disposition %s (%s), want referral", got.Disposition, got.Reason)
				}
				return
			}
			if got.Disposition != store.DispHeld || got.Reason != c.held {
				t.Fatalf("got %s %q, want held %q", got.Disposition, got.Reason, c.held)
			}
			held, err := st.Unresolved(context.Background(), store.DispHeld)
			if err != nil || len(held) != 1 || !strings.Contains(held[0].Reason, c.held) {
				t.Errorf("`refdesk held` would show %+v, %v", held, err)
			}
		})
	}
}

func TestAligned(t *testing.T) {
	for _, c := range []struct {
		signer, from string
		want         bool
	}{
		{"northside-housing.example", "northside-housing.example", true},
		{"mail.northside-housing.example", "northside-housing.example", true},
		{"northside-housing.example", "intake.northside-housing.example", true},
		{"example.co.uk", "other.co.uk", false},
		{"mailer.example", "northside-housing.example", false},
		{"", "northside-housing.example", false},
	} {
		if got := Aligned(c.signer, c.from); got != c.want {
			t.Errorf("Aligned(%q, %q) = %v", c.signer, c.from, got)
		}
	}
}
