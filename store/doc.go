// Package store owns refdesk's database: the schema and its numbered
// migrations, the record types (Message, Referral, Event, OutMsg, Outcome),
// the referral status machine, and every query — including the numbers the
// partner reports, the coach digest and `refdesk stats` are made from, read
// through the referral_facts view so that no count ever includes a referral
// entered in error.
//
// Intake writes the raw message, the referral, its event and the reply to
// send in one transaction (Store.InTx), so that a crash never leaves a
// record without its reply or a reply without its record. The outbox rows are
// claimed with a lease, so two processes on one database never send the same
// row at once. Intake's lookups also come for a whole chunk of messages at
// once (batch.go), and WAL checkpoints run on a goroutine of their own
// beside the writer. The bytes of raw messages and attachments live in
// tables of their own, in chunks of 256 KB written and read through
// io.Reader and io.Writer (blobs.go), so neither a large message nor a
// large file is ever one value in memory.
//
// store never imports ingest or notify, never logs personal data, and only
// runs SQL with bound parameters. The SQLite file and its WAL are created 0600.
package store
