package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Retention (SPEC §9, [retention] in the config).

// PurgeResult says what a purge removed.
type PurgeResult struct {
	RawMessages     int64 // raw messages whose bytes were removed
	ClosedReferrals int64 // closed referrals deleted with their history and replies
}

// Purge applies the retention policy: the raw bytes of messages received
// before rawBefore are removed (their chunks in message_raw; the row stays, with its hash, so a copy that
// arrives again is still recognised), and referrals closed before
// closedBefore are deleted with their events, outcomes, attachments and
// outbound mail; the messages
// that created them lose their raw bytes and subject. Deleted content is
// overwritten (secure_delete) and the write-ahead log truncated, so it does
// not linger in free pages (every connection has secure_delete on). A zero time skips that part. With dryRun nothing
// changes and the counts say what would go.
func (s *Store) Purge(ctx context.Context, rawBefore, closedBefore time.Time, dryRun bool) (PurgeResult, error) {
	var res PurgeResult
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return res, fmt.Errorf("store: purge: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("store: purge: %w", err)
	}
	defer tx.Rollback()
	if !closedBefore.IsZero() {
		sel := `SELECT id FROM referrals WHERE closed_at IS NOT NULL AND closed_at < ?`
		if err := tx.GetContext(ctx, &res.ClosedReferrals, `SELECT count(*) FROM (`+sel+`)`, closedBefore.UTC()); err != nil {
			return res, fmt.Errorf("store: purge: %w", err)
		}
		if !dryRun && res.ClosedReferrals > 0 {
			for _, q := range []string{
				`CREATE TEMP TABLE purge_ids AS ` + sel,
				// The messages of these referrals only: the one that created
				// each, and follow-ups recorded in their history.
				`CREATE TEMP TABLE purge_msgs AS
				   SELECT message_id AS id FROM referrals WHERE id IN (SELECT id FROM purge_ids)
				   UNION SELECT message_id FROM events WHERE referral_id IN (SELECT id FROM purge_ids) AND message_id IS NOT NULL`,
				`DELETE FROM purge_msgs WHERE id IN (SELECT message_id FROM referrals WHERE id NOT IN (SELECT id FROM purge_ids))`,
				`DELETE FROM outbox WHERE referral_id IN (SELECT id FROM purge_ids) OR inbound_id IN (SELECT id FROM purge_msgs)`,
				`DELETE FROM attachment_data WHERE attachment_id IN (SELECT id FROM attachments
				   WHERE referral_id IN (SELECT id FROM purge_ids) OR message_id IN (SELECT id FROM purge_msgs))`,
				`DELETE FROM attachments WHERE referral_id IN (SELECT id FROM purge_ids) OR message_id IN (SELECT id FROM purge_msgs)`,
				`DELETE FROM events WHERE referral_id IN (SELECT id FROM purge_ids)`,
				`DELETE FROM referrals WHERE id IN (SELECT id FROM purge_ids)`,
				`DELETE FROM message_raw WHERE message_id IN (SELECT id FROM purge_msgs)`,
				`UPDATE messages SET subject = '' WHERE id IN (SELECT id FROM purge_msgs)`,
				`DROP TABLE purge_ids`,
				`DROP TABLE purge_msgs`,
			} {
				var args []any
				if strings.Contains(q, "?") {
					args = append(args, closedBefore.UTC())
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return res, fmt.Errorf("store: purge closed referrals: %w", err)
				}
			}
		}
	}
	if !rawBefore.IsZero() {
		// The raw bytes of every message received before rawBefore: their
		// chunks (message_raw), counted by message.
		old := `SELECT id FROM messages WHERE received_at < ?`
		err = tx.GetContext(ctx, &res.RawMessages, `SELECT count(DISTINCT message_id) FROM message_raw WHERE message_id IN (`+old+`)`, rawBefore.UTC())
		if err == nil && !dryRun && res.RawMessages > 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM message_raw WHERE message_id IN (`+old+`)`, rawBefore.UTC())
		}
		if err == nil && !dryRun {
			// Attachments are part of the record while a referral
			// lives (those of the message that made it, and of the
			// follow-ups linked to it); those of mail that belongs to
			// no referral (held, ignored, quarantined) go with the raw
			// message.
			gone := `SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.received_at < ?
				AND a.referral_id IS NULL AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.message_id = m.id)`
			if _, err = tx.ExecContext(ctx, `DELETE FROM attachment_data WHERE attachment_id IN (`+gone+`)`, rawBefore.UTC()); err == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM attachments WHERE id IN (`+gone+`)`, rawBefore.UTC())
			}
		}
		if err != nil {
			return res, fmt.Errorf("store: purge raw messages: %w", err)
		}
	}
	if dryRun {
		return res, nil
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("store: purge: %w", err)
	}
	// Old page images of what was deleted live on in the WAL until a
	// checkpoint; truncate it.
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return res, fmt.Errorf("store: purge checkpoint: %w", err)
	}
	return res, nil
}
