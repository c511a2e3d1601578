package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Seen is what intake needs to know about a UID it has stored before.
type Seen struct {
	ID          int64  `db:"id"`
	UID         uint32 `db:"uid"`
	Disposition string `db:"disposition"`
	MovedTo     string `db:"moved_to"`
}

// SeenUIDs returns the stored messages among uids of one mailbox and
// UIDVALIDITY, keyed by UID.
func (s *Store) SeenUIDs(ctx context.Context, mailbox string, uidvalidity uint32, uids []uint32) (map[uint32]Seen, error) {
	var rows []Seen
	if err := s.q("seen_uids").SelectContext(ctx, &rows, mailbox, uidvalidity, jsonInts(uids)); err != nil {
		return nil, fmt.Errorf("store: seen uids: %w", err)
	}
	out := make(map[uint32]Seen, len(rows))
	for _, r := range rows {
		out[r.UID] = r
	}
	return out, nil
}

// SetMoved records the folder messages were moved to after their commit, in
// one statement per inChunk messages (each is its own small transaction).
func (s *Store) SetMoved(ctx context.Context, folder string, ids []int64) error {
	// Short statements that are never worth interrupting; with a context
	// that can be cancelled the driver would run each on a goroutine of
	// its own.
	ctx = context.WithoutCancel(ctx)
	return inParts(ids, func(part []int64) error {
		if _, err := s.q("set_moved").ExecContext(ctx, folder, jsonInts(part)); err != nil {
			return fmt.Errorf("store: set moved: %w", err)
		}
		return nil
	})
}

// Message returns one stored message (its raw bytes: WriteRaw), or
// ErrNotFound.
func (s *Store) Message(ctx context.Context, id int64) (*Message, error) {
	var m Message
	err := s.q("message_get").GetContext(ctx, &m, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: M-%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get M-%d: %w", id, err)
	}
	return &m, nil
}

// Unresolved lists messages with a disposition (held or quarantined) that no
// coach has released or discarded yet, oldest first.
func (s *Store) Unresolved(ctx context.Context, disposition string) ([]Message, error) {
	var out []Message
	if err := s.q("messages_unresolved").SelectContext(ctx, &out, disposition); err != nil {
		return nil, fmt.Errorf("store: list %s: %w", disposition, err)
	}
	return out, nil
}

// Resolve marks a held or quarantined message released or discarded by a
// coach. It fails with ErrNotFound when there is no such unresolved message.
func (t *Tx) Resolve(id int64, resolution, by string) error {
	res, err := t.q("message_resolve").ExecContext(t.ctx, resolution, t.Now(), by, id)
	if err != nil {
		return fmt.Errorf("store: resolve M-%d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: M-%d is not a held or quarantined message waiting for a coach: %w", id, ErrNotFound)
	}
	return nil
}

// MessagesForReferral lists the inbound messages of a referral (without raw
// bytes): the one that created it and follow-ups.
func (s *Store) MessagesForReferral(ctx context.Context, id int64) ([]Message, error) {
	var out []Message
	if err := s.q("messages_for_referral").SelectContext(ctx, &out, id, id); err != nil {
		return nil, fmt.Errorf("store: messages of %s: %w", FormatRef(id), err)
	}
	return out, nil
}
