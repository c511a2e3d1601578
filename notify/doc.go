// Package notify owns everything refdesk sends: rendering the embedded (or
// overridden) templates into text + HTML mail with the headers of SPEC §6,
// the outbox sender that delivers queued messages over one persistent SMTP
// connection with backoff, telling temporary failures from permanent ones,
// and the monthly partner reports and daily coach digest: their builders
// (store data in, a privacy-filtered snapshot out), and the Scheduler that
// queues them when they are due in the program's time zone.
//
// It reads and writes the store only through small interfaces it declares
// (Outbox for the sender, Queue for reports and digests), implemented by
// store. It writes nothing but outbox rows: a report or digest is queued
// with its snapshot under a dedupe key, so it goes out once and a retry
// sends the same content. It never logs addresses of clients or the content
// of a message: logs carry outbox references (O-12), dedupe keys and kinds.
// A partner report never names a client beyond initials and the partner's
// case ID, and lists only clients who agreed to share outcomes.
package notify
