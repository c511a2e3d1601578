package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Claim leases up to n due outbox messages for lease; another process (or a
// restart) may take them again only after the lease ends. This is how two
// daemons on one database never send the same row at once.
func (s *Store) Claim(ctx context.Context, n int, lease time.Duration) ([]OutMsg, error) {
	now := s.Now().UTC()
	var out []OutMsg
	if err := s.q("outbox_claim").SelectContext(ctx, &out, now.Add(lease), now, now, n); err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	return out, nil
}

// NextDue returns when the earliest pending message is due (zero if none).
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var t sql.NullString
	if err := s.q("outbox_next_due").GetContext(ctx, &t); err != nil {
		return time.Time{}, fmt.Errorf("store: next due: %w", err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return parseTime(t.String)
}

// parseTime reads a timestamp as the sqlite3 driver writes it.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("store: unreadable time %q", s)
}

// MarkSent records a delivered message.
func (s *Store) MarkSent(ctx context.Context, id int64) error {
	if _, err := s.q("outbox_sent").ExecContext(ctx, s.Now().UTC(), id); err != nil {
		return fmt.Errorf("store: mark O-%d sent: %w", id, err)
	}
	return nil
}

// MarkRetry records a temporary failure and when to try again.
func (s *Store) MarkRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	if _, err := s.q("outbox_later").ExecContext(ctx, next.UTC(), reason, id); err != nil {
		return fmt.Errorf("store: mark O-%d for retry: %w", id, err)
	}
	return nil
}

// MarkFailed records a permanent failure.
func (s *Store) MarkFailed(ctx context.Context, id int64, reason string) error {
	if _, err := s.q("outbox_failed").ExecContext(ctx, reason, id); err != nil {
		return fmt.Errorf("store: mark O-%d failed: %w", id, err)
	}
	return nil
}

// Requeue puts a failed, bounced or suppressed message back in the queue.
func (s *Store) Requeue(ctx context.Context, id int64) error {
	res, err := s.q("outbox_requeue").ExecContext(ctx, s.Now().UTC(), id)
	if err != nil {
		return fmt.Errorf("store: requeue O-%d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: O-%d is not a failed, bounced or suppressed message: %w", id, ErrNotFound)
	}
	return nil
}

// OutMsg returns one outbox message, or ErrNotFound.
func (s *Store) OutMsg(ctx context.Context, id int64) (*OutMsg, error) {
	var o OutMsg
	err := s.q("outbox_get").GetContext(ctx, &o, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: O-%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get O-%d: %w", id, err)
	}
	return &o, nil
}

// Outbox lists outbound messages newest first; with status set, only those.
func (s *Store) Outbox(ctx context.Context, status string, limit int) ([]OutMsg, error) {
	q := "SELECT * FROM outbox"
	var args []any
	if status != "" {
		q += " WHERE status = ?"
		args = append(args, status)
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	var out []OutMsg
	if err := s.db.SelectContext(ctx, &out, s.db.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	return out, nil
}

// OutboxForReferral lists the messages sent about a referral.
func (s *Store) OutboxForReferral(ctx context.Context, id int64) ([]OutMsg, error) {
	var out []OutMsg
	if err := s.q("outbox_for_referral").SelectContext(ctx, &out, id, id, id); err != nil {
		return nil, fmt.Errorf("store: outbox of %s: %w", FormatRef(id), err)
	}
	return out, nil
}
