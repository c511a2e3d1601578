-- refdesk schema, migration 5: the bytes of raw messages and attachments in
-- tables of their own, in chunks of at most 256 KB (store/blobs.go), written
-- in the intake transaction like the rows they belong to. A row that
-- intake rewrites later (messages.moved_to) no longer carries the message,
-- and a large message or file is written and read a chunk at a time:
-- SQLite copies every bound value, so one 25 MB value would be 25 MB more
-- memory at once.

-- message_raw: the message as fetched (BODY.PEEK[]), chunk seq 0, 1, ...;
-- a message without rows has no stored copy (too large to fetch, a copy of
-- one stored before, or its bytes removed by the retention policy).
CREATE TABLE message_raw (
    message_id INTEGER NOT NULL REFERENCES messages (id),
    seq        INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (message_id, seq)
);

-- attachment_data: an attachment's decoded bytes, the same way.
CREATE TABLE attachment_data (
    attachment_id INTEGER NOT NULL REFERENCES attachments (id),
    seq           INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);

-- What is stored moves over, cut into chunks of 262144 bytes (an empty
-- value is one empty chunk: substr gives NULL for it). Each value's length
-- is taken once, not again for every chunk.
INSERT INTO message_raw (message_id, seq, data)
WITH RECURSIVE part (id, seq, n) AS (
    SELECT id, 0, length(CAST(raw AS BLOB)) FROM messages WHERE raw IS NOT NULL
    UNION ALL
    SELECT id, seq + 1, n FROM part WHERE (seq + 1) * 262144 < n
)
SELECT part.id, part.seq, coalesce(substr(CAST(m.raw AS BLOB), part.seq * 262144 + 1, 262144), X'')
FROM part JOIN messages m ON m.id = part.id
ORDER BY part.id, part.seq;

INSERT INTO attachment_data (attachment_id, seq, data)
WITH RECURSIVE part (id, seq, n) AS (
    SELECT id, 0, length(CAST(data AS BLOB)) FROM attachments WHERE data IS NOT NULL
    UNION ALL
    SELECT id, seq + 1, n FROM part WHERE (seq + 1) * 262144 < n
)
SELECT part.id, part.seq, coalesce(substr(CAST(a.data AS BLOB), part.seq * 262144 + 1, 262144), X'')
FROM part JOIN attachments a ON a.id = part.id
ORDER BY part.id, part.seq;

ALTER TABLE messages DROP COLUMN raw;
ALTER TABLE attachments DROP COLUMN data;
