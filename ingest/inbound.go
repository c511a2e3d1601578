package ingest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"time"

	"refdesk/parse"
)

// Inbound is one message as fetched from the mailbox.
type Inbound struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Raw         []byte // the message; nil when spooled (see spool.go) or too large to fetch
	Header      []byte // only the header, for a message too large to fetch
	Size        int64  // RFC822.SIZE
	Received    time.Time

	oversize bool       // its literal went past max_message_size: only Header was kept
	spooled  *spoolFile // the message, when above spoolAbove
	sum      [32]byte   // its SHA-256: taken as it was spooled, else by Prepare
	prep     *prepared  // what Prepare worked out; nil until then
}

// fetched tells whether the message itself was fetched (held or spooled).
func (in *Inbound) fetched() bool { return in.Raw != nil || in.spooled != nil }

// body reads the message from the start.
func (in *Inbound) body() io.Reader {
	if in.spooled != nil {
		return in.spooled.reader()
	}
	return bytes.NewReader(in.Raw)
}

// release gives back the spool files of the message and its attachments,
// once its transaction is over (committed or not).
func (in *Inbound) release() {
	if in.spooled != nil {
		in.spooled.Close()
	}
	if in.prep != nil && in.prep.sinks != nil {
		in.prep.sinks.close()
	}
}

// prepared is the part of intake that needs no database: the hash, the
// parse and the DKIM verification. Prepare runs it outside the transaction,
// for many messages at once.
type prepared struct {
	msg   *parse.Message
	err   error        // the parse error: the message is quarantined
	ioErr error        // the spool failed: the message stays in the inbox (dropUnspooled)
	sinks *attachSinks // where parse put the attachments
	dkim  *DKIMReport
}

// Prepare hashes, parses and (with verify_dkim) verifies a fetched message:
// everything intake does that needs no database. It is safe to run on many
// messages at once; Process does it itself for a message not prepared.
func (p *Processor) Prepare(in *Inbound) {
	if in.prep != nil || !in.fetched() {
		return
	}
	p.parseInto(in)
	pr := in.prep
	if in.spooled == nil {
		in.sum = sha256.Sum256(in.Raw)
	}
	if pr.err == nil && pr.ioErr == nil && p.cfg.Intake.VerifyDKIM {
		// A spool file that cannot be read is intake's failure, not a
		// failed signature.
		src := &errRecorder{r: in.body()}
		pr.dkim = p.verifyDKIM(src)
		if pr.ioErr = src.failed(); pr.ioErr != nil {
			pr.msg, pr.dkim = nil, nil
		}
	}
}

// parseInto parses a fetched message into in.prep, its attachments into
// sinks: buffers for a message held in memory, the spool for a spooled one.
func (p *Processor) parseInto(in *Inbound) {
	pr := &prepared{sinks: &attachSinks{}}
	in.prep = pr
	if in.spooled != nil {
		pr.sinks.spool = p.spool
	}
	opt := p.opt
	opt.Attachment = pr.sinks.sink
	src := &errRecorder{r: in.body()}
	pr.msg, pr.err = safeParse(src, opt, p.cfg.Intake.ParseTimeout.Duration)
	var se *spoolError
	switch {
	case src.failed() != nil:
		pr.ioErr = src.failed()
	case errors.As(pr.err, &se):
		pr.ioErr = se
	}
	if pr.ioErr != nil {
		pr.msg, pr.err = nil, nil
	}
}
