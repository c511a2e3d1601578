package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"testing/iotest"
)

func TestRawAndAttachmentsInChunks(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	big := make([]byte, 3*ChunkSize+17)
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	cases := map[string][]byte{"empty": {}, "small": []byte("From: a@x\r\n\r\nhi"), "one chunk": big[:ChunkSize], "several": big}
	ids := map[string][3]int64{} // message by PutRaw, by CopyRaw, attachment
	err := s.InTx(ctx, func(tx *Tx) error {
		uid := uint32(0)
		for name, b := range cases {
			var got [3]int64
			for i := range 2 {
				uid++
				m := &Message{Mailbox: "INBOX", UIDValidity: 1, UID: uid, SHA256: name, ReceivedAt: s.Now(), ProcessedAt: s.Now(), Disposition: DispHeld}
				if err := tx.InsertMessage(m); err != nil {
					return err
				}
				got[i] = m.ID
				if i == 0 {
					if err := tx.PutRaw(m.ID, b); err != nil {
						return err
					}
				} else if n, err := tx.CopyRaw(m.ID, iotest.HalfReader(bytes.NewReader(b))); err != nil || n != int64(len(b)) {
					t.Errorf("%s: CopyRaw stored %d bytes (%v), want %d", name, n, err, len(b))
				}
			}
			a := &Attachment{MessageID: got[0], Filename: name}
			if err := tx.InsertAttachment(a, iotest.OneByteReader(bytes.NewReader(b[:min(len(b), ChunkSize+3)]))); err != nil {
				return err
			}
			want := b[:min(len(b), ChunkSize+3)]
			sum := sha256.Sum256(want)
			if a.Size != int64(len(want)) || a.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: attachment size %d, sha %s", name, a.Size, a.SHA256)
			}
			got[2] = a.ID
			ids[name] = got
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range cases {
		got := ids[name]
		for i, id := range got[:2] {
			var out bytes.Buffer
			n, err := s.WriteRaw(ctx, id, &out)
			if err != nil || n != int64(len(b)) || !bytes.Equal(out.Bytes(), b) {
				t.Errorf("%s (%d): read back %d bytes (%v), want %d", name, i, n, err, len(b))
			}
		}
		var out bytes.Buffer
		want := b[:min(len(b), ChunkSize+3)]
		if n, err := s.WriteAttachment(ctx, ids[name][2], &out); err != nil || n != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s: attachment read back %d bytes (%v), want %d", name, n, err, len(want))
		}
	}
	var rows int
	s.db.Get(&rows, "SELECT count(*) FROM message_raw WHERE message_id = ?", ids["several"][0])
	if rows != 4 {
		t.Errorf("%d bytes in %d rows, want 4", len(big), rows)
	}
	if _, err := s.WriteRaw(ctx, 999, &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such message: %v", err)
	}
}
