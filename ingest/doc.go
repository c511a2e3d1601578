// Package ingest owns intake: the IMAP session (IDLE or polling, fetch by
// UID with BODY.PEEK[], move after commit) and the pipeline that takes one
// raw message through parse, triage and store in one transaction.
//
// Intake is a pipeline (pipeline.go) of three stages side by side: one
// fetches a chunk (imap.batch_size UIDs), the next prepares it (hash, parse,
// DKIM verification) on every core, the last stores it in one transaction,
// asking the database what triage needs once for the whole chunk (chunk.go)
// and answering from memory that the chunk's own writes keep right. A
// message is moved out of the inbox only after its transaction committed;
// committed messages gather into moves of a thousand (mover.go), a UID set
// longer than 4,000 bytes written out split over several commands.
// Messages over max_message_size are decided from RFC822.SIZE and their
// header alone. A message over 1 MB is never held in memory whole
// (spool.go): its literal goes into a spool file as it is fetched, parse
// reads it from there and puts its attachments in another, and the
// transaction copies both into the database a chunk at a time; spool files
// are 0600 and unlinked as they are made.
//
// Triage (SPEC §5) lives here: Triager decides what each referral candidate
// is from the config's partners, services and rules, asking the database only
// through the small Lookups interface, so `refdesk parse` can run it with no
// database at all.
//
// ingest never sends mail (it queues replies in the outbox; package notify
// sends them), never marks a message \Seen or deleted before its transaction
// commits, never issues a plain EXPUNGE, and never logs personal data: logs
// carry UIDs, message references (M-12) and referral references (R-1042).
package ingest
