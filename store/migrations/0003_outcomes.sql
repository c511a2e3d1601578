-- refdesk schema, migration 3: outcomes, and indexes for reports and stats.
-- (Numbers 2 and 4 are taken by other work; migrations apply in order of
-- number and schema_migrations records which ones a database has.)

-- Outcomes (SPEC §3): what an enrolled client achieved, recorded by a coach.
-- Money is integer cents; a credit score change is points; "other" is text.
-- date is the day it happened (YYYY-MM-DD, program time), created_at when
-- it was recorded. Each outcome also leaves an event of kind "outcome".
CREATE TABLE outcomes (
    id           INTEGER PRIMARY KEY,
    referral_id  INTEGER   NOT NULL REFERENCES referrals (id),
    kind         TEXT      NOT NULL,
    amount_cents INTEGER,             -- savings-increased, debt-reduced, tax-refund-saved
    points       INTEGER,             -- credit-score-improved
    text         TEXT      NOT NULL DEFAULT '',  -- other
    date         TEXT      NOT NULL,
    by           TEXT      NOT NULL,
    note         TEXT      NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX outcomes_referral ON outcomes (referral_id, date);
CREATE INDEX outcomes_date ON outcomes (date);

-- Reports look up what happened in a month, and when a referral first
-- reached a status.
CREATE INDEX events_at ON events (at);
CREATE INDEX events_to_status ON events (referral_id, to_status);

-- referral_facts: each referral that counts (never entered-in-error, SPEC
-- §3), with when it first reached acceptance, the waiting list and coaching,
-- and when its referrer first got a reply from us. Every report, digest and
-- statistic reads referrals through this view, so no count can include a
-- referral entered in error. Times from min() come back as text.
CREATE VIEW referral_facts AS
SELECT r.id, r.partner_id, r.message_id, r.decision, r.status, r.rule_id, r.service_id, r.reason, r.missing,
       r.client_name, r.name_key, r.client_phone, r.client_email, r.date_of_birth, r.partner_case_id,
       r.share_outcomes, r.received_at, r.created_at, r.first_contact_at, r.closed_at,
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id
           AND e.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged')) AS accepted_at,
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id AND e.to_status = 'waitlisted') AS waitlisted_at,
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id
           AND e.to_status IN ('enrolled', 'completed', 'disengaged')) AS enrolled_at,
       (SELECT min(o.sent_at) FROM outbox o WHERE o.inbound_id = r.message_id AND o.sent_at IS NOT NULL) AS replied_at
FROM referrals r
WHERE r.status <> 'entered-in-error';
