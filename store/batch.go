package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Lookups for a whole intake transaction at once: intake asks these once
// per chunk of messages, with every key of the chunk, instead of once per
// message (see ingest's chunk). The IN lists are bound parameters, split
// to stay far below SQLite's limit on variables.

// inChunk is how many values one IN list binds.
const inChunk = 500

// CapKinds are the kinds of outbox message the per-sender reply cap counts
// (SPEC §6): the automatic replies. The replies_since query lists the same.
var CapKinds = []string{"accepted", "redirected", "needs-info", "duplicate", "waitlisted", "unknown-sender", "batch", "too-large"}

// CountsForCap reports whether an outbox message of this kind counts
// toward the per-sender reply cap.
func CountsForCap(kind string) bool { return slices.Contains(CapKinds, kind) }

// IsOpen reports whether a referral in status s is still in progress
// (OpenStatuses): a second referral of its client is a duplicate.
func IsOpen(s string) bool { return slices.Contains(OpenStatuses, s) }

// inParts calls fn with successive parts of vals of at most inChunk values.
func inParts[T any](vals []T, fn func([]T) error) error {
	for len(vals) > 0 {
		part := vals[:min(len(vals), inChunk)]
		vals = vals[len(part):]
		if err := fn(part); err != nil {
			return err
		}
	}
	return nil
}

// MessagesBySHA returns, for each of sums that a stored message has, the
// first message stored with it (its id and disposition): MessageBySHA for
// many hashes at once.
func (t *Tx) MessagesBySHA(sums []string) (map[string]*Message, error) {
	out := make(map[string]*Message)
	err := inParts(sums, func(part []string) error {
		q, args, err := sqlx.In(`SELECT id, sha256, disposition FROM messages WHERE sha256 IN (?) ORDER BY id`, part)
		if err != nil {
			return err
		}
		var rows []Message
		if err := t.tx.SelectContext(t.ctx, &rows, t.tx.Rebind(q), args...); err != nil {
			return err
		}
		for i := range rows {
			if _, ok := out[rows[i].SHA256]; !ok {
				out[rows[i].SHA256] = &rows[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: messages by hash: %w", err)
	}
	return out, nil
}

// ClientKeys is what the duplicate check (SPEC §5 rule 7) compares of a
// referral.
type ClientKeys struct {
	ID          int64  `db:"id"`
	Status      string `db:"status"`
	Phone       string `db:"client_phone"`
	Email       string `db:"client_email"`
	NameKey     string `db:"name_key"`
	DateOfBirth string `db:"date_of_birth"`
}

// Keys returns the client keys of r.
func (r *Referral) Keys() ClientKeys {
	return ClientKeys{ID: r.ID, Status: r.Status, Phone: r.ClientPhone, Email: r.ClientEmail,
		NameKey: r.NameKey, DateOfBirth: r.DateOfBirth}
}

// NameDOB is a client's name key with a date of birth.
type NameDOB struct{ NameKey, DateOfBirth string }

// OpenClients returns the open referrals whose phone is one of phones, or
// whose email is one of emails, or whose name key and date of birth are one
// of names (each referral once, in order of id). Empty values match
// nothing, as in OpenDuplicate.
func (t *Tx) OpenClients(phones, emails []string, names []NameDOB) ([]ClientKeys, error) {
	const cols = `r.id, r.status, r.client_phone, r.client_email, r.name_key, r.date_of_birth`
	// "+r.status": the status is checked on the rows found, never used to
	// find them (its index would read every open referral).
	const open = `+r.status IN (?)`
	seen := map[int64]bool{}
	var out []ClientKeys
	add := func(q string, args []any) error {
		var rows []ClientKeys
		if err := t.tx.SelectContext(t.ctx, &rows, t.tx.Rebind(q), args...); err != nil {
			return err
		}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
		return nil
	}
	for _, by := range []struct {
		col  string
		vals []string
	}{{"client_phone", phones}, {"client_email", emails}} {
		// col is one of the two names above, never input; the "<> ''"
		// lets SQLite use the column's partial index.
		err := inParts(by.vals, func(part []string) error {
			q, args, err := sqlx.In(`SELECT `+cols+` FROM referrals r WHERE r.`+by.col+` IN (?) AND r.`+by.col+` <> '' AND `+open,
				part, OpenStatuses)
			if err != nil {
				return err
			}
			return add(q, args)
		})
		if err != nil {
			return nil, fmt.Errorf("store: open referrals by client: %w", err)
		}
	}
	// Name and date of birth in pairs: each pair one lookup in the
	// (name_key, date_of_birth) index.
	err := inParts(names, func(part []NameDOB) error {
		pairs := strings.Repeat("(?, ?), ", len(part))
		args := make([]any, 0, 2*len(part))
		for _, n := range part {
			args = append(args, n.NameKey, n.DateOfBirth)
		}
		q, args, err := sqlx.In(`SELECT `+cols+` FROM (VALUES `+pairs[:len(pairs)-2]+`) AS v
			JOIN referrals r ON r.name_key = v.column1 AND r.date_of_birth = v.column2
			WHERE r.name_key <> '' AND r.date_of_birth <> '' AND `+open, append(args, OpenStatuses)...)
		if err != nil {
			return err
		}
		return add(q, args)
	})
	if err != nil {
		return nil, fmt.Errorf("store: open referrals by client: %w", err)
	}
	slices.SortFunc(out, func(a, b ClientKeys) int { return int(a.ID - b.ID) })
	return out, nil
}

// ReplyCounts counts, for each of addrs, the automatic replies (CapKinds)
// queued to it since a time: RepliesSince for many addresses at once,
// without its limit. Addresses with none are absent.
func (t *Tx) ReplyCounts(addrs []string, since time.Time) (map[string]int, error) {
	out := make(map[string]int)
	err := inParts(addrs, func(part []string) error {
		q, args, err := sqlx.In(`SELECT to_addr, count(*) AS n FROM outbox
			WHERE to_addr IN (?) AND created_at >= ? AND kind IN (?) GROUP BY to_addr`, part, since.UTC(), CapKinds)
		if err != nil {
			return err
		}
		var rows []struct {
			Addr string `db:"to_addr"`
			N    int    `db:"n"`
		}
		if err := t.tx.SelectContext(t.ctx, &rows, t.tx.Rebind(q), args...); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.Addr] = r.N
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reply counts: %w", err)
	}
	return out, nil
}

// QueuedReply is when an automatic reply to an address was queued.
type QueuedReply struct {
	Addr      string    `db:"to_addr"`
	CreatedAt time.Time `db:"created_at"`
}

// ReplyTimes lists the automatic replies (CapKinds) to addrs queued at or
// after from and before to.
func (t *Tx) ReplyTimes(addrs []string, from, to time.Time) ([]QueuedReply, error) {
	var out []QueuedReply
	err := inParts(addrs, func(part []string) error {
		q, args, err := sqlx.In(`SELECT to_addr, created_at FROM outbox
			WHERE to_addr IN (?) AND created_at >= ? AND created_at < ? AND kind IN (?)`, part, from.UTC(), to.UTC(), CapKinds)
		if err != nil {
			return err
		}
		var rows []QueuedReply
		if err := t.tx.SelectContext(t.ctx, &rows, t.tx.Rebind(q), args...); err != nil {
			return err
		}
		out = append(out, rows...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reply times: %w", err)
	}
	return out, nil
}
