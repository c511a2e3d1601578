package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Tx is one write transaction. Intake uses it to write a batch of messages
// with their referrals, events and replies atomically (transactional outbox).
type Tx struct {
	s   *Store
	tx  *sqlx.Tx
	ctx context.Context
	// wctx is ctx without its cancellation, for the short writes: the
	// driver runs a statement whose context can be cancelled on a
	// goroutine of its own, which costs more than the insert itself. A
	// cancelled ctx still ends the transaction (database/sql rolls it
	// back), so the next statement fails and nothing is kept.
	wctx  context.Context
	stmts map[string]*sqlx.Stmt // the store's statements bound to this transaction
	src   map[string]*sqlx.Stmt // where they come from: the write pool's, or the read pool's
}

// InTx runs fn in one IMMEDIATE transaction and commits it if fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&Tx{s: s, tx: tx, ctx: ctx, wctx: context.WithoutCancel(ctx)}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.committed()
	return nil
}

// Now is the store's clock.
func (t *Tx) Now() time.Time { return t.s.Now().UTC() }

// q returns the prepared statement name bound to the transaction, binding it
// once per transaction rather than once per call.
func (t *Tx) q(name string) *sqlx.Stmt {
	if st, ok := t.stmts[name]; ok {
		return st
	}
	src := t.src
	if src == nil {
		src = t.s.stmts
	}
	base, ok := src[name]
	if !ok {
		panic("store: no query named " + name)
	}
	st := t.tx.StmtxContext(t.ctx, base)
	if t.stmts == nil {
		t.stmts = map[string]*sqlx.Stmt{}
	}
	t.stmts[name] = st
	return st
}

// InsertMessage stores an inbound message and sets m.ID; its raw bytes
// follow with PutRaw or CopyRaw.
func (t *Tx) InsertMessage(m *Message) error {
	res, err := t.q("message_insert").ExecContext(t.wctx, m.Mailbox, m.UIDValidity, m.UID, m.SHA256, m.MessageID,
		m.FromAddr, m.Subject, m.Size, m.ReceivedAt.UTC(), m.ProcessedAt.UTC(), m.Disposition, m.Reason, m.PartnerID)
	if err == nil {
		m.ID, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("store: insert message uid %d: %w", m.UID, err)
	}
	return nil
}

// SetDisposition records a new disposition for a stored message (a held
// message released by a coach).
func (t *Tx) SetDisposition(id int64, disposition, reason, partnerID string) error {
	_, err := t.q("message_set_disposition").ExecContext(t.ctx, disposition, reason, partnerID, t.Now(), id)
	if err != nil {
		return fmt.Errorf("store: set disposition of M-%d: %w", id, err)
	}
	return nil
}

// MessageBySHA returns the first stored message with this SHA-256, or
// ErrNotFound.
func (t *Tx) MessageBySHA(sum string) (*Message, error) {
	var m Message
	err := t.q("message_by_sha").GetContext(t.ctx, &m, sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: message by hash: %w", err)
	}
	return &m, nil
}

// CreateReferral stores a new referral, sets r.ID, and starts its history
// with a 'created' event by refdesk, about inbound message messageID (nil
// for none), at the referral's created_at: referral_facts takes the first
// times of the status it was created in from that row (migration 6), so
// the event and the row must tell the same time.
func (t *Tx) CreateReferral(r *Referral, messageID *int64, note string) error {
	if err := t.insertReferral(r); err != nil {
		return err
	}
	return t.AddEvent(&Event{ReferralID: r.ID, At: r.CreatedAt, By: "refdesk", Kind: "created", ToStatus: r.Status,
		MessageID: messageID, Note: note})
}

// insertReferral stores a new referral and sets r.ID.
func (t *Tx) insertReferral(r *Referral) error {
	now := t.Now()
	r.CreatedAt, r.UpdatedAt = now, now
	r.CreatedStatus = r.Status
	res, err := t.q("referral_insert").ExecContext(t.wctx, r.PartnerID, r.MessageID, r.Source, r.Decision, r.Status,
		r.RuleID, r.ServiceID, r.Reason, r.Missing, r.ClientName, r.NameKey, r.ClientPhone, r.ClientEmail,
		r.DateOfBirth, r.PartnerCaseID, r.ShareOutcomes, r.ReferrerAddr, r.Fields, r.Extra, r.Notes,
		r.ReceivedAt.UTC(), now)
	if err == nil {
		r.ID, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("store: insert referral: %w", err)
	}
	return nil
}

// UpdateReferral writes every mutable column of r.
func (t *Tx) UpdateReferral(r *Referral) error {
	r.UpdatedAt = t.Now()
	_, err := t.q("referral_update").ExecContext(t.wctx, r.Decision, r.Status, r.RuleID, r.ServiceID, r.Reason,
		r.Missing, r.ClientName, r.NameKey, r.ClientPhone, r.ClientEmail, r.DateOfBirth, r.PartnerCaseID,
		r.ShareOutcomes, r.Fields, r.Extra, r.Notes, r.UpdatedAt, utcPtr(r.FirstContactAt), utcPtr(r.ClosedAt), r.ID)
	if err != nil {
		return fmt.Errorf("store: update %s: %w", r.Ref(), err)
	}
	return nil
}

// Referral returns the referral with id, or ErrNotFound.
func (t *Tx) Referral(id int64) (*Referral, error) {
	var r Referral
	err := t.q("referral_get").GetContext(t.ctx, &r, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %s: %w", FormatRef(id), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", FormatRef(id), err)
	}
	return &r, nil
}

// ReferralByThread returns the referral that one of msgids (In-Reply-To and
// References of a new message) belongs to: one of our replies about it, or
// the message that created it. ErrNotFound when none.
func (t *Tx) ReferralByThread(msgids []string) (*Referral, error) {
	if len(msgids) == 0 {
		return nil, ErrNotFound
	}
	q, args, err := sqlx.In(`
		SELECT referral_id FROM outbox WHERE message_id IN (?) AND referral_id IS NOT NULL
		UNION ALL
		SELECT r.id FROM referrals r JOIN messages m ON m.id = r.message_id
		WHERE m.message_id IN (?) AND m.message_id <> ''
		  AND (SELECT count(*) FROM referrals r2 WHERE r2.message_id = m.id) = 1
		LIMIT 1`, msgids, msgids)
	if err != nil {
		return nil, fmt.Errorf("store: referral by thread: %w", err)
	}
	var id int64
	err = t.tx.GetContext(t.ctx, &id, t.tx.Rebind(q), args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: referral by thread: %w", err)
	}
	return t.Referral(id)
}

// OpenDuplicate returns an open referral of the same client: same phone, or
// same email, or same name key and date of birth (the oldest if several).
// ErrNotFound when none.
func (t *Tx) OpenDuplicate(phone, email, nameKey, dob string) (*Referral, error) {
	var id sql.NullInt64
	if err := t.q("referral_open_duplicate").GetContext(t.ctx, &id, phone, email, nameKey, dob); err != nil {
		return nil, fmt.Errorf("store: duplicate lookup: %w", err)
	}
	if !id.Valid {
		return nil, ErrNotFound
	}
	return t.Referral(id.Int64)
}

// Caseload counts referrals that occupy a coaching slot.
func (t *Tx) Caseload() (int, error) {
	var n int
	if err := t.q("caseload_count").GetContext(t.ctx, &n); err != nil {
		return 0, fmt.Errorf("store: caseload: %w", err)
	}
	return n, nil
}

// RepliesSince counts automatic replies queued to addr since a time (the
// per-sender cap), up to limit: it stops counting there.
func (t *Tx) RepliesSince(addr string, since time.Time, limit int) (int, error) {
	var n int
	if err := t.q("replies_since").GetContext(t.ctx, &n, addr, since.UTC(), limit); err != nil {
		return 0, fmt.Errorf("store: replies since: %w", err)
	}
	return n, nil
}

// AddEvent appends an event to a referral's history.
func (t *Tx) AddEvent(e *Event) error {
	if e.At.IsZero() {
		e.At = t.Now()
	}
	res, err := t.q("event_insert").ExecContext(t.wctx, e.ReferralID, e.At.UTC(), e.By, e.Kind, e.FromStatus,
		e.ToStatus, e.Note, e.Forced, e.MessageID)
	if err == nil {
		e.ID, err = res.LastInsertId()
	}
	if err != nil {
		return fmt.Errorf("store: add event to %s: %w", FormatRef(e.ReferralID), err)
	}
	return nil
}

// Enqueue puts a message in the outbox. o.MessageID must be set: the
// Message-ID exists before the first attempt, so a resend is recognisable.
// A row whose DedupeKey is already in the outbox is not added again and
// Enqueue reports false.
func (t *Tx) Enqueue(o *OutMsg) (bool, error) {
	if o.MessageID == "" || o.To == "" || o.Kind == "" {
		return false, errors.New("store: enqueue: kind, to and message id are required")
	}
	now := t.Now()
	if o.Status == "" {
		o.Status = OutPending
	}
	if o.NextAttemptAt.IsZero() {
		o.NextAttemptAt = now
	}
	o.CreatedAt = now
	if o.DedupeKey != nil {
		var n int
		if err := t.tx.GetContext(t.ctx, &n, t.tx.Rebind("SELECT count(*) FROM outbox WHERE dedupe_key = ?"), *o.DedupeKey); err != nil {
			return false, fmt.Errorf("store: enqueue: %w", err)
		}
		if n > 0 {
			return false, nil
		}
	}
	res, err := t.q("outbox_insert").ExecContext(t.wctx, o.Kind, o.MessageID, o.DedupeKey, o.InboundID, o.ReferralID,
		o.PartnerID, o.To, o.InReplyTo, o.References, o.Subject, string(o.Data), o.Status, o.NextAttemptAt.UTC(),
		o.LastError, now)
	if err == nil {
		o.ID, err = res.LastInsertId()
	}
	if err != nil {
		return false, fmt.Errorf("store: enqueue %s: %w", o.Kind, err)
	}
	return true, nil
}

// MarkBounced marks our outbox messages with these Message-IDs bounced and
// returns how many there were.
func (t *Tx) MarkBounced(msgids []string, reason string) (int64, error) {
	if len(msgids) == 0 {
		return 0, nil
	}
	q, args, err := sqlx.In(`UPDATE outbox SET status = 'bounced', last_error = ? WHERE message_id IN (?) AND status IN ('sent', 'pending')`, reason, msgids)
	if err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(t.ctx, t.tx.Rebind(q), args...)
	if err != nil {
		return 0, fmt.Errorf("store: mark bounced: %w", err)
	}
	return res.RowsAffected()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
