package parse

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse measures Parse on each test message (SPEC §10 wants the
// whole intake at 5,000 messages/s; parsing must be a small part of that).
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"plain-accepted.eml", "outlook-table.eml", "quoted-thread.eml", "bounce-dsn.eml",
		"attach-csv-batch.eml", "attach-xlsx.eml", "attach-pdf-form.eml", "attach-docx-form.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(raw), Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseLargeAttachment parses a message with a 25 MB attachment
// (random bytes: a photo or a scan does not compress) into a sink that
// gives the bytes back, as intake's spool does: what Parse allocates is
// what it holds of the file beyond the sink.
func BenchmarkParseLargeAttachment(b *testing.B) {
	data := make([]byte, 25<<20)
	for i := range data {
		data[i] = byte(i*131 + i>>11)
	}
	for _, ct := range []string{"image/jpeg", "application/pdf"} {
		raw := attachmentMessage(ct, "signed-form", data)
		b.Run(ct, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			sink := &readerAtSink{}
			sink.Grow(len(data))
			opt := Options{MaxAttachmentBytes: 30 << 20, Attachment: func(AttachmentInfo) (io.Writer, error) {
				sink.Reset()
				return sink, nil
			}}
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(raw), opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
