-- refdesk schema, migration 6: the first times of a referral created
-- accepted or waitlisted come from its own row. Intake creates nearly every
-- referral in one of those statuses, and the events trigger of migration 3
-- wrote a referral_times row for each, a third table row per message taken
-- in (about 15 µs of the intake transaction's time, BENCHMARKS.md step 24).
-- Now a referral keeps the status it was created in, and the 'created' event
-- (written with the referral's created_at) no longer touches
-- referral_times; later events do, as before. Referrals created before this
-- migration have created_status '' and keep their times in referral_times.

ALTER TABLE referrals ADD COLUMN created_status TEXT NOT NULL DEFAULT '';

-- A refdesk from before this migration may still be running when a newer
-- one (any command) migrates the database: its inserts leave created_status
-- out, and its 'created' events no longer reach referral_times. Such a
-- referral takes its status as the status it was created in.
CREATE TRIGGER referrals_created_status AFTER INSERT ON referrals
WHEN NEW.created_status = ''
BEGIN
    UPDATE referrals SET created_status = NEW.status WHERE id = NEW.id;
END;

DROP TRIGGER events_first_times;
CREATE TRIGGER events_first_times AFTER INSERT ON events
WHEN NEW.kind <> 'created'
 AND NEW.to_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged', 'waitlisted')
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

-- A referral's history starts with its creation, so a time it had at
-- creation is its first: with a clock that does not go back, it comes
-- before any in referral_times.
DROP VIEW referral_facts;
CREATE VIEW referral_facts AS
SELECT r.id, r.partner_id, r.message_id, r.decision, r.status, r.rule_id, r.service_id, r.reason, r.missing,
       r.client_name, r.name_key, r.client_phone, r.client_email, r.date_of_birth, r.partner_case_id,
       r.share_outcomes, r.received_at, r.created_at, r.first_contact_at, r.closed_at,
       coalesce(CASE WHEN r.created_status IN ('accepted', 'scheduled', 'no-show', 'enrolled', 'completed', 'disengaged')
                     THEN r.created_at END, t.accepted_at) AS accepted_at,
       coalesce(CASE WHEN r.created_status = 'waitlisted' THEN r.created_at END, t.waitlisted_at) AS waitlisted_at,
       coalesce(CASE WHEN r.created_status IN ('enrolled', 'completed', 'disengaged')
                     THEN r.created_at END, t.enrolled_at) AS enrolled_at,
       t.replied_at
FROM referrals r LEFT JOIN referral_times t ON t.referral_id = r.id
WHERE r.status <> 'entered-in-error';
