-- refdesk schema, version 2: attachments kept with the record (SPEC §4).
-- One row per part of an inbound message that is not body text (a CSV, a
-- PDF form, a forwarded message, an image), with its decoded bytes.
-- referral_id is set when the message made exactly one referral (or was a
-- follow-up to one); a batch file that made several leaves it NULL and
-- belongs to each of them through messages.
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER   NOT NULL REFERENCES messages (id),
    referral_id  INTEGER REFERENCES referrals (id),
    filename     TEXT      NOT NULL DEFAULT '',  -- as the sender named it; never used as a path
    content_type TEXT      NOT NULL DEFAULT '',
    size         INTEGER   NOT NULL DEFAULT 0,
    sha256       TEXT      NOT NULL,
    candidates   INTEGER   NOT NULL DEFAULT 0,   -- referrals read from it
    problem      TEXT      NOT NULL DEFAULT '',  -- why it could not be read
    data         BLOB,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_referral ON attachments (referral_id) WHERE referral_id IS NOT NULL;
