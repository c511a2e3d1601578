package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"
)

// walker walks one message's MIME tree (RFC 2045, RFC 2046), collecting
// body text and the facts classify needs.
type walker struct {
	opt     Options
	aliases *Aliases
	msg     *Message
	parts   int

	rootType       string   // media type of the message itself
	reportType     string   // its report-type parameter (RFC 6522)
	deliveryStatus bool     // a message/delivery-status part was seen (RFC 3464)
	originalIDs    []string // Message-IDs of attached messages and rfc822-headers parts
	inlineIDs      []string // "Message-ID:" lines in body text (inline copies of a bounced message)

	found   []Candidate // candidates read from attachments
	notes   []string    // notes about attachments that could not be read
	nattach int         // attachments met
	limit   string      // the first attachment limit gone over, if any
}

// bodyText is the readable text of one part or subtree.
type bodyText struct {
	text string
	html bool // rendered from HTML
}

// attachmentPart is one MIME part that is not body text: a file, a
// forwarded message, a calendar invitation, a signature.
type attachmentPart struct {
	Header    textproto.Header
	MediaType string
	Params    map[string]string
	Filename  string
	// Body is the part's raw body, still transfer-encoded (see Encoding).
	Body     io.Reader
	Encoding string
}

func (w *walker) problem(format string, args ...any) {
	if len(w.msg.Problems) < maxProblems {
		w.msg.Problems = append(w.msg.Problems, fmt.Sprintf(format, args...))
	}
}

// walk reads one entity: its header h and its raw body.
func (w *walker) walk(h textproto.Header, body io.Reader, depth int) (bodyText, error) {
	return w.entity(h, body, depth, "text/plain")
}

func (w *walker) entity(h textproto.Header, body io.Reader, depth int, defaultType string) (bodyText, error) {
	w.parts++
	if err := w.checkDeadline(); err != nil {
		return bodyText{}, err
	}
	if w.parts > w.opt.MaxParts {
		return bodyText{}, &LimitError{Reason: fmt.Sprintf("more than %d MIME parts", w.opt.MaxParts)}
	}
	mt, params := w.contentType(h, defaultType)
	if depth == 0 {
		w.rootType = mt
		w.reportType = strings.ToLower(params["report-type"])
	}
	disp, dparams := contentDisposition(h)
	filename := decodeHeader(dparams["filename"])
	if filename == "" {
		filename = decodeHeader(params["name"])
	}
	if filename == "" && strings.Contains(strings.ToLower(h.Get("Content-Disposition")), "filename") {
		filename = decodeHeader(rfc2231Param(h.Get("Content-Disposition"), "filename"))
	}
	if filename == "" && strings.Contains(strings.ToLower(h.Get("Content-Type")), "name") {
		filename = decodeHeader(rfc2231Param(h.Get("Content-Type"), "name"))
	}
	enc := transferEncoding(h)

	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if params["boundary"] == "" {
			w.problem("a %s part has no boundary; read as plain text", mt)
			return w.text(body, enc, params, false)
		}
		return w.multipart(mt, params["boundary"], body, depth)
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		w.deliveryStatus = true
		return bodyText{}, nil
	case mt == "message/rfc822" || mt == "message/global":
		head, rest, err := w.embeddedHeader(body, enc)
		if err != nil {
			return bodyText{}, err
		}
		w.addOriginal(head)
		return bodyText{}, w.attach(attachmentPart{Header: h, MediaType: mt, Params: params, Filename: filename,
			Body: io.MultiReader(bytes.NewReader(rest), body), Encoding: enc}, depth)
	case mt == "text/rfc822-headers" || mt == "text/rfc822-header":
		head, _, err := w.embeddedHeader(body, enc)
		if err != nil {
			return bodyText{}, err
		}
		w.addOriginal(head)
		return bodyText{}, nil
	case (mt == "text/plain" || mt == "text/html") && disp != "attachment" && filename == "":
		return w.text(body, enc, params, mt == "text/html")
	}
	return bodyText{}, w.attach(attachmentPart{Header: h, MediaType: mt, Params: params, Filename: filename, Body: body, Encoding: enc}, depth)
}

func (w *walker) attach(a attachmentPart, depth int) error {
	if w.limit != "" {
		return nil // over a limit already: the rest is not read
	}
	cs, err := w.attachment(a, depth)
	w.found = append(w.found, cs...)
	return err
}

// multipart walks the parts of a multipart entity (RFC 2046 §5.1). For
// multipart/alternative both versions are read and the one with more
// canonical fields is kept, plain text winning ties: Outlook's plain version
// of an HTML table is often useless. Other multiparts join their texts.
func (w *walker) multipart(mt, boundary string, body io.Reader, depth int) (bodyText, error) {
	childType := "text/plain"
	if mt == "multipart/digest" {
		childType = "message/rfc822" // RFC 2046 §5.1.5
	}
	mr := textproto.NewMultipartReader(body, boundary)
	var kids []bodyText
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.problem("broken MIME structure in %s: %s", mt, shortErr(err))
			break
		}
		bt, err := w.entity(p.Header, p, depth+1, childType)
		if err != nil {
			return bodyText{}, err
		}
		kids = append(kids, bt)
	}
	if mt == "multipart/alternative" {
		return w.bestAlternative(kids), nil
	}
	var texts []string
	html := false
	for _, k := range kids {
		if strings.TrimSpace(k.text) != "" {
			texts = append(texts, k.text)
			html = html || k.html
		}
	}
	return bodyText{text: strings.Join(texts, "\n\n"), html: html}, nil
}

func (w *walker) bestAlternative(kids []bodyText) bodyText {
	best, bestN := bodyText{}, -1
	for _, k := range kids {
		if strings.TrimSpace(k.text) == "" {
			continue
		}
		n := len(parseLines(stripQuotedLines(k.text, isForward(w.msg.Subject)), w.opt, w.aliases).Fields)
		if n > bestN || n == bestN && best.html && !k.html {
			best, bestN = k, n
		}
	}
	return best
}

// contentType reads Content-Type (RFC 2045 §5); a missing or unreadable one
// means the default (text/plain, or message/rfc822 inside a digest).
func (w *walker) contentType(h textproto.Header, def string) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && mt == "" {
		// Salvage "text/plain charset=x" and similar.
		f := strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' })
		if len(f) > 0 && strings.Count(f[0], "/") == 1 {
			mt = strings.ToLower(f[0])
			params = map[string]string{}
			for _, p := range f[1:] {
				if k, val, ok := strings.Cut(p, "="); ok {
					params[strings.ToLower(k)] = strings.Trim(val, "\"'")
				}
			}
		} else {
			w.problem("unreadable Content-Type; read as %s", def)
			return def, map[string]string{}
		}
	}
	if params == nil {
		params = map[string]string{}
	}
	return strings.ToLower(mt), params
}

func contentDisposition(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if v == "" {
		return "", map[string]string{}
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil && d == "" {
		d, _, _ = strings.Cut(v, ";")
	}
	if params == nil {
		params = map[string]string{}
	}
	return strings.ToLower(strings.TrimSpace(d)), params
}

// transferEncoding is the Content-Transfer-Encoding token (RFC 2045 §6),
// tolerating stray quotes, spaces and semicolons.
func transferEncoding(h textproto.Header) string {
	v := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	v = strings.Trim(v, "\"' ")
	if i := strings.IndexAny(v, "; \t"); i >= 0 {
		v = v[:i]
	}
	return v
}

// readPart reads a part's raw body, failing past the part limit (allowing
// for transfer-encoding overhead).
func (w *walker) readPart(body io.Reader, buf *bytes.Buffer) ([]byte, error) {
	limit := 3*w.opt.MaxPartBytes + 64<<10
	_, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	b := buf.Bytes()
	if int64(len(b)) > limit {
		return nil, &LimitError{Reason: fmt.Sprintf("a MIME part is larger than %d bytes", w.opt.MaxPartBytes)}
	}
	if err != nil {
		w.problem("a MIME part was cut short: %s", shortErr(err))
	}
	return b, nil
}

// partBufs are the buffers text parts are read into. A part's text leaves
// as a string of its own (decodeCharset copies), so its buffer can serve
// the next part: a 4 KB message allocates 5 KB less.
var partBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// text reads a text/plain or text/html body part.
func (w *walker) text(body io.Reader, enc string, params map[string]string, html bool) (bodyText, error) {
	buf := partBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			partBufs.Put(buf)
		}
	}()
	raw, err := w.readPart(body, buf)
	if err != nil {
		return bodyText{}, err
	}
	dec := w.decodeTransfer(enc, raw)
	if int64(len(dec)) > w.opt.MaxPartBytes {
		return bodyText{}, &LimitError{Reason: fmt.Sprintf("a MIME part is larger than %d bytes", w.opt.MaxPartBytes)}
	}
	var s string
	if cs := params["charset"]; utf8Family(cs) {
		// Line ends made "\n" in the part's own bytes (raw, or what
		// decodeTransfer made of it), before the one copy into a string.
		s = toUTF8(string(unixLineEnds(dec)))
	} else {
		// Other charsets are decoded first: in UTF-16 a CR is two bytes.
		s = w.decodeCharset(cs, dec)
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	if !html && strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	if strings.Contains(s, "essage-") || strings.Contains(s, "ESSAGE-") {
		w.inlineIDs = append(w.inlineIDs, inlineMessageIDs(s)...)
	}
	if html {
		return bodyText{text: HTMLToText(s), html: true}, nil
	}
	return bodyText{text: s}, nil
}

// unixLineEnds makes every CRLF and lone CR of b a LF, in place, and
// returns what is left of b.
func unixLineEnds(b []byte) []byte {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return b
	}
	out := i // b[:out] is done
	for i >= 0 {
		// b[i] is a CR: dropped before a LF, else a LF itself.
		if i+1 < len(b) && b[i+1] == '\n' {
			i++
		} else {
			b[i] = '\n'
		}
		next := bytes.IndexByte(b[i+1:], '\r')
		end := len(b)
		if next >= 0 {
			next += i + 1
			end = next
		}
		out += copy(b[out:], b[i:end])
		i = next
	}
	return b[:out]
}

// embeddedHeader reads the header of an attached message or an rfc822-headers
// part; rest is the decoded bytes read so far.
func (w *walker) embeddedHeader(body io.Reader, enc string) (textproto.Header, []byte, error) {
	raw, err := io.ReadAll(io.LimitReader(body, 2*maxHeaderBytes))
	if err != nil {
		w.problem("an attached message was cut short: %s", shortErr(err))
	}
	dec := w.decodeTransfer(enc, raw)
	fields, _, _, herr := readHeader(bufio.NewReader(bytes.NewReader(dec)), maxHeaderBytes)
	if herr != nil {
		w.problem("the header of an attached message is unreadable")
		return textproto.Header{}, raw, nil
	}
	return headerOf(fields), raw, nil
}

func (w *walker) addOriginal(h textproto.Header) {
	if id := firstID(h.Get("Message-Id")); id != "" {
		w.originalIDs = append(w.originalIDs, id)
	}
}

var inlineIDRE = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*<([^<>\s]+)>`)

// inlineMessageIDs finds "Message-ID: <...>" lines in text: bounces that
// paste the returned message into their body.
func inlineMessageIDs(s string) []string {
	var ids []string
	for _, m := range inlineIDRE.FindAllStringSubmatch(s, 20) {
		ids = append(ids, m[1])
	}
	return ids
}

// shortErr names what went wrong without echoing message content (which may
// hold personal data) into Problems.
func shortErr(err error) string {
	e := err.Error()
	switch {
	case strings.Contains(e, "buffer full"):
		return "a line is too long"
	case strings.Contains(e, "malformed MIME header"):
		return "a part header is malformed"
	case strings.Contains(e, "unexpected line"), strings.Contains(e, "expecting a new Part"):
		return "unexpected text between parts"
	case strings.Contains(e, "boundary is empty"):
		return "the boundary is empty"
	case strings.Contains(e, "EOF"):
		return "the message ends before the closing boundary"
	}
	return "unreadable"
}

func prefixOf(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
