package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Attachment is one file an inbound message carried, kept with the record.
type Attachment struct {
	ID          int64     `db:"id"`
	MessageID   int64     `db:"message_id"`
	ReferralID  *int64    `db:"referral_id"`
	Filename    string    `db:"filename"` // as the sender wrote it: never a path
	ContentType string    `db:"content_type"`
	Size        int64     `db:"size"`
	SHA256      string    `db:"sha256"`
	Candidates  int       `db:"candidates"`
	Problem     string    `db:"problem"`
	Data        []byte    `db:"data"`
	CreatedAt   time.Time `db:"created_at"`
}

// Ref is the attachment's short reference: "A-3".
func (a *Attachment) Ref() string { return "A-" + strconv.FormatInt(a.ID, 10) }

// InsertAttachment stores an attachment (in the intake transaction) and
// sets a.ID; its SHA-256 is computed here.
func (t *Tx) InsertAttachment(a *Attachment) error {
	sum := sha256.Sum256(a.Data)
	a.SHA256 = hex.EncodeToString(sum[:])
	a.Size = int64(len(a.Data))
	a.CreatedAt = t.Now()
	res, err := t.q("attachment_insert").ExecContext(t.wctx, a.MessageID, a.ReferralID, a.Filename, a.ContentType,
		a.Size, a.SHA256, a.Candidates, a.Problem, a.Data, a.CreatedAt)
	if err == nil {
		a.ID, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("store: insert attachment of M-%d: %w", a.MessageID, err)
	}
	return nil
}

// AttachmentsForReferral lists the attachments of a referral, without their
// bytes: those linked to it, and those of the message that created it that
// belong to no single referral (a batch file).
func (s *Store) AttachmentsForReferral(ctx context.Context, id int64) ([]Attachment, error) {
	var out []Attachment
	if err := s.q("attachments_for_referral").SelectContext(ctx, &out, id, id); err != nil {
		return nil, fmt.Errorf("store: attachments of %s: %w", FormatRef(id), err)
	}
	return out, nil
}

// AttachmentData returns the bytes of one attachment.
func (s *Store) AttachmentData(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	if err := s.q("attachment_data").GetContext(ctx, &b, id); err != nil {
		return nil, fmt.Errorf("store: attachment A-%d: %w", id, err)
	}
	return b, nil
}
