-- Named queries, prepared when the store opens. Each starts with
-- "-- name: x". Queries whose IN lists vary in length are built in Go with
-- sqlx.In (still bound parameters). The inserts of intake's hot path are
-- executed, not queried: their id is the last insert rowid, which costs a
-- third of a RETURNING row through database/sql.

-- name: message_insert
INSERT INTO messages (mailbox, uidvalidity, uid, sha256, message_id, from_addr, subject, size,
                      received_at, processed_at, disposition, reason, partner_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- The raw message and attachment bytes, chunk by chunk (blobs.go).
-- name: raw_insert
INSERT INTO message_raw (message_id, seq, data) VALUES (?, ?, ?);

-- name: raw_chunks
SELECT data FROM message_raw WHERE message_id = ? ORDER BY seq;

-- name: attachment_data_insert
INSERT INTO attachment_data (attachment_id, seq, data) VALUES (?, ?, ?);

-- name: attachment_chunks
SELECT data FROM attachment_data WHERE attachment_id = ? ORDER BY seq;

-- name: attachment_set_sum
UPDATE attachments SET size = ?, sha256 = ? WHERE id = ?;

-- name: message_by_sha
SELECT id, disposition FROM messages WHERE sha256 = ? ORDER BY id LIMIT 1;

-- name: message_get
SELECT * FROM messages WHERE id = ?;

-- name: message_set_disposition
UPDATE messages SET disposition = ?, reason = ?, partner_id = ?, processed_at = ? WHERE id = ?;

-- name: message_resolve
UPDATE messages SET resolution = ?, resolved_at = ?, resolved_by = ?
WHERE id = ? AND resolution = '' AND disposition IN ('held', 'quarantined');

-- name: messages_unresolved
SELECT id, mailbox, uidvalidity, uid, sha256, message_id, from_addr, subject, size, received_at,
       processed_at, disposition, reason, partner_id, moved_to, resolution, resolved_at, resolved_by
FROM messages WHERE disposition = ? AND resolution = '' ORDER BY id;

-- name: messages_for_referral
SELECT id, mailbox, uidvalidity, uid, sha256, message_id, from_addr, subject, size, received_at,
       processed_at, disposition, reason, partner_id, moved_to, resolution, resolved_at, resolved_by
FROM messages
WHERE id = (SELECT message_id FROM referrals WHERE referrals.id = ?)
   OR id IN (SELECT message_id FROM events WHERE referral_id = ? AND message_id IS NOT NULL)
ORDER BY id;

-- name: referral_insert
INSERT INTO referrals (partner_id, message_id, source, decision, status, created_status, rule_id, service_id, reason,
                       missing, client_name, name_key, client_phone, client_email, date_of_birth, partner_case_id,
                       share_outcomes, referrer_addr, fields, extra, notes, received_at, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?22);

-- name: referral_get
SELECT * FROM referrals WHERE id = ?;

-- name: referral_update
UPDATE referrals
SET decision = ?, status = ?, rule_id = ?, service_id = ?, reason = ?, missing = ?,
    client_name = ?, name_key = ?, client_phone = ?, client_email = ?, date_of_birth = ?,
    partner_case_id = ?, share_outcomes = ?, fields = ?, extra = ?, notes = ?, updated_at = ?,
    first_contact_at = ?, closed_at = ?
WHERE id = ?;

-- The duplicate check (SPEC §5 rule 7): three index lookups in one query,
-- each on its own partial index (the "<> ''" lets SQLite use it); ORs of
-- parameters in one WHERE would scan the whole table for every message.
-- name: referral_open_duplicate
SELECT min(id) FROM (
  SELECT id FROM referrals WHERE client_phone = ?1 AND client_phone <> ''
    AND status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled')
  UNION ALL
  SELECT id FROM referrals WHERE client_email = ?2 AND client_email <> ''
    AND status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled')
  UNION ALL
  SELECT id FROM referrals WHERE name_key = ?3 AND name_key <> '' AND date_of_birth = ?4 AND date_of_birth <> ''
    AND status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled'));

-- name: caseload_count
SELECT count(*) FROM referrals WHERE status IN ('accepted', 'scheduled', 'no-show', 'enrolled');

-- Counts at most ?3 rows: the cap only needs to know whether it is reached.
-- name: replies_since
SELECT count(*) FROM (SELECT 1 FROM outbox
WHERE to_addr = ?1 AND created_at >= ?2
  AND kind IN ('accepted', 'redirected', 'needs-info', 'duplicate', 'waitlisted', 'unknown-sender', 'batch', 'too-large')
LIMIT ?3);

-- name: event_insert
INSERT INTO events (referral_id, at, by, kind, from_status, to_status, note, forced, message_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: events_for
SELECT * FROM events WHERE referral_id = ? ORDER BY at, id;

-- name: outbox_insert
INSERT INTO outbox (kind, message_id, dedupe_key, inbound_id, referral_id, partner_id, to_addr, in_reply_to,
                    refs, subject, data, status, next_attempt_at, last_error, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: outbox_claim
UPDATE outbox SET lease_until = ?
WHERE id IN (SELECT id FROM outbox
             WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
             ORDER BY next_attempt_at, id LIMIT ?)
RETURNING *;

-- name: outbox_next_due
SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending';

-- name: outbox_sent
UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = ''
WHERE id = ?;

-- name: outbox_later
UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, lease_until = NULL
WHERE id = ?;

-- name: outbox_failed
UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, lease_until = NULL
WHERE id = ?;

-- name: outbox_requeue
UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_until = NULL
WHERE id = ? AND status IN ('failed', 'bounced', 'suppressed');

-- name: outbox_get
SELECT * FROM outbox WHERE id = ?;

-- name: outbox_for_referral
SELECT * FROM outbox
WHERE referral_id = ?
   OR inbound_id IN (SELECT message_id FROM referrals WHERE id = ?
                     UNION SELECT message_id FROM events WHERE referral_id = ? AND message_id IS NOT NULL)
ORDER BY id;

-- name: attachment_insert
INSERT INTO attachments (message_id, referral_id, filename, content_type, size, sha256, candidates, problem, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: attachments_for_referral
SELECT id, message_id, referral_id, filename, content_type, size, sha256, candidates, problem, created_at
FROM attachments
WHERE referral_id = ?
   OR (referral_id IS NULL AND message_id = (SELECT message_id FROM referrals WHERE id = ?))
ORDER BY id;

-- name: outbox_failed_since
-- Outbound mail that failed permanently or bounced, queued at or after a
-- time: what the daily digest reminds coaches of.
SELECT * FROM outbox WHERE status IN ('failed', 'bounced') AND created_at >= ? ORDER BY id;

-- Intake's lookups for a whole chunk of messages (batch.go). Each list of
-- keys is one parameter, a JSON array read with json_each, so that each
-- query is prepared once, whatever the chunk's size.
-- name: messages_by_sha
SELECT id, sha256, disposition FROM messages WHERE sha256 IN (SELECT value FROM json_each(?)) ORDER BY id;

-- "+r.status": the status is checked on the rows found, never used to find
-- them (its index would read every open referral); "<> ''" lets SQLite use
-- the column's partial index.
-- name: open_clients_by_phone
SELECT r.id, r.status, r.client_phone, r.client_email, r.name_key, r.date_of_birth FROM referrals r
WHERE r.client_phone IN (SELECT value FROM json_each(?)) AND r.client_phone <> ''
  AND +r.status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled');

-- name: open_clients_by_email
SELECT r.id, r.status, r.client_phone, r.client_email, r.name_key, r.date_of_birth FROM referrals r
WHERE r.client_email IN (SELECT value FROM json_each(?)) AND r.client_email <> ''
  AND +r.status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled');

-- The parameter is an array of [name key, date of birth] pairs: each pair
-- one lookup in the (name_key, date_of_birth) index.
-- name: open_clients_by_name
SELECT r.id, r.status, r.client_phone, r.client_email, r.name_key, r.date_of_birth
FROM json_each(?) AS v
JOIN referrals r ON r.name_key = v.value ->> 0 AND r.date_of_birth = v.value ->> 1
WHERE r.name_key <> '' AND r.date_of_birth <> ''
  AND +r.status IN ('needs-info', 'accepted', 'waitlisted', 'scheduled', 'no-show', 'enrolled');

-- name: reply_counts
SELECT to_addr, count(*) AS n FROM outbox
WHERE to_addr IN (SELECT value FROM json_each(?1)) AND created_at >= ?2
  AND kind IN ('accepted', 'redirected', 'needs-info', 'duplicate', 'waitlisted', 'unknown-sender', 'batch', 'too-large')
GROUP BY to_addr;

-- name: reply_times
SELECT to_addr, created_at FROM outbox
WHERE to_addr IN (SELECT value FROM json_each(?1)) AND created_at >= ?2 AND created_at < ?3
  AND kind IN ('accepted', 'redirected', 'needs-info', 'duplicate', 'waitlisted', 'unknown-sender', 'batch', 'too-large');

-- name: seen_uids
SELECT id, uid, disposition, moved_to FROM messages
WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid IN (SELECT value FROM json_each(?3));

-- name: set_moved
UPDATE messages SET moved_to = ?1 WHERE id IN (SELECT value FROM json_each(?2));

-- name: events_of
SELECT * FROM events WHERE referral_id IN (SELECT value FROM json_each(?)) ORDER BY referral_id, at, id;
