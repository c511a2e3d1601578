package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"refdesk/parse"
)

// The spool: a message above spoolAbove bytes is never held in memory
// whole. Fetch copies its literal into a spool file, parse reads it from
// there, the attachments parse decodes go to another spool file, and the
// intake transaction copies both into the database a chunk at a time.
// Smaller messages (nearly all of them) stay in memory, which is faster.
//
// Spool files are created 0600 in a 0700 directory (intake.spool_dir,
// else beside the database) and unlinked at once: they live only as long
// as the process holds them open, so a crash leaves nothing behind. Should
// the unlink fail (a file system that refuses it), the file goes when it
// is closed, after its transaction, and the next start of the daemon
// removes whatever a crash left.

// spoolAbove is the size (RFC822.SIZE) above which a message is spooled
// (Processor.spoolAbove: tests lower it).
const spoolAbove = 1 << 20

const spoolPrefix = "spool-"

// spool is the spool directory.
type spool struct {
	dir     string
	mu      sync.Mutex
	ready   bool         // made and checked
	created atomic.Int64 // files created (tests)
	open    atomic.Int64 // files created and not yet closed (tests: none leaks)
	// failAt, when not 0, makes that create (counting from 1) fail, as a
	// full disk would (tests).
	failAt atomic.Int64
}

// SpoolDir is where a config puts its spool files.
func SpoolDir(dbPath, configured string) string {
	if configured != "" {
		return configured
	}
	return dbPath + ".spool"
}

// prepare makes the directory, 0700, unless it did before.
func (s *spool) prepare() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return &spoolError{fmt.Errorf("spool: %w", err)}
	}
	// A directory of refdesk's own: an existing one open to others (say
	// spool_dir = "/tmp") is refused, never changed, and its files are
	// never touched (clean removes what is in it).
	st, err := os.Stat(s.dir)
	if err == nil && !st.IsDir() {
		err = errors.New("not a directory")
	}
	if err == nil && st.Mode().Perm() != 0o700 {
		err = fmt.Errorf("mode %v; it must be a directory of refdesk's own, mode 0700 (intake.spool_dir)", st.Mode().Perm())
	}
	if err != nil {
		return &spoolError{fmt.Errorf("spool %s: %w", s.dir, err)}
	}
	s.ready = true
	return nil
}

// clean removes the spool files a crash left behind (there are none when
// unlinking at creation works) and makes the directory.
func (s *spool) clean() error {
	if err := s.prepare(); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), spoolPrefix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("spool: %w", err)
			}
		}
	}
	return nil
}

// create opens a new, empty spool file.
func (s *spool) create() (*spoolFile, error) {
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if n := s.failAt.Load(); n > 0 && s.created.Load()+1 == n {
		s.failAt.Store(0)
		return nil, &spoolError{errors.New("spool: no space left on device (test)")}
	}
	f, err := os.CreateTemp(s.dir, spoolPrefix+"*") // mode 0600
	if err != nil {
		return nil, &spoolError{fmt.Errorf("spool: %w", err)}
	}
	s.created.Add(1)
	s.open.Add(1)
	sf := &spoolFile{f: f, sp: s}
	if os.Remove(f.Name()) != nil {
		sf.name = f.Name() // removed on close instead
	}
	return sf, nil
}

// spoolFile is one spool file: written from the start, read at any offset.
// It is safe to close while a parse that timed out still writes to it (the
// write then fails).
type spoolFile struct {
	mu     sync.Mutex
	sp     *spool
	f      *os.File
	name   string // still to remove on close; "" once unlinked
	size   int64
	closed bool
}

func (s *spoolFile) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, &spoolError{fmt.Errorf("spool: %w", os.ErrClosed)}
	}
	n, err := s.f.WriteAt(p, s.size)
	s.size += int64(n)
	if err != nil {
		return n, &spoolError{fmt.Errorf("spool: %w", err)}
	}
	return n, nil
}

// ReadAt reads what was written (os.File.ReadAt is safe beside writes).
func (s *spoolFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("spool: %w", err)
	}
	return n, err
}

// Size is how much was written.
func (s *spoolFile) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// reader reads the whole file from the start.
func (s *spoolFile) reader() *io.SectionReader { return io.NewSectionReader(s, 0, s.Size()) }

// Close closes (and, if still needed, removes) the file.
func (s *spoolFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.sp.open.Add(-1)
	err := s.f.Close()
	if s.name != "" {
		if rerr := os.Remove(s.name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// attachSinks gives parse somewhere to put each attachment of one message
// (parse.Options.Attachment): a buffer for a message held in memory, else
// a segment of one spool file per message, which parse reads back through
// (a PDF is then read from disk, never held). The intake transaction copies
// each into the database (storeAttachments).
type attachSinks struct {
	spool *spool // nil: in memory

	mu     sync.Mutex
	file   *spoolFile
	closed bool
}

func (a *attachSinks) sink(parse.AttachmentInfo) (io.Writer, error) {
	if a.spool == nil {
		return &memSink{}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, &spoolError{os.ErrClosed}
	}
	if a.file == nil {
		f, err := a.spool.create()
		if err != nil {
			return nil, err // a *spoolError
		}
		a.file = f
	}
	// Attachments are written one after the other: each starts where the
	// one before ended.
	return &segment{f: a.file, off: a.file.Size()}, nil
}

// close gives the spool file back.
func (a *attachSinks) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.file != nil {
		a.file.Close()
	}
}

// segment is one attachment in a message's attachment spool file.
type segment struct {
	f   *spoolFile
	off int64
	n   int64
}

func (s *segment) Write(p []byte) (int, error) {
	if s.f.Size() != s.off+s.n {
		return 0, &spoolError{errors.New("spool: attachments written out of turn")}
	}
	n, err := s.f.Write(p) // a *spoolError
	s.n += int64(n)
	return n, err
}

func (s *segment) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.n {
		return 0, io.EOF
	}
	if rest := s.n - off; int64(len(p)) > rest {
		n, err := s.f.ReadAt(p[:rest], s.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.f.ReadAt(p, s.off+off)
}

// spoolError is a failure of the spool, not of a message: the message
// stays in the inbox, to be taken in again, while the rest of the inbox
// goes on (see Daemon.dropUnspooled).
type spoolError struct{ err error }

func (e *spoolError) Error() string { return e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// memSink is an attachment of a message held in memory.
type memSink struct{ bytes.Buffer }

func (m *memSink) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.Bytes()).ReadAt(p, off)
}

// attachmentData reads what parse put in attachment a's sink.
func attachmentData(a *parse.Attachment) io.Reader {
	switch s := a.Sink.(type) {
	case *memSink:
		return bytes.NewReader(s.Bytes())
	case *segment:
		return io.NewSectionReader(s, 0, s.n)
	}
	return bytes.NewReader(a.Data)
}

// errRecorder passes reads through and keeps the first error other than
// EOF: parse reads leniently (a short part is a Problem), but a spool file
// that cannot be read is a failure of intake, not of the message.
type errRecorder struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *errRecorder) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
