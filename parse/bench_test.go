package parse

import (
	"bytes"
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
