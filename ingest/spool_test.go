package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/store"
)

// bigReferral is a referral with a photo of size bytes attached (random:
// a photo does not compress).
func bigReferral(subject string, size int) []byte { return bigReferralFrom(maria, subject, size) }

func bigReferralFrom(from, subject string, size int) []byte {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: " + from + "\r\nTo: referrals@eastside.example\r\nSubject: " + subject + "\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@northside-housing.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n" +
		strings.ReplaceAll(strings.TrimLeft(goodRef, "\n"), "\n", "\r\n") + "\r\n--b1\r\n" +
		"Content-Type: image/jpeg; name=\"id-card.jpg\"\r\nContent-Disposition: attachment; filename=\"id-card.jpg\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; i < len(enc); i += 76 {
		b.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return []byte(b.String())
}

// intakeOutcome is what intake stored: every row that matters, and each
// stored raw message's hash.
type intakeOutcome struct {
	Messages, Referrals, Attachments []string
	Raw                              map[int64]string
}

func outcome(t *testing.T, st *store.Store) intakeOutcome {
	t.Helper()
	var o intakeOutcome
	for _, q := range []struct {
		dst *[]string
		sql string
	}{
		{&o.Messages, `SELECT uid || ' ' || sha256 || ' ' || disposition || ' ' || reason || ' ' || size FROM messages ORDER BY uid`},
		{&o.Referrals, `SELECT decision || ' ' || source || ' ' || fields || ' ' || extra || ' ' || notes FROM referrals ORDER BY id`},
		{&o.Attachments, `SELECT message_id || ' ' || filename || ' ' || content_type || ' ' || size || ' ' || sha256 || ' ' ||
			candidates || ' ' || problem FROM attachments ORDER BY id`},
	} {
		if err := st.DB().Select(q.dst, q.sql); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	if err := st.DB().Select(&ids, "SELECT id FROM messages ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	o.Raw = map[int64]string{}
	for _, id := range ids {
		h := sha256.New()
		if _, err := st.WriteRaw(context.Background(), id, h); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		o.Raw[id] = hex.EncodeToString(h.Sum(nil))
	}
	return o
}

// TestSpooledIntakeMatchesInMemory takes in the same mailbox twice: as
// intake does (only the message over 1 MB spooled), and with every message
// spooled. Both store the same rows, every stored raw message hashes to
// the hash recorded for it, and the spool directory is left empty.
func TestSpooledIntakeMatchesInMemory(t *testing.T) {
	var msgs [][]byte
	for _, f := range []string{"plain-accepted.eml", "attach-pdf-form.eml", "attach-csv-batch.eml", "attach-xlsx.eml",
		"attach-docx-form.eml", "attach-forward-rfc822.eml", "attach-unreadable.eml", "malformed-multipart.eml"} {
		msgs = append(msgs, testdataMsg(t, f))
	}
	msgs = append(msgs, bigReferral("Referral with an id card", 2<<20), []byte("not a header\r\n\r\nbody\r\n"))
	msgs = append(msgs, msgs[1]) // the same bytes again: a copy, stored without raw
	var outcomes []intakeOutcome
	for _, above := range []int64{spoolAbove, 0} {
		m := startMem(t, rev2)
		cfg := testConfig(t, m.addr)
		cfg.Intake.MaxMessageSize = 25 << 20
		cfg.Intake.RepliesPerSenderPerHour = 100
		st := openStore(t, cfg)
		for _, raw := range msgs {
			m.appendMsg(t, "INBOX", raw)
		}
		p := NewProcessor(cfg)
		p.spoolAbove = above
		runProcessor(t, cfg, st, p, nil)
		eventually(t, 20*time.Second, "inbox not emptied", func() bool { return m.Count(t, "INBOX") == 0 })
		eventually(t, 5*time.Second, "moves not recorded", func() bool {
			return countRows(t, st, "SELECT count(*) FROM messages WHERE moved_to = ''") == 0
		})
		// The large message's body and its photo; with everything
		// spooled, every message's body and the attachments of those
		// that have some.
		if n := p.spool.created.Load(); above > 0 && n != 2 || above == 0 && n < int64(len(msgs)) {
			t.Errorf("spool above %d: %d spool files", above, n)
		}
		o := outcome(t, st)
		var sums []string
		st.DB().Select(&sums, "SELECT sha256 FROM messages m WHERE EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id = m.id) ORDER BY id")
		var raws []string
		for _, id := range slices.Sorted(maps.Keys(o.Raw)) {
			raws = append(raws, o.Raw[id])
		}
		if len(raws) != len(msgs)-1 || !reflect.DeepEqual(raws, sums) {
			t.Errorf("spool above %d: stored raw messages hash to %v, recorded %v", above, raws, sums)
		}
		dir := SpoolDir(cfg.Database.Path, "")
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("spool directory: %v, %v", fi, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("spool above %d: %d files left in the spool", above, len(left))
		}
		// The files are unlinked when made: a leak shows as one still open.
		if n := p.spool.open.Load(); n != 0 {
			t.Errorf("spool above %d: %d spool files never closed", above, n)
		}
		outcomes = append(outcomes, o)
	}
	if !reflect.DeepEqual(outcomes[0], outcomes[1]) {
		t.Errorf("spooled intake stored otherwise:\n%+v\n%+v", outcomes[0], outcomes[1])
	}
	if len(outcomes[0].Attachments) < 7 || len(outcomes[0].Referrals) < 6 {
		t.Errorf("stored %d attachments, %d referrals", len(outcomes[0].Attachments), len(outcomes[0].Referrals))
	}
}

// runProcessor runs an intake daemon with processor p until the test ends.
func runProcessor(t *testing.T, cfg *configs.Config, st *store.Store, p *Processor, log *logBuffer) {
	t.Helper()
	d := NewDaemon(cfg, st, p, testLogger(log))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// TestSpoolFailureKeepsMailInInbox: when a large message cannot be
// spooled, nothing of it is stored and it stays in the inbox while the
// rest of the inbox is taken in; once the spool works again it is taken
// in, once.
func TestSpoolFailureKeepsMailInInbox(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.Intake.MaxMessageSize = 25 << 20
	blocker := filepath.Join(t.TempDir(), "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Intake.SpoolDir = filepath.Join(blocker, "spool") // under a file: cannot be made
	st := openStore(t, cfg)
	m.appendMsg(t, "INBOX", bigReferral("Large referral", 1200<<10))
	for i := range 3 {
		m.appendMsg(t, "INBOX", referral(maria, fmt.Sprintf("Referral %d", i), fmt.Sprintf("Client name: Client %c\nPhone: 555-016-30%02d\nZIP: 60601\nConsent: yes\n", 'A'+i, i)))
	}
	log := &logBuffer{}
	runDaemon(t, cfg, st, log)
	eventually(t, 10*time.Second, "the small messages were not taken in", func() bool { return m.Count(t, "Processed") == 3 })
	if !strings.Contains(log.String(), "could not be spooled") {
		t.Errorf("no spool error logged:\n%s", log.String())
	}
	if n := countRows(t, st, "SELECT count(*) FROM messages"); n != 3 || m.Count(t, "INBOX") != 1 {
		t.Fatalf("%d messages stored, %d in the inbox; want 3 and the large one left", n, m.Count(t, "INBOX"))
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "INBOX", referral(maria, "Wake up", "Client name: Client D\nPhone: 555-016-3099\nZIP: 60601\nConsent: yes\n"))
	eventually(t, 20*time.Second, "not taken in once the spool worked", func() bool { return m.Count(t, "Processed") == 5 })
	if n := countRows(t, st, "SELECT count(*) FROM referrals"); n != 5 {
		t.Errorf("%d referrals, want 5", n)
	}
}

// TestAttachmentSpoolFailureKeepsMailInInbox: a large message is spooled,
// but its attachment cannot be (the spool fills up in between): that
// message alone stays in the inbox (dropUnspooled), the rest of the chunk
// is committed at once (the chunk's transaction does not fail), and once
// the spool works again it is taken in.
func TestAttachmentSpoolFailureKeepsMailInInbox(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	cfg.Intake.MaxMessageSize = 25 << 20
	st := openStore(t, cfg)
	m.appendMsg(t, "INBOX", bigReferral("Large referral", 1200<<10))
	for i := range 3 {
		m.appendMsg(t, "INBOX", referral(maria, fmt.Sprintf("Referral %d", i), fmt.Sprintf("Client name: Client %c\nPhone: 555-016-31%02d\nZIP: 60601\nConsent: yes\n", 'A'+i, i)))
	}
	p := NewProcessor(cfg)
	p.spool.failAt.Store(2) // the message's own file is made, its attachment's is not
	log := &logBuffer{}
	runDaemonWith(t, cfg, st, p, log)
	eventually(t, 10*time.Second, "the small messages were not taken in", func() bool { return m.Count(t, "Processed") == 3 })
	if !strings.Contains(log.String(), "could not be spooled") {
		t.Errorf("no spool error logged:\n%s", log.String())
	}
	if n := countRows(t, st, "SELECT count(*) FROM messages"); n != 3 || m.Count(t, "INBOX") != 1 {
		t.Fatalf("%d messages stored, %d in the inbox; want 3 and the large one left", n, m.Count(t, "INBOX"))
	}
	m.appendMsg(t, "INBOX", referral(maria, "Wake up", "Client name: Client D\nPhone: 555-016-3199\nZIP: 60601\nConsent: yes\n"))
	eventually(t, 20*time.Second, "not taken in once the spool worked", func() bool { return m.Count(t, "Processed") == 5 })
	if n := countRows(t, st, "SELECT count(*) FROM attachments"); n != 1 {
		t.Errorf("%d attachments stored, want the large message's", n)
	}
	eventually(t, 5*time.Second, "spool files never closed", func() bool { return p.spool.open.Load() == 0 })
}

// TestSpoolCleanedAtStart: what a crash left in the spool goes when the
// daemon starts; other files stay.
func TestSpoolCleanedAtStart(t *testing.T) {
	m := startMem(t, rev2)
	cfg := testConfig(t, m.addr)
	dir := SpoolDir(cfg.Database.Path, "")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, spoolPrefix+"123")
	other := filepath.Join(dir, "notes.txt")
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("Dana Whitfield"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := openStore(t, cfg)
	runDaemon(t, cfg, st, nil)
	eventually(t, 5*time.Second, "left-over spool file not removed", func() bool {
		_, err := os.Stat(left)
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file went too: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool directory: %v, %v", fi, err)
	}
}

// A spool_dir open to others (a shared directory such as /tmp) is refused,
// never made private and never cleaned: its files are someone else's.
func TestSharedSpoolDirIsRefusedAndLeftAlone(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(dir, spoolPrefix+"2026-budget.xlsx")
	if err := os.WriteFile(theirs, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := &spool{dir: dir}
	err := sp.clean()
	var se *spoolError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "0700") {
		t.Errorf("clean of a shared directory: %v, want a spool error naming 0700", err)
	}
	if _, err := sp.create(); err == nil {
		t.Error("a spool file was made in a shared directory")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("the shared directory was changed: %v, %v", fi, err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another program's file went: %v", err)
	}
}

// TestAttachmentSpoolFailureFailsIntake: parse cannot spool an attachment
// of a spooled message: that is intake's failure (the transaction rolls
// back, the message is taken in again later), not the message's (it is
// not quarantined as unparseable).
func TestAttachmentSpoolFailureFailsIntake(t *testing.T) {
	in := newIntake(t, nil)
	p := in.proc
	raw := testdataMsg(t, "attach-csv-batch.eml")
	f, err := p.spool.create()
	if err != nil {
		t.Fatal(err)
	}
	f.Write(raw)
	msg := Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: 1, Size: int64(len(raw)), spooled: f, sum: sha256.Sum256(raw)}
	defer msg.release()
	p.spool = &spool{dir: filepath.Join(os.DevNull, "spool")} // cannot be made
	err = in.st.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := p.ProcessAll(tx, []Inbound{msg})
		return err
	})
	var se *spoolError
	if !errors.As(err, &se) {
		t.Fatalf("intake: %v, want a spool error", err)
	}
	if n := in.count("SELECT count(*) FROM messages"); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if strings.Contains(err.Error(), "Whitfield") {
		t.Errorf("error carries message content: %v", err)
	}
}

// TestReleaseALargeHeldMessage: a held message over 1 MB is read back
// from the database into the spool to be processed again, and its photo
// is stored from there.
func TestReleaseALargeHeldMessage(t *testing.T) {
	in := newIntake(t, func(c *configs.Config) { c.Intake.MaxMessageSize = 25 << 20 })
	raw := bigReferralFrom("Sam <sam@gmail.example>", "Referral with a photo", 3<<20)
	p := in.take(raw)
	if p.Disposition != store.DispHeld {
		t.Fatalf("not held: %+v", p)
	}
	if n := in.count("SELECT count(*) FROM message_raw"); n != (len(raw)+store.ChunkSize-1)/store.ChunkSize {
		t.Errorf("%d bytes stored in %d chunks", len(raw), n)
	}
	ctx := context.Background()
	res, err := in.proc.Release(ctx, in.st, p.ID, Options{SkipAuth: true, Partner: in.cfg.Partner("northside-housing")}, "coach")
	if err != nil || res.Disposition != store.DispReferral {
		t.Fatalf("release: %+v, %v", res, err)
	}
	if in.proc.spool.created.Load() == 0 {
		t.Error("the large message was not spooled")
	}
	atts, err := in.st.AttachmentsForReferral(ctx, 1001)
	if err != nil || len(atts) != 1 || atts[0].Size != 3<<20 {
		t.Fatalf("attachments: %+v, %v", atts, err)
	}
	h := sha256.New()
	if n, err := in.st.WriteAttachment(ctx, atts[0].ID, h); err != nil || n != 3<<20 || hex.EncodeToString(h.Sum(nil)) != atts[0].SHA256 {
		t.Errorf("the photo read back: %d bytes, %v", n, err)
	}
	if left, _ := os.ReadDir(in.proc.spool.dir); len(left) != 0 {
		t.Errorf("%d files left in the spool", len(left))
	}
	if n := in.proc.spool.open.Load(); n != 0 {
		t.Errorf("%d spool files never closed", n)
	}
}

// sizedLiteral is a fetched literal as go-imap hands it over: a reader
// that knows its size (-1 when the server gave none).
type sizedLiteral struct {
	*bytes.Reader
	size int64
}

func (l sizedLiteral) Size() int64 { return l.size }

// A literal longer than max_message_size although RFC822.SIZE was under it
// (a server whose size cache is wrong) is taken as too large, from its
// header: a truncated message is never stored as if it were whole.
func TestLiteralOverTheLimitIsTooLargeNeverTruncated(t *testing.T) {
	raw := referral(maria, "Huge", goodRef+"\nNotes: "+strings.Repeat("x", 4000)+"\n")
	hdrEnd := bytes.Index(raw, []byte("\r\n\r\n")) + 4
	d := &Daemon{proc: &Processor{spoolAbove: 1 << 20}}
	for _, size := range []int64{int64(len(raw)), -1} {
		var in Inbound
		if err := d.readBody(&in, sizedLiteral{bytes.NewReader(raw), size}, 1000, true); err != nil {
			t.Fatal(err)
		}
		if in.fetched() || !in.oversize {
			t.Errorf("size %d: fetched=%v oversize=%v, want a message too large and not fetched", size, in.fetched(), in.oversize)
		}
		if !bytes.Equal(in.Header, raw[:hdrEnd]) {
			t.Errorf("size %d: header kept = %q, want the message's header", size, in.Header)
		}
		if in.Size < 1000 {
			t.Errorf("size %d: Size = %d, want at least the limit", size, in.Size)
		}
	}
	// Within the limit it is read whole.
	var in Inbound
	if err := d.readBody(&in, sizedLiteral{bytes.NewReader(raw), -1}, int64(len(raw))+1, true); err != nil || !bytes.Equal(in.Raw, raw) {
		t.Errorf("a message within the limit: %d bytes read, %v", len(in.Raw), err)
	}
}
