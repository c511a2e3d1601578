-- Named queries for outcomes, partner reports, the coach digest and stats.
-- Referrals are read through the referral_facts view (migration 3), which
-- leaves out every referral entered in error. Outcome dates are YYYY-MM-DD
-- in program time and compare as text.

-- name: outcome_insert
INSERT INTO outcomes (referral_id, kind, amount_cents, points, text, date, by, note, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id;

-- name: outcomes_for
SELECT * FROM outcomes WHERE referral_id = ? ORDER BY date, id;

-- name: facts_partner
-- A partner's referrals received before the end of the month and: in the
-- month, or still open, or with a status change or outcome in the month.
SELECT * FROM referral_facts
WHERE partner_id = ? AND received_at < ?
  AND (received_at >= ?
    OR status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled')
    OR id IN (SELECT referral_id FROM events WHERE at >= ? AND at < ?)
    OR id IN (SELECT referral_id FROM outcomes WHERE date >= ? AND date < ?))
ORDER BY received_at, id;

-- name: funnel_partner
-- The funnel of a partner's referrals received in [?, ?), counted in the
-- database (store.CountFunnel counts the same in Go).
SELECT count(*) AS received,
       coalesce(sum(accepted_at IS NOT NULL), 0) AS accepted,
       coalesce(sum(accepted_at IS NULL AND waitlisted_at IS NOT NULL), 0) AS waitlisted,
       coalesce(sum(status IN ('enrolled', 'completed', 'disengaged')), 0) AS enrolled,
       coalesce(sum(status = 'redirected'), 0) AS redirected,
       coalesce(sum(status = 'needs-info'), 0) AS needs_info
FROM referral_facts
WHERE partner_id = ? AND received_at >= ? AND received_at < ?;

-- name: funnel_by_partner
SELECT partner_id,
       count(*) AS received,
       coalesce(sum(accepted_at IS NOT NULL), 0) AS accepted,
       coalesce(sum(accepted_at IS NULL AND waitlisted_at IS NOT NULL), 0) AS waitlisted,
       coalesce(sum(status IN ('enrolled', 'completed', 'disengaged')), 0) AS enrolled,
       coalesce(sum(status = 'redirected'), 0) AS redirected,
       coalesce(sum(status = 'needs-info'), 0) AS needs_info
FROM referral_facts
WHERE received_at >= ? AND received_at < ?
GROUP BY partner_id
ORDER BY partner_id;

-- name: timings_period
-- What the median reply and first-contact times are made of.
SELECT id, message_id, received_at, first_contact_at, accepted_at, replied_at
FROM referral_facts
WHERE received_at >= ? AND received_at < ?;

-- name: facts_coaching
-- Every referral whose client is or was in coaching: the grant target and
-- the outcome denominators (with what tells one client from another).
SELECT id, partner_id, status, name_key, client_phone, client_email, date_of_birth, received_at, closed_at, enrolled_at
FROM referral_facts
WHERE status IN ('enrolled', 'completed', 'disengaged');

-- name: outcomes_count_partner
SELECT count(*) FROM outcomes o JOIN referrals r ON r.id = o.referral_id
WHERE r.partner_id = ? AND r.status <> 'entered-in-error' AND o.date >= ? AND o.date < ?;

-- name: facts_created
SELECT * FROM referral_facts WHERE created_at >= ? AND created_at < ? ORDER BY id;

-- name: facts_waiting
-- Referrals waiting on us or on the referrer: accepted with no contact yet,
-- and needs-info.
SELECT * FROM referral_facts
WHERE (status = 'accepted' AND first_contact_at IS NULL) OR status = 'needs-info'
ORDER BY received_at, id;

-- name: status_changes_partner
SELECT e.referral_id, e.at, e.from_status, e.to_status
FROM events e JOIN referrals r ON r.id = e.referral_id
WHERE r.partner_id = ? AND r.status <> 'entered-in-error' AND e.kind = 'status' AND e.at >= ? AND e.at < ?
ORDER BY e.at, e.id;

-- name: outcomes_partner
SELECT o.* FROM outcomes o JOIN referrals r ON r.id = o.referral_id
WHERE r.partner_id = ? AND r.status <> 'entered-in-error' AND o.date >= ? AND o.date < ?
ORDER BY o.date, o.id;

-- name: outcomes_period
SELECT o.* FROM outcomes o JOIN referrals r ON r.id = o.referral_id
WHERE r.status <> 'entered-in-error' AND o.date >= ? AND o.date < ?
ORDER BY o.date, o.id;

-- name: partner_has_referrals
SELECT EXISTS (SELECT 1 FROM referrals WHERE partner_id = ? AND received_at < ? AND status <> 'entered-in-error');

-- name: outbox_by_dedupe
SELECT * FROM outbox WHERE dedupe_key = ?;

-- name: outbox_dedupe_count
-- Rows whose dedupe key starts with a prefix ("report/p/2026-10/").
SELECT count(*) FROM outbox WHERE substr(dedupe_key, 1, ?) = ?;

-- name: outcomes_all
SELECT * FROM outcomes ORDER BY referral_id, date, id;

-- name: outbox_by_dedupe_family
-- The row with a dedupe key and its copies (key + "/...": forced, partial).
SELECT * FROM outbox WHERE dedupe_key = ? OR substr(dedupe_key, 1, ?) = ? ORDER BY id;
