-- refdesk schema, migration 3: outcomes, and indexes for reports and stats.

-- Outcomes (SPEC §3): what an enrolled client achieved, recorded by a coach.
-- Money is integer cents; a credit score change is points; "other" is text.
-- date is the day it happened (YYYY-MM-DD, program time), created_at when
-- it was recorded. Each outcome also leaves an event of kind "outcome".
CREATE TABLE outcomes (
    id           INTEGER PRIMARY KEY,
    referral_id  INTEGER   NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
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

-- Reports look up what happened in a month.
CREATE INDEX events_at ON events (at);

-- When a referral first reached acceptance (accepted, or scheduled straight
-- from the waiting list), the waiting list and coaching (enrolled, or
-- completed/disengaged without that step), and when its referrer first got
-- a reply to the email that brought it. Triggers keep them, so every code
-- path that writes an event or sends a reply keeps them right, and reports
-- read four columns instead of searching the history. A table of its own,
-- so the referrals table (and SELECT * of it) keeps its shape.
CREATE TABLE referral_times (
    referral_id   INTEGER PRIMARY KEY REFERENCES referrals (id) ON DELETE CASCADE,
    accepted_at   TIMESTAMP,
    waitlisted_at TIMESTAMP,
    enrolled_at   TIMESTAMP,
    replied_at    TIMESTAMP
);
INSERT INTO referral_times (referral_id, accepted_at, waitlisted_at, enrolled_at, replied_at)
SELECT r.id,
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id
           AND e.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged')),
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id AND e.to_status = 'waitlisted'),
       (SELECT min(e.at) FROM events e WHERE e.referral_id = r.id AND e.to_status IN ('enrolled', 'completed', 'disengaged')),
       (SELECT min(o.sent_at) FROM outbox o WHERE o.inbound_id = r.message_id AND o.sent_at IS NOT NULL)
FROM referrals r;

CREATE TRIGGER events_first_times AFTER INSERT ON events
WHEN NEW.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged', 'waitlisted')
BEGIN
    INSERT OR IGNORE INTO referral_times (referral_id) VALUES (NEW.referral_id);
    UPDATE referral_times SET
        accepted_at = CASE WHEN NEW.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged')
                            AND (accepted_at IS NULL OR NEW.at < accepted_at) THEN NEW.at ELSE accepted_at END,
        waitlisted_at = CASE WHEN NEW.to_status = 'waitlisted'
                            AND (waitlisted_at IS NULL OR NEW.at < waitlisted_at) THEN NEW.at ELSE waitlisted_at END,
        enrolled_at = CASE WHEN NEW.to_status IN ('enrolled', 'completed', 'disengaged')
                            AND (enrolled_at IS NULL OR NEW.at < enrolled_at) THEN NEW.at ELSE enrolled_at END
    WHERE referral_id = NEW.referral_id;
END;

CREATE TRIGGER outbox_first_reply AFTER UPDATE OF sent_at ON outbox
WHEN NEW.sent_at IS NOT NULL AND NEW.inbound_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO referral_times (referral_id) SELECT id FROM referrals WHERE message_id = NEW.inbound_id;
    UPDATE referral_times SET replied_at = NEW.sent_at
    WHERE referral_id IN (SELECT id FROM referrals WHERE message_id = NEW.inbound_id)
      AND (replied_at IS NULL OR NEW.sent_at < replied_at);
END;
CREATE TRIGGER outbox_first_reply_insert AFTER INSERT ON outbox
WHEN NEW.sent_at IS NOT NULL AND NEW.inbound_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO referral_times (referral_id) SELECT id FROM referrals WHERE message_id = NEW.inbound_id;
    UPDATE referral_times SET replied_at = NEW.sent_at
    WHERE referral_id IN (SELECT id FROM referrals WHERE message_id = NEW.inbound_id)
      AND (replied_at IS NULL OR NEW.sent_at < replied_at);
END;

-- referral_facts: each referral that counts (never entered-in-error, SPEC
-- §3), with those times. Every report, digest and statistic reads
-- referrals through this view, so no count can include a referral entered
-- in error.
CREATE VIEW referral_facts AS
SELECT r.id, r.partner_id, r.message_id, r.decision, r.status, r.rule_id, r.service_id, r.reason, r.missing,
       r.client_name, r.name_key, r.client_phone, r.client_email, r.date_of_birth, r.partner_case_id,
       r.share_outcomes, r.received_at, r.created_at, r.first_contact_at, r.closed_at,
       t.accepted_at, t.waitlisted_at, t.enrolled_at, t.replied_at
FROM referrals r LEFT JOIN referral_times t ON t.referral_id = r.id
WHERE r.status <> 'entered-in-error';
