// Package parse turns the raw bytes of one email into facts about the message
// (sender, thread, machine-generated or not, authentication results) and zero
// or more referral candidates read from its body.
//
// It is pure: bytes in, values out. It never touches the network, the disk or
// the database, never logs, and imports no other refdesk package. Triage (what
// to do with a candidate) belongs to package ingest.
//
// The pieces, in the order Parse uses them: message.go reads the header
// leniently and the header facts; mime.go walks the MIME tree (choosing
// between alternatives) and holds the seam where attachment readers plug in;
// decode.go undoes transfer encodings and charsets; auto.go recognises
// auto-replies, bounces and list mail; html.go renders HTML bodies as text;
// quote.go strips quoted replies and signatures; labels.go reads
// "Label: value" lines using the one alias table in fields.go; normalize.go
// and privacy.go normalise values and mask SSNs and account numbers.
package parse
