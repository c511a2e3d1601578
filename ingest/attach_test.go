package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/store"
)

func testdataMsg(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "parse", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttachmentsStoredWithTheRecord: attachments are written in the intake
// transaction; a form's belongs to its one referral, a batch file to the
// message (and so to each of its referrals).
func TestAttachmentsStoredWithTheRecord(t *testing.T) {
	in := newIntake(t, func(c *configs.Config) { c.Intake.MaxMessageSize = 25 << 20 })
	p := in.take(testdataMsg(t, "attach-vcard.eml"))
	if p.Disposition != store.DispReferral || len(p.Refs) != 1 {
		t.Fatalf("vcard: %+v", p)
	}
	p = in.take(testdataMsg(t, "attach-csv-batch.eml"))
	if len(p.Refs) != 3 || p.Reply != "batch" || strings.Join(p.Decisions, " ") != "accepted redirected needs-info" {
		t.Fatalf("batch: %+v", p)
	}
	ctx := context.Background()
	for ref, want := range map[int64]string{1001: "Rosa Delgado.vcf", 1002: "march-referrals.csv", 1004: "march-referrals.csv"} {
		atts, err := in.st.AttachmentsForReferral(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if len(atts) != 1 || atts[0].Filename != want || atts[0].Size == 0 || len(atts[0].SHA256) != 64 {
			t.Errorf("R-%d attachments: %+v", ref, atts)
			continue
		}
		var data bytes.Buffer
		n, err := in.st.WriteAttachment(ctx, atts[0].ID, &data)
		sum := sha256.Sum256(data.Bytes())
		if err != nil || n != atts[0].Size || int64(data.Len()) != n || hex.EncodeToString(sum[:]) != atts[0].SHA256 {
			t.Errorf("R-%d data: %d bytes, %v", ref, data.Len(), err)
		}
	}
	if n := in.count("SELECT count(*) FROM attachments WHERE referral_id IS NULL"); n != 1 {
		t.Errorf("%d unlinked attachments, want the batch file", n)
	}
}

// TestParseTimeLimit: a message that takes longer than intake.parse_timeout
// is quarantined with the reason, and no goroutine is left behind (once
// the idle parsers have ended).
func TestParseTimeLimit(t *testing.T) {
	defer parserIdle.Store(parserIdle.Swap(int64(50 * time.Millisecond)))
	stopIdleParsers() // those of earlier tests, still waiting 5 s
	eventually(t, 2*time.Second, "earlier parsers end", func() bool { return liveParsers.Load() == 0 })
	in := newIntake(t, func(c *configs.Config) {
		c.Intake.MaxMessageSize = 25 << 20
		c.Intake.ParseTimeout.Duration = time.Nanosecond
	})
	before := runtime.NumGoroutine()
	p := in.take(testdataMsg(t, "attach-xlsx.eml"))
	if p.Disposition != store.DispQuarantined || !strings.Contains(p.Reason, "over a limit: parsing took longer") {
		t.Errorf("%s: %s", p.Disposition, p.Reason)
	}
	dry, err := in.proc.DryRun(testdataMsg(t, "attach-xlsx.eml"), time.Now())
	if err != nil || dry.Disposition != store.DispQuarantined || !strings.Contains(dry.Reason, "parsing took longer") {
		t.Errorf("dry run: %+v %v", dry, err)
	}
	eventually(t, 2*time.Second, "parse goroutines end", func() bool {
		return liveParsers.Load() == 0 && runtime.NumGoroutine() <= before
	})
}

// stopIdleParsers ends every parser waiting for a message.
func stopIdleParsers() {
	for {
		select {
		case parseJobs <- parseJob{stop: true}:
		default:
			return
		}
	}
}

// TestAttachmentLimitsQuarantine: too many attachments is a quarantine
// with the reason, not a crash and not a referral.
func TestAttachmentLimitsQuarantine(t *testing.T) {
	in := newIntake(t, func(c *configs.Config) {
		c.Intake.MaxMessageSize = 25 << 20
		c.Intake.MaxAttachments = 1
	})
	p := in.take(testdataMsg(t, "attach-unreadable.eml"))
	if p.Disposition != store.DispQuarantined || p.Reason != "over a limit: more than 1 attachments" || p.Folder != in.cfg.IMAP.Quarantine {
		t.Errorf("%+v", p)
	}
	if n := in.count("SELECT count(*) FROM referrals") + in.count("SELECT count(*) FROM attachments"); n != 0 {
		t.Errorf("%d rows written for a quarantined message", n)
	}
}

func TestReplySource(t *testing.T) {
	for in, want := range map[string]string{
		"attachment Whitfield, Dana.csv row 3":     "row 3",
		"attachment list.xlsx sheet Dana W row 12": "row 12",
		"attachment form.json item 2":              "item 2",
		"attachment Dana Whitfield referral.pdf":   "",
		"body":                                     "",
		"attachment rows 3.csv":                    "",
	} {
		if got := replySource(in); got != want {
			t.Errorf("replySource(%q) = %q, want %q", in, got, want)
		}
	}
}
