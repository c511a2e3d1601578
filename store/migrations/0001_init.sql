-- refdesk schema, version 1.
-- Times are TIMESTAMP columns written as UTC by the driver; ids are integers;
-- every query binds its parameters.

-- Inbound messages: one row per fetched message, with its raw bytes (until
-- the retention policy removes them). (mailbox, uidvalidity, uid) makes
-- intake idempotent; sha256 dedupes across a UIDVALIDITY change.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT      NOT NULL,
    uidvalidity  INTEGER   NOT NULL,
    uid          INTEGER   NOT NULL,
    sha256       TEXT      NOT NULL,
    message_id   TEXT      NOT NULL DEFAULT '',
    from_addr    TEXT      NOT NULL DEFAULT '',
    subject      TEXT      NOT NULL DEFAULT '',
    size         INTEGER   NOT NULL DEFAULT 0,
    raw          BLOB,
    received_at  TIMESTAMP NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    disposition  TEXT      NOT NULL,  -- referral | follow-up | held | ignored | quarantined
    reason       TEXT      NOT NULL DEFAULT '',
    partner_id   TEXT      NOT NULL DEFAULT '',
    moved_to     TEXT      NOT NULL DEFAULT '',  -- folder it left the inbox for; '' while still there
    resolution   TEXT      NOT NULL DEFAULT '',  -- held/quarantined only: released | discarded
    resolved_at  TIMESTAMP,
    resolved_by  TEXT      NOT NULL DEFAULT '',
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX messages_sha256 ON messages (sha256);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_disposition ON messages (disposition, resolution);

-- Referrals: the record. The reference shown to people is 'R-' || id; ids
-- start at 1001.
CREATE TABLE referrals (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id       TEXT      NOT NULL,
    message_id       INTEGER   NOT NULL REFERENCES messages (id),
    source           TEXT      NOT NULL DEFAULT 'body',
    decision         TEXT      NOT NULL,  -- what triage decided
    status           TEXT      NOT NULL,  -- where it is now
    rule_id          TEXT      NOT NULL DEFAULT '',
    service_id       TEXT      NOT NULL DEFAULT '',
    reason           TEXT      NOT NULL DEFAULT '',
    missing          TEXT      NOT NULL DEFAULT '[]',  -- JSON array of field names
    client_name      TEXT      NOT NULL DEFAULT '',
    name_key         TEXT      NOT NULL DEFAULT '',
    client_phone     TEXT      NOT NULL DEFAULT '',
    client_email     TEXT      NOT NULL DEFAULT '',
    date_of_birth    TEXT      NOT NULL DEFAULT '',
    partner_case_id  TEXT      NOT NULL DEFAULT '',
    share_outcomes   INTEGER   NOT NULL DEFAULT 0,
    referrer_addr    TEXT      NOT NULL DEFAULT '',
    fields           TEXT      NOT NULL DEFAULT '{}',  -- JSON: canonical field -> value
    extra            TEXT      NOT NULL DEFAULT '{}',  -- JSON: unknown label -> value
    notes            TEXT      NOT NULL DEFAULT '[]',  -- JSON: remarks from parsing
    received_at      TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    first_contact_at TIMESTAMP,
    closed_at        TIMESTAMP
);
INSERT INTO sqlite_sequence (name, seq) VALUES ('referrals', 1000);
CREATE INDEX referrals_received ON referrals (received_at);
CREATE INDEX referrals_status ON referrals (status);
CREATE INDEX referrals_partner ON referrals (partner_id, received_at);
CREATE INDEX referrals_phone ON referrals (client_phone) WHERE client_phone <> '';
CREATE INDEX referrals_email ON referrals (client_email) WHERE client_email <> '';
CREATE INDEX referrals_name_dob ON referrals (name_key, date_of_birth) WHERE name_key <> '';
CREATE INDEX referrals_message ON referrals (message_id);

-- Events: the history of a referral. Every status change says who, when,
-- from, to and why.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    referral_id INTEGER   NOT NULL REFERENCES referrals (id),
    at          TIMESTAMP NOT NULL,
    by          TEXT      NOT NULL,
    kind        TEXT      NOT NULL,  -- created | status | note | contact | follow-up | duplicate | outcome
    from_status TEXT      NOT NULL DEFAULT '',
    to_status   TEXT      NOT NULL DEFAULT '',
    note        TEXT      NOT NULL DEFAULT '',
    forced      INTEGER   NOT NULL DEFAULT 0,
    message_id  INTEGER REFERENCES messages (id)
);
CREATE INDEX events_referral ON events (referral_id, at);

-- The outbox: every message refdesk sends, written in the same transaction
-- as the record it is about. Rendering happens at send time from kind+data;
-- the Message-ID is fixed before the first attempt.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT      NOT NULL,
    message_id      TEXT      NOT NULL UNIQUE,
    dedupe_key      TEXT UNIQUE,            -- e.g. report/partner/2026-10; NULL for replies
    inbound_id      INTEGER REFERENCES messages (id),
    referral_id     INTEGER REFERENCES referrals (id),
    partner_id      TEXT      NOT NULL DEFAULT '',
    to_addr         TEXT      NOT NULL,
    in_reply_to     TEXT      NOT NULL DEFAULT '',
    refs            TEXT      NOT NULL DEFAULT '',  -- References, space-joined, no brackets
    subject         TEXT      NOT NULL DEFAULT '',  -- the subject being answered
    data            TEXT      NOT NULL DEFAULT '{}',
    status          TEXT      NOT NULL,  -- pending | sent | failed | bounced | suppressed
    attempts        INTEGER   NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP,
    last_error      TEXT      NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_to ON outbox (to_addr, created_at);
CREATE INDEX outbox_inbound ON outbox (inbound_id);
CREATE INDEX outbox_referral ON outbox (referral_id);
