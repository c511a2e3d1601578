//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"refdesk/ingest/dovecottest"
	"refdesk/notify/smtpsink"
	"refdesk/store"
)

// BenchmarkPeakRSS (SPEC §10): the peak resident memory (VmHWM) of a
// `refdesk serve` process, the real binary, while it takes in one referral
// carrying a 25 MB attachment from a real Dovecot and sends its reply. The
// limits are raised so that the message is taken in, not quarantined.
//
//	go test ./cmd/refdesk -run '^$' -bench PeakRSS -benchtime 1x
func BenchmarkPeakRSS(b *testing.B) {
	bin := refdeskBinary(b)
	for _, kind := range []string{"image/jpeg", "application/pdf"} {
		b.Run(strings.ReplaceAll(kind, "/", "-"), func(b *testing.B) {
			for range b.N {
				peak := peakRSS(b, bin, kind, 25<<20)
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MB")
			}
		})
	}
}

// peakRSS runs serve on one message with an attachment of size bytes and
// returns the process's VmHWM in bytes.
func peakRSS(b *testing.B, bin, kind string, size int) int64 {
	b.Helper()
	srv := dovecottest.Start(b)
	sink, err := smtpsink.Start(smtpsink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	dir := b.TempDir()
	cfg := fmt.Sprintf(`[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
[database]
path = "refdesk.db"
[imap]
address = %q
security = "none"
username = %q
password_env = "REFDESK_RSS_PASSWORD"
[smtp]
address = %q
security = "none"
auth = "none"
[intake]
max_message_size = "40MB"
max_attachment_size = "30MB"
max_unzipped_size = "64MB"
[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]
`, srv.Addr, srv.User, sink.Addr())
	cfgPath := filepath.Join(dir, "refdesk.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data) // a photo or a scan does not compress
	enc := base64.StdEncoding.EncodeToString(data)
	var m bytes.Buffer
	m.WriteString("From: Maria Lopez <maria.lopez@northside-housing.example>\r\nTo: referrals@eastside.example\r\n" +
		"Subject: Referral with the signed form\r\nMessage-ID: <rss.1@northside-housing.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Client name: Dana Whitfield\r\nPhone: 555-014-2000\r\nZIP: 60601\r\nConsent: yes\r\n\r\n--b1\r\n" +
		"Content-Type: " + kind + "; name=\"signed-form\"\r\nContent-Disposition: attachment; filename=\"signed-form\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; i < len(enc); i += 76 {
		m.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	m.WriteString("--b1--\r\n")
	c := srv.Dial(b)
	cmd := c.Append("INBOX", int64(m.Len()), nil)
	cmd.Write(m.Bytes())
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	data, enc = nil, ""
	m = bytes.Buffer{}

	b.Setenv("REFDESK_RSS_PASSWORD", srv.Password)
	p := exec.Command(bin, "--config", cfgPath, "serve")
	var logs bytes.Buffer
	p.Stderr = &logs
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	b.ResetTimer()
	deadline := time.Now().Add(2 * time.Minute)
	for len(sink.Messages()) == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("no reply within 2 minutes; serve log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The reply may go out before the message has left the inbox (it is
	// moved after the commit, beside the sender): wait for the move too,
	// so that the peak covers the whole intake.
	for {
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			b.Fatal(err)
		}
		if *st.NumMessages == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the message is still in the inbox; serve log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	peak := procStatus(b, p.Process.Pid, "VmHWM")
	// The figure counts only if the message was taken in whole: a referral,
	// and the attachment stored at its full size (not quarantined as too
	// large, which would take almost no memory).
	st, err := store.Open(context.Background(), filepath.Join(dir, "refdesk.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var refs, stored int64
	st.DB().Get(&refs, "SELECT count(*) FROM referrals")
	st.DB().Get(&stored, "SELECT coalesce(max(size), 0) FROM attachments")
	if refs != 1 || stored != int64(size) {
		b.Fatalf("%d referrals and an attachment of %d bytes stored; want 1 and %d", refs, stored, size)
	}
	// What is resident now, by kind: anonymous memory (heaps, stacks)
	// and pages of files (mostly the binary's own text and data).
	b.Logf("%s: peak RSS %.1f MB (resident at the end: %.1f MB anonymous, %.1f MB of files)", kind, float64(peak)/(1<<20),
		float64(procStatus(b, p.Process.Pid, "RssAnon"))/(1<<20), float64(procStatus(b, p.Process.Pid, "RssFile"))/(1<<20))
	return peak
}

// procStatus reads a size (VmHWM: the peak resident set size) from a
// process's /proc status, in bytes.
func procStatus(b *testing.B, pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc status", field)
	return 0
}
