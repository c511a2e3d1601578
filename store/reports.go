package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Facts is a referral as reports, the digest and stats see it (the
// referral_facts view): never one entered in error.
type Facts struct {
	ID             int64      `db:"id"`
	PartnerID      string     `db:"partner_id"`
	MessageID      int64      `db:"message_id"`
	Decision       string     `db:"decision"`
	Status         string     `db:"status"`
	RuleID         string     `db:"rule_id"`
	ServiceID      string     `db:"service_id"`
	Reason         string     `db:"reason"`
	Missing        List       `db:"missing"`
	ClientName     string     `db:"client_name"`
	NameKey        string     `db:"name_key"`
	ClientPhone    string     `db:"client_phone"`
	ClientEmail    string     `db:"client_email"`
	DateOfBirth    string     `db:"date_of_birth"`
	PartnerCaseID  string     `db:"partner_case_id"`
	ShareOutcomes  bool       `db:"share_outcomes"`
	ReceivedAt     time.Time  `db:"received_at"`
	CreatedAt      time.Time  `db:"created_at"`
	FirstContactAt *time.Time `db:"first_contact_at"`
	ClosedAt       *time.Time `db:"closed_at"`
	// AcceptedAt is when it was first accepted (or moved straight from the
	// waiting list to scheduled); zero if never.
	AcceptedAt When `db:"accepted_at"`
	// WaitlistedAt is when it was first put on the waiting list.
	WaitlistedAt When `db:"waitlisted_at"`
	// EnrolledAt is when its client first entered coaching (enrolled, or
	// completed or disengaged without an enrolled step).
	EnrolledAt When `db:"enrolled_at"`
	// RepliedAt is when our first reply to the email that brought it was
	// accepted by the SMTP server.
	RepliedAt When `db:"replied_at"`
}

// Ref is the referral's reference.
func (f *Facts) Ref() string { return FormatRef(f.ID) }

// When is a time that SQLite hands back as text (min() of a timestamp
// column loses its type); the zero value means never.
type When struct{ time.Time }

// Scan implements sql.Scanner.
func (w *When) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		w.Time = time.Time{}
		return nil
	case time.Time:
		w.Time = v
		return nil
	case []byte:
		src = string(v)
	}
	s, ok := src.(string)
	if !ok {
		return fmt.Errorf("store: cannot scan %T as a time", src)
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	w.Time = t
	return nil
}

// StatusChange is one status event.
type StatusChange struct {
	ReferralID int64     `db:"referral_id"`
	At         time.Time `db:"at"`
	From       string    `db:"from_status"`
	To         string    `db:"to_status"`
}

// PartnerQuery selects a partner's report data: the month [From, To), and
// the grant period's totals over [Since, Until) (Since zero: none). Outcome
// dates are compared as dates in From's location.
type PartnerQuery struct {
	Partner      string
	From, To     time.Time
	Since, Until time.Time
}

// PartnerData is what one partner's monthly report is made from.
type PartnerData struct {
	// Referrals received before To and: in the month, still open, or with
	// a status change or outcome in the month.
	Referrals []Facts
	// Changes are the status changes in the month.
	Changes []StatusChange
	// Outcomes are those dated from Since (or From) to the month's end.
	Outcomes []Outcome
	// Period is the funnel of the referrals received in [Since, Until), and
	// PeriodOutcomes the outcomes dated then (zero without Since).
	Period         Funnel
	PeriodOutcomes int
}

// PartnerData reads one partner's report data in one consistent snapshot.
func (s *Store) PartnerData(ctx context.Context, q PartnerQuery) (*PartnerData, error) {
	since := q.From
	if !q.Since.IsZero() && q.Since.Before(since) {
		since = q.Since
	}
	loc := q.From.Location()
	day := func(t time.Time) string { return t.In(loc).Format(time.DateOnly) }
	var d PartnerData
	err := s.InTxRead(ctx, func(t *Tx) error {
		if err := t.q("facts_partner").SelectContext(ctx, &d.Referrals, q.Partner, q.To.UTC(), q.From.UTC(),
			q.From.UTC(), q.To.UTC(), day(q.From), day(q.To)); err != nil {
			return err
		}
		if err := t.q("status_changes_partner").SelectContext(ctx, &d.Changes, q.Partner, q.From.UTC(), q.To.UTC()); err != nil {
			return err
		}
		if err := t.q("outcomes_partner").SelectContext(ctx, &d.Outcomes, q.Partner, day(since), day(q.To)); err != nil {
			return err
		}
		if q.Since.IsZero() {
			return nil
		}
		if err := t.q("funnel_partner").GetContext(ctx, &d.Period, q.Partner, q.Since.UTC(), q.Until.UTC()); err != nil {
			return err
		}
		return t.q("outcomes_count_partner").GetContext(ctx, &d.PeriodOutcomes, q.Partner, day(q.Since), day(q.Until))
	})
	if err != nil {
		return nil, fmt.Errorf("store: report data of %s: %w", q.Partner, err)
	}
	return &d, nil
}

// DigestData is what the daily coach digest is made from.
type DigestData struct {
	New         []Facts   // referrals taken in during [from, to)
	Waiting     []Facts   // accepted with no first contact, and needs-info
	Held        []Message // held messages no coach has released or discarded
	Quarantined []Message
	Failed      []OutMsg // outbound mail that failed permanently (or bounced) in the last FailedReminder
}

// FailedReminder is how long the digest keeps naming a failed message.
const FailedReminder = 7 * 24 * time.Hour

// DigestData reads the digest data for the window [from, to).
func (s *Store) DigestData(ctx context.Context, from, to time.Time) (*DigestData, error) {
	var d DigestData
	err := s.InTxRead(ctx, func(t *Tx) error {
		if err := t.q("facts_created").SelectContext(ctx, &d.New, from.UTC(), to.UTC()); err != nil {
			return err
		}
		if err := t.q("facts_waiting").SelectContext(ctx, &d.Waiting); err != nil {
			return err
		}
		if err := t.q("messages_unresolved").SelectContext(ctx, &d.Held, DispHeld); err != nil {
			return err
		}
		if err := t.q("messages_unresolved").SelectContext(ctx, &d.Quarantined, DispQuarantined); err != nil {
			return err
		}
		// A failure is repeated for a week, then it is only in
		// `refdesk outbox --failed`: a digest must be able to go quiet.
		return t.q("outbox_failed_since").SelectContext(ctx, &d.Failed, to.Add(-FailedReminder).UTC())
	})
	if err != nil {
		return nil, fmt.Errorf("store: digest data: %w", err)
	}
	return &d, nil
}

// PartnerHasReferrals reports whether a partner sent any referral (that
// counts) received before t.
func (s *Store) PartnerHasReferrals(ctx context.Context, partner string, before time.Time) (bool, error) {
	var ok bool
	if err := s.q("partner_has_referrals").GetContext(ctx, &ok, partner, before.UTC()); err != nil {
		return false, fmt.Errorf("store: referrals of %s: %w", partner, err)
	}
	return ok, nil
}

// OutByDedupe returns the outbox row with this dedupe key, or ErrNotFound.
func (s *Store) OutByDedupe(ctx context.Context, key string) (*OutMsg, error) {
	var o OutMsg
	err := s.q("outbox_by_dedupe").GetContext(ctx, &o, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: outbox %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: outbox %s: %w", key, err)
	}
	return &o, nil
}

// OutByDedupeFamily lists the outbox rows with this dedupe key or one that
// extends it (key + "/..."), oldest first.
func (s *Store) OutByDedupeFamily(ctx context.Context, key string) ([]OutMsg, error) {
	var out []OutMsg
	prefix := key + "/"
	if err := s.q("outbox_by_dedupe_family").SelectContext(ctx, &out, key, len(prefix), prefix); err != nil {
		return nil, fmt.Errorf("store: outbox %s: %w", key, err)
	}
	return out, nil
}

// EnqueueOnce puts a message in the outbox unless its DedupeKey is there
// already (then it reports false). The check and the insert are one
// IMMEDIATE transaction, and dedupe_key is UNIQUE, so two processes on one
// database never both add the same key.
func (s *Store) EnqueueOnce(ctx context.Context, o *OutMsg) (bool, error) {
	var added bool
	err := s.InTx(ctx, func(t *Tx) error {
		var err error
		added, err = t.Enqueue(o)
		return err
	})
	return added, err
}

// ForcedKey returns a dedupe key for sending key's message once more:
// key + "/force-N", N one more than the forced copies already made.
func (s *Store) ForcedKey(ctx context.Context, key string) (string, error) {
	var n int
	prefix := key + "/force-"
	if err := s.q("outbox_dedupe_count").GetContext(ctx, &n, len(prefix), prefix); err != nil {
		return "", fmt.Errorf("store: outbox %s: %w", key, err)
	}
	return key + "/force-" + strconv.Itoa(n+1), nil
}
