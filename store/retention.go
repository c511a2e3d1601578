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
// before rawBefore are removed (the row stays, with its hash, so a copy that
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
				`DELETE FROM attachments WHERE referral_id IN (SELECT id FROM purge_ids) OR message_id IN (SELECT id FROM purge_msgs)`,
				`DELETE FROM events WHERE referral_id IN (SELECT id FROM purge_ids)`,
				`DELETE FROM referrals WHERE id IN (SELECT id FROM purge_ids)`,
				`UPDATE messages SET raw = NULL, subject = '' WHERE id IN (SELECT id FROM purge_msgs)`,
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
		if dryRun {
			err = tx.GetContext(ctx, &res.RawMessages, `SELECT count(*) FROM messages WHERE raw IS NOT NULL AND received_at < ?`, rawBefore.UTC())
		} else {
			var r interface{ RowsAffected() (int64, error) }
			r, err = tx.ExecContext(ctx, `UPDATE messages SET raw = NULL WHERE raw IS NOT NULL AND received_at < ?`, rawBefore.UTC())
			if err == nil {
				res.RawMessages, _ = r.RowsAffected()
				// Attachments are part of the record while a referral
				// lives; those of mail that made no referral (held,
				// ignored, quarantined) go with the raw message.
				_, err = tx.ExecContext(ctx, `DELETE FROM attachments WHERE message_id IN (
					SELECT m.id FROM messages m WHERE m.received_at < ?
					AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.message_id = m.id))`, rawBefore.UTC())
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

// FailedSince lists outbound mail that failed permanently (5xx, or out of
// attempts) or bounced, queued at or after since, oldest first.
func (s *Store) FailedSince(ctx context.Context, since time.Time) ([]OutMsg, error) {
	var out []OutMsg
	if err := s.q("outbox_failed_since").SelectContext(ctx, &out, since.UTC()); err != nil {
		return nil, fmt.Errorf("store: failed outbox: %w", err)
	}
	return out, nil
}
