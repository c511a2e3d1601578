package parse

import (
	"errors"
	"fmt"
	"io"
)

// An attachment is decoded as it is read, a piece at a time, and each
// piece goes on to the caller's sink (Options.Attachment): a 25 MB photo
// passes through in pieces of streamRead bytes and is never held. Only a
// file a reader needs (a CSV, a PDF form, ...) is kept, within
// MaxAttachmentBytes, and then only when the sink cannot give it back.

const (
	sniffBytes = 512      // the first bytes that pick an attachment's reader
	streamRead = 32 << 10 // encoded bytes read at a time
)

// streamed is one attachment once read: its decoded size, the sink that
// has its bytes, and where a reader finds them.
type streamed struct {
	kind string // from the name, media type and first bytes (kindOfHead)
	size int64
	sink io.Writer // from Options.Attachment; nil without one
	// content gives the bytes back when a reader needs them: the sink
	// itself when it is an io.ReaderAt, else a blockBuffer; nil for a file
	// no reader reads.
	content io.ReaderAt
	data    []byte // content in one slice, once bytes made it
	over    bool   // over MaxAttachmentBytes, or over what that allows encoded
	cut     error  // the read error the part ended with, if any
}

// bytes returns the attachment's bytes in one slice of exactly its size.
func (g *streamed) bytes() ([]byte, error) {
	if g.data != nil || g.content == nil {
		return g.data, nil
	}
	data := make([]byte, g.size)
	n, err := g.content.ReadAt(data, 0)
	if int64(n) < g.size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("parse: read attachment back: %w", err)
	}
	g.data = data
	return data, nil
}

// stream reads and decodes an attachment's body into the sink (and a
// buffer, when a reader needs the bytes and the sink cannot give them
// back), stopping at the size limits. It fails only when the sink does.
func (w *walker) stream(a attachmentPart) (*streamed, error) {
	limit := w.opt.MaxAttachmentBytes
	// Base64 makes 4 bytes of 3, plus line ends: an attachment at the limit
	// is at most about 1.4 times as large encoded. Reading no further keeps
	// the work bounded.
	encLimit := limit/100*140 + 64<<10
	r := &countingReader{r: io.LimitReader(a.Body, encLimit+1)}
	dec := w.newTransferDecoder(a.Encoding)
	g := &streamed{}
	buf := make([]byte, streamRead)
	out := make([]byte, 0, streamRead)
	eof := false
	next := func() []byte { // the next decoded piece; nil at the end
		for !eof {
			n, err := r.Read(buf)
			out = dec.decode(out[:0], buf[:n])
			if err != nil {
				eof = true
				if err != io.EOF {
					g.cut = err
				}
				out = dec.flush(out)
			}
			if len(out) > 0 {
				return out
			}
		}
		return nil
	}
	var head []byte
	for len(head) < sniffBytes {
		p := next()
		if p == nil {
			break
		}
		head = append(head, p...)
	}
	g.kind = kindOfHead(a.MediaType, a.Filename, head[:min(len(head), sniffBytes)])
	if w.opt.Attachment != nil {
		sink, err := w.opt.Attachment(AttachmentInfo{Filename: a.Filename, ContentType: a.MediaType})
		if err != nil {
			return nil, fmt.Errorf("parse: attachment sink: %w", err)
		}
		g.sink = sink
	}
	var mem *blockBuffer
	if g.kind != kindOther && g.kind != kindUnsupported {
		if ra, ok := g.sink.(io.ReaderAt); ok {
			g.content = ra
		} else {
			mem = &blockBuffer{}
			g.content = mem
		}
	}
	for p := head; p != nil; p = next() {
		if g.size+int64(len(p)) > limit {
			g.over = true
			break
		}
		g.size += int64(len(p))
		if g.sink != nil {
			if _, err := g.sink.Write(p); err != nil {
				return nil, fmt.Errorf("parse: attachment sink: %w", err)
			}
		}
		if mem != nil {
			mem.Write(p)
		}
	}
	if r.n > encLimit {
		g.over = true
	}
	return g, nil
}

// countingReader counts what it reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// blockBuffer holds bytes in blocks: growing never copies what it holds
// (a slice that doubles would copy it all, and for a while hold it twice).
type blockBuffer struct {
	blocks [][]byte
	size   int64
}

const maxBlock = 64 << 10

func (b *blockBuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if k := len(b.blocks); k == 0 || len(b.blocks[k-1]) == cap(b.blocks[k-1]) {
			b.blocks = append(b.blocks, make([]byte, 0, min(maxBlock, max(4<<10, b.size))))
		}
		last := &b.blocks[len(b.blocks)-1]
		m := copy((*last)[len(*last):cap(*last)], p)
		*last = (*last)[:len(*last)+m]
		p = p[m:]
		b.size += int64(m)
	}
	return n, nil
}

func (b *blockBuffer) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("parse: negative offset")
	}
	n := 0
	for _, blk := range b.blocks {
		if off >= int64(len(blk)) {
			off -= int64(len(blk))
			continue
		}
		m := copy(p[n:], blk[off:])
		n += m
		off = 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}
