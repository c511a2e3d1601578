package parse

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// bufferSink is a sink that cannot give its bytes back.
type bufferSink struct{ bytes.Buffer }

// readerAtSink can: readers read the file through it.
type readerAtSink struct {
	bytes.Buffer
	reads int
}

func (s *readerAtSink) ReadAt(p []byte, off int64) (int, error) {
	s.reads++
	return bytes.NewReader(s.Bytes()).ReadAt(p, off)
}

// TestAttachmentSinks parses every test message three ways (no sink, a
// sink, a sink that gives the bytes back) and wants the same result from
// each, with every attachment's bytes in its sink.
func TestAttachmentSinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if len(files) < 10 {
		t.Fatalf("%d test messages", len(files))
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkSinks(t, name, raw)
	}
}

// FuzzAttachmentSinks is TestAttachmentSinks on arbitrary messages: intake
// parses a large message with sinks (spool files), refdesk parse and small
// messages without; both must come to the same result.
func FuzzAttachmentSinks(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkSinks(t, "message", raw) })
}

// checkSinks parses raw without a sink, with a sink, and with a sink that
// gives the bytes back, and wants the same result from each.
func checkSinks(t *testing.T, name string, raw []byte) {
	t.Helper()
	plain, perr := Parse(bytes.NewReader(raw), Options{})
	for _, readBack := range []bool{false, true} {
		var sinks []io.Writer
		opt := Options{Attachment: func(info AttachmentInfo) (io.Writer, error) {
			var s io.Writer = &bufferSink{}
			if readBack {
				s = &readerAtSink{}
			}
			sinks = append(sinks, s)
			return s, nil
		}}
		m, err := Parse(bytes.NewReader(raw), opt)
		if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
			t.Errorf("%s: error %v, without a sink %v", name, err, perr)
			continue
		}
		if err != nil {
			continue
		}
		if len(m.Attachments) != len(plain.Attachments) {
			t.Errorf("%s: %d attachments, without a sink %d", name, len(m.Attachments), len(plain.Attachments))
			continue
		}
		for i, a := range m.Attachments {
			p := plain.Attachments[i]
			var got []byte
			switch s := a.Sink.(type) {
			case *bufferSink:
				got = s.Bytes()
			case *readerAtSink:
				got = s.Bytes()
			default:
				t.Fatalf("%s: attachment %d has sink %T", name, i, a.Sink)
			}
			if a.Data != nil || int64(len(got)) != a.Size || a.Size != p.Size || p.Data != nil && !bytes.Equal(got, p.Data) {
				t.Errorf("%s: attachment %q: %d bytes in the sink, size %d; without a sink size %d", name, a.Filename, len(got), a.Size, p.Size)
			}
			a.Sink, a.Data, p.Data = nil, nil, nil
			if !reflect.DeepEqual(a, p) {
				t.Errorf("%s: attachment %+v, without a sink %+v", name, a, p)
			}
		}
		if len(sinks) < len(m.Attachments) {
			t.Errorf("%s: %d sinks for %d attachments", name, len(sinks), len(m.Attachments))
		}
		if !reflect.DeepEqual(m.Candidates, plain.Candidates) || !reflect.DeepEqual(m.Problems, plain.Problems) {
			t.Errorf("%s: candidates or problems differ with a sink:\n%+v\n%+v", name, m.Candidates, plain.Candidates)
		}
	}
}

// attachmentMessage is a message with one attachment of data, base64.
func attachmentMessage(ct, filename string, data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: a@northside-housing.example\r\nSubject: form\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nClient name: Dana Whitfield\r\n--b\r\n" +
		"Content-Type: " + ct + "\r\nContent-Disposition: attachment; filename=\"" + filename + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for i := 0; i < len(enc); i += 76 {
		b.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	b.WriteString("--b--\r\n")
	return []byte(b.String())
}

// TestAttachmentsNotHeld: a photo goes to the sink and is never kept, a
// PDF is read through a sink that gives it back, and a file over the
// limit stops at it.
func TestAttachmentsNotHeld(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*131 + i>>11)
	}
	for _, tt := range []struct {
		ct, name string
		reads    bool // read back through the sink
	}{
		{"image/jpeg", "photo.jpg", false},
		{"application/octet-stream", "scan", false},
		{"application/pdf", "form.pdf", true},
	} {
		// The sink is sized before: what Parse allocates is then its own.
		sink := &readerAtSink{}
		sink.Grow(len(data))
		opt := Options{MaxAttachmentBytes: 4 << 20, Attachment: func(AttachmentInfo) (io.Writer, error) {
			return sink, nil
		}}
		raw := attachmentMessage(tt.ct, tt.name, data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Parse(bytes.NewReader(raw), opt)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", tt.ct, err)
		}
		// (A PDF is handed to pdfcpu, which reads it through the sink and
		// allocates as it parses: its peak is BenchmarkPeakRSS's.)
		if alloc := after.TotalAlloc - before.TotalAlloc; !tt.reads && alloc > 1<<20 {
			t.Errorf("%s: Parse allocated %d KB for a %d KB attachment: held in memory", tt.ct, alloc>>10, len(data)>>10)
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Size != int64(len(data)) || !bytes.Equal(sink.Bytes(), data) {
			t.Fatalf("%s: attachments %+v", tt.ct, m.Attachments)
		}
		if (sink.reads > 0) != tt.reads {
			t.Errorf("%s: read back %d times", tt.ct, sink.reads)
		}
		if tt.reads && m.Attachments[0].Problem != "not a readable PDF" {
			t.Errorf("%s: problem %q", tt.ct, m.Attachments[0].Problem)
		}

		opt.MaxAttachmentBytes = 2 << 20
		sink.Reset()
		_, err = Parse(bytes.NewReader(attachmentMessage(tt.ct, tt.name, data)), opt)
		var le *LimitError
		if !errors.As(err, &le) || sink.Len() > 2<<20 {
			t.Errorf("%s over the limit: %v, %d bytes in the sink", tt.ct, err, sink.Len())
		}
	}
}

type failingSink struct{}

func (failingSink) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestAttachmentSinkErrors: the sink's failure is Parse's, not a problem
// of the message (which would be quarantined for it).
func TestAttachmentSinkErrors(t *testing.T) {
	msg := attachmentMessage("image/png", "x.png", []byte("not much of a picture"))
	for name, f := range map[string]func(AttachmentInfo) (io.Writer, error){
		"sink":  func(AttachmentInfo) (io.Writer, error) { return nil, errors.New("no space for a spool file") },
		"write": func(AttachmentInfo) (io.Writer, error) { return failingSink{}, nil },
	} {
		_, err := Parse(bytes.NewReader(msg), Options{Attachment: f})
		var le *LimitError
		if err == nil || errors.As(err, &le) || !strings.Contains(fmt.Sprint(err), "attachment sink") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
