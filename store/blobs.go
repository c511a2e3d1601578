package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// The bytes of raw messages and attachments (migration 5) live in tables of
// their own, message_raw and attachment_data, as rows of at most ChunkSize
// bytes written in the same transaction as the record they belong to. They
// are written from and read into an io.Reader or io.Writer a chunk at a
// time: SQLite copies every value bound to a statement, so a 25 MB value
// bound whole would cost 25 MB more memory at once, and the driver has no
// incremental blob I/O.

// ChunkSize is the most bytes one stored chunk holds.
const ChunkSize = 256 << 10

// PutRaw stores raw as the raw bytes of stored message id, in the
// transaction: one row for a message of up to ChunkSize bytes (the usual
// referral), else one row per chunk. raw is not copied.
func (t *Tx) PutRaw(id int64, raw []byte) error {
	if raw == nil {
		raw = []byte{} // an empty message is a stored copy too
	}
	st := t.q("raw_insert")
	for seq := 0; ; seq++ {
		n := min(len(raw), ChunkSize)
		if _, err := st.ExecContext(t.wctx, id, seq, raw[:n]); err != nil {
			return fmt.Errorf("store: store raw M-%d: %w", id, err)
		}
		raw = raw[n:]
		if len(raw) == 0 {
			return nil
		}
	}
}

// CopyRaw stores what r holds as the raw bytes of stored message id, in the
// transaction, a chunk at a time, and returns how many bytes it stored.
func (t *Tx) CopyRaw(id int64, r io.Reader) (int64, error) {
	n, err := t.copyChunks("raw_insert", id, r, nil)
	if err != nil {
		return n, fmt.Errorf("store: store raw M-%d: %w", id, err)
	}
	return n, nil
}

// copyChunks reads r a chunk at a time and inserts each chunk with the
// named statement (owner id, seq, data); h, if set, sees every byte. At
// least one row is written, empty for an empty r.
func (t *Tx) copyChunks(query string, id int64, r io.Reader, h io.Writer) (int64, error) {
	st := t.q(query)
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := *bp
	var total int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return total, err
		}
		if n == 0 && seq > 0 {
			return total, nil
		}
		if h != nil {
			h.Write(buf[:n])
		}
		if _, err := st.ExecContext(t.wctx, id, seq, buf[:n]); err != nil {
			return total, err
		}
		total += int64(n)
		if n < len(buf) {
			return total, nil
		}
	}
}

// chunkBufs holds the buffers chunks are read into (the driver copies what
// it binds, so a buffer serves chunk after chunk).
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// WriteRaw writes the stored raw bytes of message id to w, a chunk at a
// time, and returns how many it wrote. ErrNotFound when the message has no
// stored copy (too large to fetch, a copy of another, or purged).
func (s *Store) WriteRaw(ctx context.Context, id int64, w io.Writer) (int64, error) {
	n, err := s.writeChunks(ctx, "raw_chunks", id, w)
	if err != nil {
		return n, fmt.Errorf("store: raw M-%d: %w", id, err)
	}
	return n, nil
}

// WriteAttachment writes the bytes of attachment id to w, a chunk at a
// time, and returns how many it wrote. ErrNotFound when none are kept.
func (s *Store) WriteAttachment(ctx context.Context, id int64, w io.Writer) (int64, error) {
	n, err := s.writeChunks(ctx, "attachment_chunks", id, w)
	if err != nil {
		return n, fmt.Errorf("store: attachment A-%d: %w", id, err)
	}
	return n, nil
}

// writeChunks writes the chunks the named query returns, in order, to w.
func (s *Store) writeChunks(ctx context.Context, query string, id int64, w io.Writer) (int64, error) {
	rows, err := s.q(query).QueryContext(ctx, id)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var total int64
	found := false
	for rows.Next() {
		found = true
		var b sql.RawBytes // the driver's copy, valid until Next: not copied again
		if err := rows.Scan(&b); err != nil {
			return total, err
		}
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	if err := rows.Err(); err != nil {
		return total, err
	}
	if !found {
		return 0, ErrNotFound
	}
	return total, rows.Close()
}

// InsertAttachment stores an attachment with the bytes data holds (in the
// intake transaction), a chunk at a time, and sets a.ID, a.Size and
// a.SHA256 from what it stored.
func (t *Tx) InsertAttachment(a *Attachment, data io.Reader) error {
	a.CreatedAt = t.Now()
	res, err := t.q("attachment_insert").ExecContext(t.wctx, a.MessageID, a.ReferralID, a.Filename, a.ContentType,
		0, "", a.Candidates, a.Problem, a.CreatedAt)
	if err == nil {
		a.ID, err = res.LastInsertId()
	}
	if err == nil {
		h := sha256.New()
		a.Size, err = t.copyChunks("attachment_data_insert", a.ID, data, h)
		a.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	if err == nil {
		_, err = t.q("attachment_set_sum").ExecContext(t.wctx, a.Size, a.SHA256, a.ID)
	}
	if err != nil {
		return fmt.Errorf("store: insert attachment of M-%d: %w", a.MessageID, err)
	}
	return nil
}
