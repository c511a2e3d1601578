package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Reading attachments (SPEC §4): every part that is not body text passes
// through walker.attachment, which hands its bytes to the caller's sink,
// picks a reader by media type, file name and first bytes, and turns what it reads into candidates with
// the one alias table. A file that cannot be read is a note, not a failure;
// going over a limit is a *LimitError (see walker.overLimit).

const (
	defaultMaxAttachments     = 20
	defaultMaxAttachmentBytes = 10 << 20
	defaultMaxUnzippedBytes   = 50 << 20
	maxCandidates             = 500  // referrals in one message
	maxTableRows              = 5000 // rows read from one CSV or sheet
)

// Reader kinds.
const (
	kindCSV         = "csv"
	kindXLSX        = "xlsx"
	kindPDF         = "pdf"
	kindDOCX        = "docx"
	kindJSON        = "json"
	kindVCard       = "vcard"
	kindText        = "text"
	kindHTML        = "html"
	kindMessage     = "message"
	kindUnsupported = "unsupported" // a document format refdesk cannot read
	kindOther       = ""            // images, signatures, calendars: kept, not read
	kindZip         = "zip"         // a zip archive, XLSX or DOCX or neither (zipKind)
)

// attachment reads one part that is not body text. It is the seam where
// the readers plug in; reads stay within the Options limits. The part is
// decoded as it is read (stream.go): every byte goes to the caller's sink,
// and only a file a reader needs is kept, and then only where the sink
// cannot give it back.
func (w *walker) attachment(a attachmentPart, depth int) ([]Candidate, error) {
	if err := w.checkDeadline(); err != nil {
		return nil, err
	}
	w.nattach++
	if w.nattach > w.opt.MaxAttachments {
		w.overLimit(fmt.Sprintf("more than %d attachments", w.opt.MaxAttachments))
		return nil, nil
	}
	name := displayName(a.Filename)
	got, err := w.stream(a)
	if err != nil {
		return nil, err
	}
	if got.cut != nil {
		w.problem("attachment %s was cut short: %s", name, shortErr(got.cut))
	}
	if got.over {
		w.overLimit(fmt.Sprintf("attachment %s is larger than %d bytes", name, w.opt.MaxAttachmentBytes))
		return nil, nil
	}
	att := Attachment{Filename: a.Filename, ContentType: a.MediaType, Size: got.size, Sink: got.sink}
	kind := got.kind
	if kind == kindZip {
		kind = zipKind(got.content, got.size)
	}
	cands, problem, err := w.readSafely(kind, a, got, depth)
	if err != nil {
		return nil, err
	}
	if w.opt.Attachment == nil && got.content != nil {
		if att.Data, err = got.bytes(); err != nil {
			return nil, err
		}
	}
	var kept []Candidate
	for _, c := range cands {
		if len(c.Fields) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(c.Source, "attachment "):
			// from a file inside a forwarded message: named already
		case c.Source == "body":
			c.Source = "attachment " + name // read by the label parser
		default:
			c.Source = strings.TrimSpace("attachment " + name + c.Source)
		}
		kept = append(kept, c)
	}
	att.Candidates, att.Problem = len(kept), problem
	if problem != "" {
		w.problem("attachment %s not readable: %s", name, problem)
		w.notes = append(w.notes, fmt.Sprintf("Attachment %s not readable: %s.", name, problem))
	}
	w.msg.Attachments = append(w.msg.Attachments, att)
	if len(w.found)+len(kept) > maxCandidates {
		return nil, &LimitError{Reason: fmt.Sprintf("more than %d referrals in one message", maxCandidates)}
	}
	return kept, nil
}

// readSafely runs the reader for kind on the attachment's bytes. A reader
// that panics (a library bug on a hostile file) makes the file unreadable,
// not the message. A PDF is read through the sink when the sink can give
// the bytes back: pdfcpu seeks in it rather than holding it.
func (w *walker) readSafely(kind string, a attachmentPart, got *streamed, depth int) (cands []Candidate, problem string, err error) {
	defer func() {
		if r := recover(); r != nil {
			cands, problem, err = nil, "the file is damaged (reader failure)", nil
		}
	}()
	switch {
	case kind == kindOther || kind == kindUnsupported:
		return w.read(kind, a, nil, depth)
	case kind == kindPDF && got.content != nil:
		return w.readPDF(io.NewSectionReader(got.content, 0, got.size))
	}
	data, err := got.bytes()
	if err != nil {
		return nil, "", err
	}
	return w.read(kind, a, data, depth)
}

// read runs the reader for kind.
func (w *walker) read(kind string, a attachmentPart, data []byte, depth int) ([]Candidate, string, error) {
	switch kind {
	case kindCSV:
		return w.readCSV(data, a.Params["charset"])
	case kindXLSX:
		return w.readXLSX(data)
	case kindPDF:
		return w.readPDF(bytes.NewReader(data))
	case kindDOCX:
		return w.readDOCX(data)
	case kindJSON:
		return w.readJSON(data, a.Params["charset"])
	case kindVCard:
		return w.readVCard(data, a.Params["charset"])
	case kindText, kindHTML:
		text := w.decodeCharset(a.Params["charset"], stripBOM(data))
		if kind == kindHTML {
			text = HTMLToText(text)
		}
		return []Candidate{parseText(text, w.opt, w.aliases)}, "", nil
	case kindMessage:
		c, err := w.forwarded(data, depth)
		return c, "", err
	case kindUnsupported:
		ext := strings.ToLower(path.Ext(a.Filename))
		return nil, fmt.Sprintf("%s files cannot be read; please send CSV, XLSX, DOCX or a fillable PDF", strings.TrimPrefix(ext, ".")), nil
	}
	return nil, "", nil
}

// forwarded reads an attached message (message/rfc822): its body is read
// like the message's own, and its own attachments are read too. The outer
// sender stays the referrer.
func (w *walker) forwarded(data []byte, depth int) ([]Candidate, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	fields, rest, _, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		if _, ok := err.(*LimitError); ok {
			return nil, nil
		}
		// No header: read it all as text.
		return []Candidate{parseText(toUTF8(string(data)), w.opt, w.aliases)}, nil
	}
	h := headerOf(fields)
	// The forwarded message's own attachments are read too, and merged with
	// its body by the same rule as the outer message's.
	found, notes := len(w.found), len(w.notes)
	bt, err := w.entity(h, io.MultiReader(bytes.NewReader(rest), br), depth+1, "text/plain")
	if err != nil {
		return nil, err
	}
	inner := append([]Candidate(nil), w.found[found:]...)
	innerNotes := append([]string(nil), w.notes[notes:]...)
	w.found = w.found[:found]
	subject := decodeHeader(h.Get("Subject"))
	body := parseLines(stripQuotedLines(bt.text, isForward(subject)), w.opt, w.aliases)
	return merge(body, inner, innerNotes), nil
}

// overLimit records the first limit an attachment went over. Parse fails
// with it unless the message turns out to be machine-generated (a bounce
// carrying a large original is ignored, not quarantined). Attachments after
// it are not read.
func (w *walker) overLimit(reason string) {
	if w.limit == "" {
		w.limit = reason
	}
}

// checkDeadline fails once Options.Deadline has passed.
func (w *walker) checkDeadline() error {
	if !w.opt.Deadline.IsZero() && time.Now().After(w.opt.Deadline) {
		return &LimitError{Reason: "parsing took longer than the time limit"}
	}
	return nil
}

// displayName is a file name fit for a Source or a note: no directories,
// SSN-like digits masked; "(unnamed)" when there is none.
func displayName(filename string) string {
	name := filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return "(unnamed)"
	}
	name, _ = maskDigits(name, false)
	return prefixOf(name, 80)
}

// kindOfHead is kindOf from the first sniffBytes of the content, except that
// a zip archive of no known kind by name or media type is kindZip: its
// directory, at the end, says whether it is XLSX or DOCX (zipKind).
func kindOfHead(mt, filename string, head []byte) string {
	if mt == "message/rfc822" || mt == "message/global" {
		return kindMessage
	}
	switch strings.ToLower(path.Ext(strings.ReplaceAll(filename, `\`, "/"))) {
	case ".csv", ".tsv", ".tab":
		return kindCSV
	case ".xlsx", ".xlsm":
		return kindXLSX
	case ".pdf":
		return kindPDF
	case ".docx", ".docm":
		return kindDOCX
	case ".json":
		return kindJSON
	case ".vcf", ".vcard":
		return kindVCard
	case ".txt", ".text":
		return kindText
	case ".htm", ".html":
		return kindHTML
	case ".eml":
		return kindMessage
	case ".xls", ".doc", ".odt", ".ods", ".rtf", ".pages", ".numbers", ".wpd":
		if k := sniff(head); k != kindOther {
			return k // a CSV saved with the wrong extension
		}
		return kindUnsupported
	}
	switch mt {
	case "text/csv", "application/csv", "text/comma-separated-values", "text/x-csv", "text/tab-separated-values":
		return kindCSV
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return kindXLSX
	case "application/pdf", "application/x-pdf":
		return kindPDF
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return kindDOCX
	case "application/json", "text/json", "application/x-json":
		return kindJSON
	case "text/vcard", "text/x-vcard", "text/directory":
		return kindVCard
	case "text/plain":
		return kindText
	case "text/html":
		return kindHTML
	}
	if strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") {
		return kindOther
	}
	return sniff(head)
}

// sniff recognises a file by its first bytes; a zip archive is kindZip.
func sniff(head []byte) string {
	head = head[:min(len(head), sniffBytes)]
	trimmed := bytes.TrimLeft(stripBOM(head), " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return kindPDF
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return kindZip
	case len(trimmed) > 11 && strings.EqualFold(string(trimmed[:11]), "BEGIN:VCARD"):
		return kindVCard
	case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
		return kindJSON
	}
	return kindOther
}

// stripBOM removes a UTF-8 byte order mark.
func stripBOM(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
}

// merge combines the body's candidate with the attachments' (a pure rule,
// SPEC §4): when attachments carry referrals, each keeps its client fields,
// takes the body's referrer and notes, and any field it lacks from the body;
// the body alone is then not a referral. With several attachment
// candidates (a batch file) the body's client identity (name, phone, email,
// date of birth) is not copied into rows that lack it: a cover note names no
// one row's client. Notes about unreadable files go on every candidate.
func merge(body Candidate, found []Candidate, notes []string) []Candidate {
	if len(found) == 0 {
		body.Notes = appendNew(body.Notes, notes...)
		if len(body.Fields) == 0 && len(body.Notes) == 0 {
			return nil
		}
		return []Candidate{body}
	}
	identity := map[string]bool{"client_name": true, "client_phone": true, "client_email": true, "date_of_birth": true, "age": true}
	out := make([]Candidate, 0, len(found))
	for _, c := range found {
		f := make(map[string]string, len(c.Fields)+len(body.Fields))
		for k, v := range c.Fields {
			f[k] = v
		}
		for k, v := range body.Fields {
			switch {
			case k == "referrer_name" || k == "referrer_phone":
				f[k] = v // the body speaks for the referrer
			case k == "notes":
				if old := f[k]; old != "" && !strings.Contains(v, old) {
					v = v + "; " + old
				}
				f[k] = v
			case f[k] != "":
			case identity[k] && len(found) > 1:
			default:
				f[k] = v
			}
		}
		c.Fields = f
		if len(body.Extra) > 0 {
			extra := make(map[string]string, len(c.Extra)+len(body.Extra))
			for k, v := range body.Extra {
				extra[k] = v
			}
			for k, v := range c.Extra {
				extra[k] = v
			}
			c.Extra = extra
		}
		c.Notes = appendNew(appendNew(append([]string(nil), body.Notes...), c.Notes...), notes...)
		out = append(out, c)
	}
	return out
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, l := range list {
			dup = dup || l == a
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}
