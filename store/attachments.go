package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Attachment is one file an inbound message carried, kept with the record.
// Its bytes are in attachment_data (see blobs.go): InsertAttachment writes
// them, WriteAttachment reads them.
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
	CreatedAt   time.Time `db:"created_at"`
}

// Ref is the attachment's short reference: "A-3".
func (a *Attachment) Ref() string { return "A-" + strconv.FormatInt(a.ID, 10) }

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
