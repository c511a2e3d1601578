-- refdesk schema, version 2: the per-sender reply cap counts replies to one
-- address since a time, of some kinds; with kind in the index the count
-- reads no table rows.
DROP INDEX outbox_to;
CREATE INDEX outbox_to ON outbox (to_addr, created_at, kind);
