// Package ingest owns intake: the IMAP session (IDLE or polling, fetch by
// UID with BODY.PEEK[], move after commit) and the pipeline that takes one
// raw message through parse, triage and store in one transaction.
//
// Intake is a pipeline (pipeline.go): a producer fetches and prepares (hash,
// parse, DKIM verification) the next chunk on every core while the current
// one is stored in one transaction; a chunk is moved out of the inbox only
// after its transaction committed. Messages over max_message_size are
// decided from RFC822.SIZE and their header alone.
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
