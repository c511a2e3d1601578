package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Filter selects referrals for a listing.
type Filter struct {
	Status  string
	Partner string
	Since   time.Time
	Limit   int // 0 = every match
}

// Row is what a listing table shows of a referral.
type Row struct {
	ID         int64     `db:"id"`
	ReceivedAt time.Time `db:"received_at"`
	PartnerID  string    `db:"partner_id"`
	ClientName string    `db:"client_name"`
	Status     string    `db:"status"`
	Decision   string    `db:"decision"`
	ServiceID  string    `db:"service_id"`
}

// Ref is the referral's short reference.
func (r *Row) Ref() string { return FormatRef(r.ID) }

// Rows lists referrals newest first, only the columns a table shows: no
// JSON to decode per row, so `refdesk list` stays fast on a large database.
func (s *Store) Rows(ctx context.Context, f Filter) ([]Row, error) {
	q, args := referralsQuery("id, received_at, partner_id, client_name, status, decision, service_id", f)
	var out []Row
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("store: list referrals: %w", err)
	}
	return out, nil
}

// Referrals lists referrals newest first.
func (s *Store) Referrals(ctx context.Context, f Filter) ([]Referral, error) {
	q, args := referralsQuery("*", f)
	var out []Referral
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("store: list referrals: %w", err)
	}
	return out, nil
}

func referralsQuery(cols string, f Filter) (string, []any) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Partner != "" {
		where, args = append(where, "partner_id = ?"), append(args, f.Partner)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received_at >= ?"), append(args, f.Since.UTC())
	}
	q := "SELECT " + cols + " FROM referrals"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}

// Referral returns one referral, or ErrNotFound.
func (s *Store) Referral(ctx context.Context, id int64) (*Referral, error) {
	var r *Referral
	err := s.InTxRead(ctx, func(t *Tx) error {
		var err error
		r, err = t.Referral(id)
		return err
	})
	return r, err
}

// InTxRead runs fn in a read-only transaction: a consistent snapshot, on
// the read pool (DEFERRED, query_only), so it never waits for or blocks a
// writer. A write inside fn fails.
func (s *Store) InTxRead(ctx context.Context, fn func(*Tx) error) error {
	stmts, err := s.readStatements(ctx)
	if err != nil {
		return err
	}
	tx, err := s.rdb.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{s: s, tx: tx, ctx: ctx, wctx: context.WithoutCancel(ctx), src: stmts})
}

// Events returns a referral's history, oldest first.
func (s *Store) Events(ctx context.Context, id int64) ([]Event, error) {
	var out []Event
	if err := s.q("events_for").SelectContext(ctx, &out, id); err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", FormatRef(id), err)
	}
	return out, nil
}

// EventsOf returns the histories of the referrals ids, each oldest first
// (for listings: one query for a page of referrals, not one each).
func (s *Store) EventsOf(ctx context.Context, ids []int64) (map[int64][]Event, error) {
	var rows []Event
	if err := s.q("events_of").SelectContext(ctx, &rows, jsonInts(ids)); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	out := make(map[int64][]Event, len(ids))
	for _, e := range rows {
		out[e.ReferralID] = append(out[e.ReferralID], e)
	}
	return out, nil
}

// TransitionError explains a refused status change.
type TransitionError struct {
	Ref, From, To string
	Allowed       []string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s is %s; it cannot move to %s (allowed: %s; --force overrides)",
		e.Ref, e.From, e.To, strings.Join(e.Allowed, ", "))
}

func (e *TransitionError) Unwrap() error { return ErrTransition }

// Change is a coach's status change.
type Change struct {
	To     string
	Reason string // required for statuses that end a referral
	Note   string
	By     string
	Force  bool
}

// ErrReasonRequired is returned when a closing status has no reason.
var ErrReasonRequired = errors.New("a reason is required")

// UpdateStatus moves a referral to a new status, enforcing the status
// machine of SPEC §3 unless Force is set, and records the event.
func (s *Store) UpdateStatus(ctx context.Context, id int64, c Change) (*Referral, error) {
	if !IsStatus(c.To) {
		return nil, fmt.Errorf("unknown status %q (one of: %s)", c.To, strings.Join(Statuses, ", "))
	}
	if NeedsReason(c.To) && strings.TrimSpace(c.Reason) == "" {
		return nil, fmt.Errorf("%s ends the referral: %w (--reason \"...\")", c.To, ErrReasonRequired)
	}
	var r *Referral
	err := s.InTx(ctx, func(t *Tx) error {
		var err error
		if r, err = t.Referral(id); err != nil {
			return err
		}
		from := r.Status
		if from == c.To {
			return fmt.Errorf("%s is already %s", r.Ref(), from)
		}
		if !CanMove(from, c.To) && !c.Force {
			return &TransitionError{Ref: r.Ref(), From: from, To: c.To, Allowed: NextStatuses(from)}
		}
		now := t.Now()
		r.Status = c.To
		if IsFinal(c.To) {
			r.ClosedAt = &now
		} else {
			r.ClosedAt = nil
		}
		if err := t.UpdateReferral(r); err != nil {
			return err
		}
		note := strings.TrimSpace(strings.Join(nonEmpty(c.Reason, c.Note), " — "))
		if c.Force && !CanMove(from, c.To) {
			note = strings.TrimSpace("forced: " + note)
		}
		return t.AddEvent(&Event{ReferralID: r.ID, At: now, By: c.By, Kind: "status", FromStatus: from,
			ToStatus: c.To, Note: note, Forced: c.Force && !CanMove(from, c.To)})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// AddNote adds a note to a referral. A contact note (a contact attempt) sets
// the first-contact time if it is the first.
func (s *Store) AddNote(ctx context.Context, id int64, text, by string, contact bool) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("the note is empty")
	}
	return s.InTx(ctx, func(t *Tx) error {
		r, err := t.Referral(id)
		if err != nil {
			return err
		}
		kind := "note"
		now := t.Now()
		if contact {
			kind = "contact"
			if r.FirstContactAt == nil {
				r.FirstContactAt = &now
				if err := t.UpdateReferral(r); err != nil {
					return err
				}
			}
		}
		return t.AddEvent(&Event{ReferralID: id, At: now, By: by, Kind: kind, Note: text})
	})
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
