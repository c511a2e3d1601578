package ingest

import (
	"context"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// DKIM verification (RFC 6376) for [intake] verify_dkim, and the DMARC-style
// alignment triage asks of it (RFC 7489 §3.1.1, relaxed mode).

// maxSignatures bounds the signatures verified per message: each costs a DNS
// lookup and an RSA or Ed25519 verification.
const maxSignatures = 5

// dnsTimeout bounds one DKIM key lookup.
const dnsTimeout = 5 * time.Second

// DKIMReport is what verifying a message's DKIM signatures found.
type DKIMReport struct {
	Signatures []DKIMSignature
	// Err is a failure of the whole verification (the message could not be
	// read as one); no signature is then trusted.
	Err error
}

// DKIMSignature is the result of one signature.
type DKIMSignature struct {
	Domain string // d=
	Err    error  // nil: verified
	Temp   bool   // the key could not be looked up now (DNS)
}

// LookupTXT looks up DNS TXT records; tests inject their own keys.
type LookupTXT func(domain string) ([]string, error)

// SetLookupTXT replaces the DNS lookup of DKIM keys (tests use keys they
// generate; the default is the system resolver with a timeout).
func (p *Processor) SetLookupTXT(f LookupTXT) { p.lookupTXT = f }

func systemLookupTXT(domain string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	return net.DefaultResolver.LookupTXT(ctx, domain)
}

// verifyDKIM verifies every DKIM signature of the message r reads (at most
// maxSignatures).
func (p *Processor) verifyDKIM(r io.Reader) *DKIMReport {
	lookup := p.lookupTXT
	if lookup == nil {
		lookup = systemLookupTXT
	}
	verifs, err := dkim.VerifyWithOptions(r, &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
	rep := &DKIMReport{}
	if err != nil && err != dkim.ErrTooManySignatures {
		rep.Err = err
	}
	for _, v := range verifs {
		rep.Signatures = append(rep.Signatures, DKIMSignature{Domain: strings.ToLower(v.Domain), Err: v.Err, Temp: dkim.IsTempFail(v.Err)})
	}
	return rep
}

// Aligned reports whether a signing domain is aligned with the From domain in
// DMARC's relaxed mode: both have the same organizational domain (the public
// suffix plus one label).
func Aligned(signer, from string) bool {
	signer, from = strings.ToLower(strings.TrimSuffix(signer, ".")), strings.ToLower(strings.TrimSuffix(from, "."))
	if signer == "" || from == "" {
		return false
	}
	if signer == from {
		return true
	}
	a, err1 := publicsuffix.EffectiveTLDPlusOne(signer)
	b, err2 := publicsuffix.EffectiveTLDPlusOne(from)
	return err1 == nil && err2 == nil && a == b
}

// dkimReason is a verification error for people: "body hash did not verify".
func dkimReason(err error) string {
	return strings.TrimPrefix(err.Error(), "dkim: ")
}
