// Package parse turns the raw bytes of one email into facts about the message
// (sender, thread, machine-generated or not, authentication results) and zero
// or more referral candidates read from its body and attachments.
//
// It is pure: bytes in, values out. It never touches the network, the disk or
// the database (pdfcpu's configuration directory is switched off in pdf.go,
// excelize reads in memory), never logs, and imports no other refdesk package. Triage (what
// to do with a candidate) belongs to package ingest. It reads only what the
// caller hands it: the message's io.Reader, and the attachment sinks of
// Options.Attachment, into which it writes each attachment's bytes as it
// decodes them (stream.go): a large photo passes through and is never held.
//
// The pieces, in the order Parse uses them: message.go reads the header
// leniently and the header facts; mime.go walks the MIME tree (choosing
// between alternatives) and hands every part that is not body text to
// attach.go, which streams its bytes to the sink, picks a reader (table.go: CSV and XLSX;
// forms.go: JSON, DOCX, vCard; pdf.go: AcroForm fields and page text) within
// the size, count, zip and time limits of Options, and merges the body's
// candidate with the attachments' (merge); decode.go undoes transfer encodings and charsets; auto.go recognises
// auto-replies, bounces and list mail; html.go renders HTML bodies as text;
// quote.go strips quoted replies and signatures; labels.go reads
// "Label: value" lines using the one alias table in fields.go; normalize.go
// and privacy.go normalise values and mask SSNs and account numbers.
package parse
