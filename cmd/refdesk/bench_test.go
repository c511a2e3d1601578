//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/ingest/dovecottest"
	"refdesk/notify/smtpsink"
	"refdesk/store"
)

// Benchmarks of SPEC §10 that need the whole program (BENCHMARKS.md has the
// figures and the commands):
//
//	go test ./cmd/refdesk -run '^$' -bench ReplyLatency -benchtime 1x
//	go test ./cmd/refdesk -run '^$' -bench List -benchtime 20x

// BenchmarkReplyLatency: serve runs against a real Dovecot (IDLE) and an SMTP
// sink; one referral at a time is APPENDed and the time until the sink has
// accepted its reply is measured. Reports p50 and p99 over
// REFDESK_BENCH_REPLIES referrals (default 100).
func BenchmarkReplyLatency(b *testing.B) {
	n := 100
	if v, err := fmt.Sscan(os.Getenv("REFDESK_BENCH_REPLIES"), &n); v != 1 || err != nil {
		n = 100
	}
	for range b.N {
		b.StopTimer()
		srv := dovecottest.Start(b)
		sink, err := smtpsink.Start(smtpsink.Options{})
		if err != nil {
			b.Fatal(err)
		}
		os.Setenv("REFDESK_BENCH_IMAP_PASSWORD", srv.Password)
		cfgPath := benchConfigFile(b, fmt.Sprintf(`address = %q
security = "none"
username = %q
password_env = "REFDESK_BENCH_IMAP_PASSWORD"`, srv.Addr, srv.User), fmt.Sprintf("address = %q\nsecurity = \"none\"\nauth = \"none\"", sink.Addr()))
		stop := serveFor(b, cfgPath)
		c := srv.Dial(b)
		time.Sleep(time.Second) // connected and idling
		var lat []time.Duration
		b.StartTimer()
		for i := range n {
			id := fmt.Sprintf("latency.%d.%d@northside-housing.example", i, time.Now().UnixNano())
			raw := []byte("From: Maria Lopez <maria.lopez@northside-housing.example>\r\nTo: referrals@eastside.example\r\n" +
				"Subject: Referral\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + id + ">\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
				fmt.Sprintf("Client name: Latency Client%c\r\nPhone: 312-555-%04d\r\nZIP: 60601\r\nConsent: yes\r\n", 'A'+i%26, 2000+i))
			start := time.Now()
			cmd := c.Append("INBOX", int64(len(raw)), nil)
			cmd.Write(raw)
			cmd.Close()
			if _, err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
			if _, err := sink.Wait(i+1, 30*time.Second); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			got := sink.Messages()
			if !bytes.Contains(got[len(got)-1].Data, []byte(id)) {
				b.Fatalf("reply %d is not to %s", i, id)
			}
		}
		b.StopTimer()
		stop()
		sink.Close()
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		b.ReportMetric(float64(p(0.5).Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p(0.99).Milliseconds()), "p99-ms")
		b.Logf("n=%d reply latency p50 %v p99 %v max %v", n, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
}

// BenchmarkList: `refdesk list` (every referral, as a table, to /dev/null)
// and `refdesk list --limit 50` on a database of 100,000 referrals; each
// iteration is a whole command: open, migrate check, prepare, query, print.
func BenchmarkList(b *testing.B) {
	cfgPath := benchConfigFile(b, "address = \"127.0.0.1:1\"\nsecurity = \"none\"\nauth = \"none\"", "address = \"127.0.0.1:1\"\nsecurity = \"none\"\nauth = \"none\"")
	fill100k(b, filepath.Join(filepath.Dir(cfgPath), "refdesk.db"))
	for _, args := range [][]string{{"list"}, {"list", "--limit", "50"}, {"list", "--status", "enrolled"}} {
		b.Run(strings.Join(args, " "), func(b *testing.B) {
			for b.Loop() {
				root := newRoot(io.Discard, io.Discard)
				root.SetArgs(append([]string{"--config", cfgPath}, args...))
				if err := root.ExecuteContext(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fill100k writes 100,000 referrals (with their messages and events), as
// intake would have, over about a year.
func fill100k(b *testing.B, path string) {
	b.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	statuses := []string{"accepted", "scheduled", "enrolled", "completed", "redirected", "needs-info", "waitlisted"}
	const n = 100000
	for i := 0; i < n; i += 5000 {
		err := st.InTx(context.Background(), func(tx *store.Tx) error {
			for j := i; j < i+5000; j++ {
				at := start.Add(time.Duration(j) * 5 * time.Minute)
				m := &store.Message{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(j + 1), SHA256: fmt.Sprintf("%064d", j),
					MessageID: fmt.Sprintf("m%d@x", j), FromAddr: "cw@northside-housing.example", Subject: "Referral",
					ReceivedAt: at, ProcessedAt: at, Disposition: store.DispReferral}
				if err := tx.InsertMessage(m); err != nil {
					return err
				}
				s := statuses[j%len(statuses)]
				name := fmt.Sprintf("Client %d Surname", j)
				r := &store.Referral{PartnerID: "northside-housing", MessageID: m.ID, Source: "body", Decision: s, Status: s,
					ClientName: name, NameKey: strings.ToLower(name), ClientPhone: fmt.Sprintf("3125%06d", j), ReceivedAt: at,
					Fields: store.Map{"client_name": name, "client_phone": fmt.Sprintf("3125%06d", j), "consent": "yes"}}
				if err := tx.CreateReferral(r, &m.ID, ""); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchConfigFile(b *testing.B, imapKeys, smtpKeys string) string {
	b.Helper()
	dir := b.TempDir()
	src := fmt.Sprintf(`[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
timezone = "America/Chicago"
[database]
path = "refdesk.db"
[imap]
%s
[smtp]
%s
[intake]
replies_per_sender_per_hour = 100000
[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]
`, imapKeys, smtpKeys)
	path := filepath.Join(dir, "refdesk.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// serveFor runs `refdesk serve` in-process until the returned stop is called.
func serveFor(b *testing.B, cfgPath string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		root := newRoot(io.Discard, io.Discard)
		root.SetArgs([]string{"--config", cfgPath, "serve"})
		root.ExecuteContext(ctx)
		close(done)
	}()
	return func() { cancel(); <-done }
}
