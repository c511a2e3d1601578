//go:build unix

package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"refdesk/configs"
	"refdesk/ingest/dovecottest"
	"refdesk/store"
)

// The intake benchmark (SPEC §10): a real Dovecot filled with N referral
// emails of about 4 KB; in one run, a plain batched UID FETCH of the whole
// mailbox, mbsync (when installed) pulling it into a local Maildir, and
// refdesk's intake from start until the inbox is empty and every record
// exists. BENCHMARKS.md has the figures and the command:
//
//	go test ./ingest -run '^$' -bench Intake -benchtime 1x -timeout 30m
//
// REFDESK_BENCH_N sets N (default 10000); REFDESK_BENCH_CPUPROFILE=FILE
// writes a processor profile of the intake alone.

func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("REFDESK_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10000
}

var benchFirst = []string{"Dana", "Luis", "Terrence", "Aisha", "Mei", "Olga", "Samir", "Grace", "Tomas", "Ruth"}
var benchLast = []string{"Whitfield", "Ortega", "Hall", "Karimi", "Chen", "Petrova", "Haddad", "Okafor", "Novak", "Baptiste"}

// benchReferral is referral i: about 4 KB, like a caseworker's mail with
// relay headers, an Authentication-Results from our MX, and a signature.
func benchReferral(i int) []byte {
	d := "northside-housing.example"
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <caseworker%d@%s>\r\n", i%40, d)
	for hop := 0; hop < 3; hop++ {
		fmt.Fprintf(&b, "Received: from relay%d.%s (relay%d.%s [192.0.2.%d])\r\n\tby mx.eastside.example (Postfix) with ESMTPS id 4Q8Z%06X\r\n\tfor <referrals@eastside.example>; Mon, 23 Nov 2026 10:%02d:%02d -0600\r\n",
			hop, d, hop, d, 10+hop, i, i/60%60, i%60)
	}
	fmt.Fprintf(&b, "Authentication-Results: mx.eastside.example;\r\n\tdkim=pass header.d=%s header.s=sel1;\r\n\tspf=pass smtp.mailfrom=caseworker%d@%s;\r\n\tdmarc=pass (p=QUARANTINE) header.from=%s\r\n", d, i%40, d, d)
	fmt.Fprintf(&b, "From: Caseworker %d <caseworker%d@%s>\r\nTo: Eastside Financial Coaching <referrals@eastside.example>\r\n", i%40, i%40, d)
	fmt.Fprintf(&b, "Subject: New referral %d\r\nDate: Mon, 23 Nov 2026 10:%02d:%02d -0600\r\nMessage-ID: <bench-%d@%s>\r\n", i, i/60%60, i%60, i, d)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Hello,\r\n\r\nPlease find a new referral below. The client asked us to send it today.\r\n\r\n")
	fmt.Fprintf(&b, "Client name: %s %s-%d\r\nPhone: 555-%03d-%04d\r\nEmail: client%d@example.org\r\nZIP: 6060%d\r\n",
		benchFirst[i%10], benchLast[i/10%10], i, i/10000%1000, i%10000, i, 1+i%7)
	fmt.Fprintf(&b, "Date of birth: 19%02d-%02d-%02d\r\nLanguage: English\r\nConsent: yes\r\nShare outcomes: yes\r\nCase ID: NH-%06d\r\n", 50+i%40, 1+i%12, 1+i%28, i)
	b.WriteString("Needs: a budget and help with a payment plan for old medical bills; wants to start saving\r\n")
	b.WriteString("Best time to call: weekday mornings\r\n")
	for b.Len() < 3700 {
		b.WriteString("Notes: the client works two part-time jobs and prefers text messages before a call; she has\r\n  asked about credit building and opening a bank account with no monthly fee.\r\n")
	}
	b.WriteString("\r\nThank you,\r\n--\r\nCaseworker, Northside Housing Authority\r\n555-0142 ext. 12\r\n")
	return []byte(b.String())
}

// maildirFile is a message as Dovecot stores it in a Maildir (what
// TestMaildirFileAsDovecotStores checks against Dovecot's own APPEND): lines
// ending in LF, and the file name's size fields, S= the file's size and W=
// the size with CRLF line ends, which IMAP's RFC822.SIZE reports. Without
// W= (this benchmark's files before 2026-11-28) Dovecot reads every file
// to count its lines when asked for its size. This is Dovecot's default
// (dovecot-lda and IMAP APPEND save alike); with mail_save_crlf = yes the
// file keeps CRLF, and compressed storage changes S=.
func maildirFile(raw []byte) (file []byte, sizes string) {
	file = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	return file, fmt.Sprintf(",S=%d,W=%d", len(file), len(file)+bytes.Count(file, []byte("\n")))
}

// TestMaildirFileAsDovecotStores checks the benchmark's mailbox against
// Dovecot's own: a referral appended over IMAP is stored in the same bytes,
// with the same size fields in its file name, as maildirFile makes them.
func TestMaildirFileAsDovecotStores(t *testing.T) {
	srv := dovecottest.Start(t)
	raw := benchReferral(7)
	appendAll(t, srv.Dial(t), raw)
	names, err := filepath.Glob(filepath.Join(srv.Dir, "home", "Maildir", "new", "*"))
	if err != nil || len(names) != 1 {
		t.Fatalf("Dovecot stored %d files (%v), want 1", len(names), err)
	}
	stored, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	file, sizes := maildirFile(raw)
	if !bytes.Equal(stored, file) {
		t.Errorf("Dovecot stored %d bytes, maildirFile makes %d: not the same", len(stored), len(file))
	}
	if !strings.HasSuffix(names[0], sizes) {
		t.Errorf("Dovecot named the file %s, maildirFile's sizes are %s", filepath.Base(names[0]), sizes)
	}
}

// fillMailbox delivers n referrals into the server's Maildir the way a
// local delivery agent does (a file in new/, owned by the mail user), which
// is much faster than n APPENDs; Dovecot indexes them on the next SELECT.
func fillMailbox(tb testing.TB, srv *dovecottest.Server, n int) {
	tb.Helper()
	c := srv.Dial(tb) // the first login creates the Maildir
	c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	c.Logout().Wait()
	md := filepath.Join(srv.Dir, "home", "Maildir")
	fi, err := os.Stat(md)
	if err != nil {
		tb.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	// File names as dovecot-lda makes them (maildir_filename_generate:
	// seconds, microseconds, the delivering process, the host; then the
	// sizes): twenty deliveries a second, each by its own process. Names
	// derived from i alone (an earlier version of this benchmark) collide
	// in Dovecot's file-name hash (10,000 names on 1,002 values, 5,400 on
	// one), which makes every mailbox sync of Dovecot quadratic; no mail
	// server delivers names like that.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		file, sizes := maildirFile(benchReferral(i))
		name := fmt.Sprintf("%d.M%dP%d.mx.eastside.example%s", 1790000000+i/20, rnd.IntN(1000000), 2000+rnd.IntN(60000), sizes)
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, file, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(tmp, int(st.Uid), int(st.Gid)); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			tb.Fatal(err)
		}
	}
}

// rawFetch is a plain Go IMAP client: UID FETCH BODY.PEEK[] of the whole
// mailbox in batches of batch UIDs, bodies read and dropped.
func rawFetch(tb testing.TB, srv *dovecottest.Server, batch int) (int, time.Duration) {
	tb.Helper()
	start := time.Now()
	c := srv.Dial(tb)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		tb.Fatal(err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		tb.Fatal(err)
	}
	uids := found.AllUIDs()
	n := 0
	for len(uids) > 0 {
		k := min(batch, len(uids))
		cmd := c.Fetch(imap.UIDSetNum(uids[:k]...), &imap.FetchOptions{UID: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
					io.Copy(io.Discard, body.Literal)
					n++
				}
			}
		}
		if err := cmd.Close(); err != nil {
			tb.Fatal(err)
		}
		uids = uids[k:]
	}
	c.Logout().Wait()
	return n, time.Since(start)
}

// mbsyncPull pulls the mailbox into a fresh local Maildir with mbsync; ok is
// false when mbsync is not installed.
func mbsyncPull(tb testing.TB, srv *dovecottest.Server) (n int, d time.Duration, ok bool) {
	tb.Helper()
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		return 0, 0, false
	}
	dir := tb.TempDir()
	host, port, _ := strings.Cut(srv.Addr, ":")
	rc := fmt.Sprintf(`IMAPAccount bench
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN
PipelineDepth 64

IMAPStore remote
Account bench

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel pull
Far :remote:
Near :local:
Patterns INBOX
Sync Pull
Create Near
Expunge None
SyncState *
`, host, port, srv.User, srv.Password, dir, dir)
	rcPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(bin, "-c", rcPath, "-q", "pull").CombinedOutput()
	d = time.Since(start)
	if err != nil {
		tb.Fatalf("mbsync: %v\n%s", err, out)
	}
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, "INBOX", sub))
		n += len(ents)
	}
	return n, d, true
}

func benchConfig(tb testing.TB, srv *dovecottest.Server) *configs.Config {
	tb.Helper()
	os.Setenv("REFDESK_BENCH_IMAP_PASSWORD", srv.Password)
	src := fmt.Sprintf(`
[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
timezone = "America/Chicago"
[database]
path = %q
[imap]
address = %q
security = "none"
username = %q
password_env = "REFDESK_BENCH_IMAP_PASSWORD"
[smtp]
address = "127.0.0.1:1"
security = "none"
auth = "none"
[intake]
trusted_authserv_id = "mx.eastside.example"
replies_per_sender_per_hour = 1000000
[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]
[[services]]
id = "emergency-desk"
name = "Emergency Assistance Desk"
contact = "555-0199"
[[rules]]
id = "crisis-words"
then = "redirect"
service = "emergency-desk"
reason = "crisis"
keywords = ["eviction", "shut-off", "no food"]
`, filepath.Join(tb.TempDir(), "refdesk.db"), srv.Addr, srv.User)
	cfg, err := configs.Parse("bench.toml", []byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// intakeRun is what one intake run took: wall time, and the processor time
// of refdesk (this process) and of Dovecot over the same span.
type intakeRun struct {
	elapsed, refdeskCPU, dovecotCPU time.Duration
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCPUProfile profiles this process into path (REFDESK_BENCH_CPUPROFILE)
// until the returned stop: intake alone, without the fill and the raw fetch
// that -cpuprofile would take in too.
func startCPUProfile(tb testing.TB, path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// runIntake runs the daemon from start until every message is processed and
// moved, and checks that every record exists.
func runIntake(tb testing.TB, srv *dovecottest.Server, n int) intakeRun {
	tb.Helper()
	defer TuneGC()() // as serve runs it
	cfg := benchConfig(tb, srv)
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	// serve's log: every record at Info and above, one line a message
	// (to a file here, as to journald's pipe or a file in production).
	logFile, err := os.Create(filepath.Join(tb.TempDir(), "serve.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	d := NewDaemon(cfg, st, NewProcessor(cfg), slog.New(slog.NewTextHandler(logFile, nil)))
	var done atomic.Int64
	finished := make(chan struct{})
	d.OnProcessed = func(Processed) {
		if done.Add(1) == int64(n) {
			close(finished)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	srv.SettleSessions() // the earlier sessions' time is not intake's
	stopProfile := func() {}
	if path := os.Getenv("REFDESK_BENCH_CPUPROFILE"); path != "" {
		stopProfile = startCPUProfile(tb, path)
	}
	dc0, rc0 := srv.CPUTime(), processCPU()
	start := time.Now()
	go func() { d.Run(ctx); close(stopped) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		tb.Fatalf("intake: %d of %d after 10 minutes", done.Load(), n)
	}
	run := intakeRun{elapsed: time.Since(start), refdeskCPU: processCPU() - rc0, dovecotCPU: srv.CPUTime() - dc0}
	stopProfile()
	cancel()
	<-stopped
	var refs, out int
	st.DB().Get(&refs, "SELECT count(*) FROM referrals")
	st.DB().Get(&out, "SELECT count(*) FROM outbox")
	if refs != n || out != n {
		tb.Fatalf("intake: %d referrals and %d replies for %d messages", refs, out, n)
	}
	c := srv.Dial(tb)
	if s, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *s.NumMessages != 0 {
		tb.Fatalf("intake: INBOX not empty: %v", err)
	}
	return run
}

func BenchmarkIntakeDovecot(b *testing.B) {
	n := benchN()
	for range b.N {
		b.StopTimer()
		srv := dovecottest.Start(b)
		t0 := time.Now()
		fillMailbox(b, srv, n)
		b.Logf("filled %d messages of ~%d bytes in %v", n, len(benchReferral(n/2)), time.Since(t0).Round(time.Millisecond))
		srv.SettleSessions()
		dc0 := srv.CPUTime()
		got, raw := rawFetch(b, srv, 1000)
		srv.SettleSessions()
		b.ReportMetric(float64((srv.CPUTime()-dc0).Microseconds())/float64(n), "rawfetch-dovecot-cpu-µs/msg")
		if got != n {
			b.Fatalf("raw fetch got %d of %d", got, n)
		}
		rawRate := float64(n) / raw.Seconds()
		b.ReportMetric(rawRate, "rawfetch-msgs/s")
		if m, d, ok := mbsyncPull(b, srv); ok {
			if m != n {
				b.Fatalf("mbsync pulled %d of %d", m, n)
			}
			b.ReportMetric(float64(n)/d.Seconds(), "mbsync-msgs/s")
		}
		b.StartTimer()
		run := runIntake(b, srv, n)
		b.StopTimer()
		el := run.elapsed
		rate := float64(n) / el.Seconds()
		// Where the two cores went: refdesk's and Dovecot's own processor
		// time per message taken in.
		b.ReportMetric(float64(run.refdeskCPU.Microseconds())/float64(n), "refdesk-cpu-µs/msg")
		b.ReportMetric(float64(run.dovecotCPU.Microseconds())/float64(n), "dovecot-cpu-µs/msg")
		b.ReportMetric(rate, "intake-msgs/s")
		b.ReportMetric(rawRate/rate, "rawfetch/intake")
		b.Logf("n=%d intake %v (%.0f/s), raw fetch %v (%.0f/s); cpu during intake: refdesk %v, dovecot %v (of %v on %d cores)",
			n, el.Round(time.Millisecond), rate, raw.Round(time.Millisecond), rawRate, run.refdeskCPU.Round(time.Millisecond),
			run.dovecotCPU.Round(time.Millisecond), (el * time.Duration(runtime.NumCPU())).Round(time.Millisecond), runtime.NumCPU())
	}
}

// BenchmarkProcess is intake without IMAP: parse, triage and store of the
// benchmark's referrals, in transactions of imap.batch_size (500), each
// chunk through ProcessAll, as the daemon does.
func BenchmarkProcess(b *testing.B) {
	defer TuneGC()() // as serve runs it
	cfg := benchConfig(b, &dovecottest.Server{Addr: "127.0.0.1:1", User: "u"})
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := NewProcessor(cfg)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = benchReferral(i)
	}
	received := time.Now() // the INTERNALDATE the daemon passes on
	b.ResetTimer()
	batch := cfg.IMAP.BatchSize
	for i := 0; i < b.N; i += batch {
		ins := make([]Inbound, 0, batch)
		for j := i; j < min(i+batch, b.N); j++ {
			ins = append(ins, Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(j + 1), Raw: msgs[j], Size: int64(len(msgs[j])), Received: received})
		}
		err := st.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := p.ProcessAll(tx, ins)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is the parser alone on one benchmark referral.
func BenchmarkParse(b *testing.B) {
	raw := benchReferral(7)
	opt := ParseOptions(benchConfig(b, &dovecottest.Server{Addr: "127.0.0.1:1", User: "u"}))
	for b.Loop() {
		if _, err := safeParse(bytes.NewReader(raw), opt, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMoveDovecot is intake's IMAP traffic alone, with no parse and no
// database: on a fresh Dovecot with N referral emails, the same commands in
// the same order as the daemon (SELECT, UID SEARCH, then per batch of
// imap.batch_size UIDs a FETCH of sizes, a FETCH of BODY.PEEK[] and a UID
// MOVE to Processed), one after the other. Its rate is the most intake could
// reach with this server on this machine, and its Dovecot processor time
// per message is what intake cannot do without. REFDESK_BENCH_BATCH sets
// the batch (default 500, the config's default).
func BenchmarkMoveDovecot(b *testing.B) {
	n := benchN()
	batch := 500
	if v, err := strconv.Atoi(os.Getenv("REFDESK_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	for range b.N {
		b.StopTimer()
		srv := dovecottest.Start(b)
		fillMailbox(b, srv, n)
		c := srv.Dial(b)
		if err := EnsureMailbox(c, "Processed"); err != nil {
			b.Fatal(err)
		}
		srv.SettleSessions() // fillMailbox's session
		dc0, rc0 := srv.CPUTime(), processCPU()
		start := time.Now()
		b.StartTimer()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{doneFlag, imap.FlagDeleted}}, nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		uids := found.AllUIDs()
		got := 0
		for len(uids) > 0 {
			k := min(batch, len(uids))
			part := uids[:k]
			set := imap.UIDSetNum(part...)
			uids = uids[k:]
			if _, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true}).Collect(); err != nil {
				b.Fatal(err)
			}
			cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
			for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
				for item := msg.Next(); item != nil; item = msg.Next() {
					if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
						io.Copy(io.Discard, body.Literal)
						got++
					}
				}
			}
			if err := cmd.Close(); err != nil {
				b.Fatal(err)
			}
			if err := MoveOut(c, part, "Processed", nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		el := time.Since(start)
		dc, rc := srv.CPUTime()-dc0, processCPU()-rc0
		c.Logout().Wait()
		if got != n {
			b.Fatalf("fetched %d of %d", got, n)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(dc.Microseconds())/float64(n), "dovecot-cpu-µs/msg")
		b.ReportMetric(float64(rc.Microseconds())/float64(n), "client-cpu-µs/msg")
	}
}
