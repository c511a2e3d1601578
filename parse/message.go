package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	netmail "net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

const (
	defaultMaxParts     = 100
	defaultMaxPartBytes = 10 << 20
	maxHeaderBytes      = 1 << 20 // one header block
	maxIDs              = 200     // message IDs kept from one header
	maxProblems         = 50      // Problems kept for one message
)

// Parse reads one raw message: header facts, whether a machine wrote it,
// and the referral candidates in its body. It fails only when the message is
// unusable: a header that cannot be read at all (a plain error) or a message
// over one of opt's limits (*LimitError). Everything else that goes wrong
// (an unknown charset, a broken MIME part) is a Problem and parsing goes on
// with what is readable.
func Parse(r io.Reader, opt Options) (*Message, error) {
	if r == nil {
		return nil, errors.New("parse: no message")
	}
	if opt.MaxParts <= 0 {
		opt.MaxParts = defaultMaxParts
	}
	if opt.MaxPartBytes <= 0 {
		opt.MaxPartBytes = defaultMaxPartBytes
	}
	if opt.MaxAttachments <= 0 {
		opt.MaxAttachments = defaultMaxAttachments
	}
	if opt.MaxAttachmentBytes <= 0 {
		opt.MaxAttachmentBytes = defaultMaxAttachmentBytes
	}
	if opt.MaxUnzippedBytes <= 0 {
		opt.MaxUnzippedBytes = defaultMaxUnzippedBytes
	}
	if opt.CountryCode == "" {
		opt.CountryCode = "1"
	}
	// Bound the whole read so that even an endless reader ends.
	total := int64(math.MaxInt64)
	if opt.MaxPartBytes < math.MaxInt64/int64(opt.MaxParts+2) {
		total = opt.MaxPartBytes*int64(opt.MaxParts+1) + maxHeaderBytes
	}
	lr := &limitedReader{r: r, n: total}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(lr)
	defer func() {
		br.Reset(nil) // keeps nothing of this message
		readerPool.Put(br)
	}()

	fields, rest, problems, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		if lr.over {
			return nil, &LimitError{Reason: fmt.Sprintf("message larger than %d bytes", total)}
		}
		return nil, err
	}
	h := headerOf(fields)
	m := &Message{Candidates: []Candidate{}, Problems: problems}
	headerFacts(m, h)
	if opt.Now.IsZero() {
		opt.Now = m.Date
		if opt.Now.IsZero() {
			opt.Now = time.Now()
		}
	}

	aliases := NewAliases(opt.Aliases)
	w := &walker{opt: opt, aliases: aliases, msg: m}
	body, werr := w.walk(h, io.MultiReader(bytes.NewReader(rest), br), 0)
	if lr.over {
		return nil, &LimitError{Reason: fmt.Sprintf("message larger than %d bytes", total)}
	}
	var le *LimitError
	if errors.As(werr, &le) {
		return nil, le
	}
	if werr != nil {
		return nil, werr // the caller's attachment sink failed
	}

	classify(m, h, w)
	if w.limit != "" && m.Auto == "" {
		return nil, &LimitError{Reason: w.limit}
	}

	lines := stripQuotedLines(body.text, isForward(m.Subject))
	text := strings.Join(lines, "\n")
	c := parseLines(lines, opt, aliases) // parseText(text) without splitting it again
	m.Candidates = append(m.Candidates, merge(c, w.found, w.notes)...)
	m.Text = maskText(text)
	m.Subject, _ = maskDigits(m.Subject, false)
	return m, nil
}

// readerPool holds the 8 KB buffered readers Parse reads messages with:
// the buffer is only read through (every line and part is copied out of
// it), so one can serve message after message.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}

// limitedReader fails once more than n bytes were read and remembers it.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

var errTooBig = errors.New("parse: message too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: over it only if there is more to read.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		l.over = true
		return 0, errTooBig
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

type headerField struct{ key, value string }

// readHeader reads a header block leniently (RFC 5322 §2.2): an mbox "From "
// line or stray white space before it is skipped, folded lines are unfolded,
// and a line that is not a header field ends the block with a Problem and is
// handed back as the start of the body. It fails when not one field can be
// read, and with a *LimitError past limit bytes.
func readHeader(br *bufio.Reader, limit int) (fields []headerField, rest []byte, problems []string, err error) {
	size := 0
	first := true
	lead := 0 // blank lines before the header
	// Both buffers start on the stack and go to the heap only for a longer
	// line or value.
	var lineBuf [256]byte
	buf := lineBuf[:0] // the line read: each field's strings are copied out of it
	// The last field's value, which folded lines may still continue, is
	// made a string once, when it is complete: when the next field starts
	// or the header ends.
	var valBuf [256]byte
	val := valBuf[:0]
	endLast := func() {
		if len(fields) > 0 {
			fields[len(fields)-1].value = string(val)
		}
	}
	for {
		line, rerr := readLine(br, limit-size, buf[:0])
		buf = line
		size += len(line)
		if size >= limit {
			return nil, nil, nil, &LimitError{Reason: fmt.Sprintf("header larger than %d bytes", limit)}
		}
		if rerr != nil && rerr != io.EOF {
			if len(fields) == 0 {
				return nil, nil, nil, fmt.Errorf("parse: read header: %w", rerr)
			}
			problems = append(problems, "the header ends early: "+shortErr(rerr))
			endLast()
			return fields, nil, problems, nil
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case first && bytes.HasPrefix(trimmed, []byte("From ")):
			// an mbox envelope line
		case len(fields) == 0 && lead < 5 && len(bytes.TrimSpace(trimmed)) == 0 && rerr == nil:
			// blank lines before the header (seen in saved files)
			lead++
			continue
		case len(trimmed) == 0:
			if len(fields) == 0 {
				if rerr == io.EOF {
					return nil, nil, nil, errors.New("parse: empty message")
				}
				return nil, nil, nil, errors.New("parse: the message has no header")
			}
			endLast()
			return fields, nil, problems, nil
		case trimmed[0] == ' ' || trimmed[0] == '\t':
			if len(fields) > 0 {
				val = append(val, ' ')
				val = append(val, bytes.TrimSpace(trimmed)...)
			}
		default:
			k, v, ok := splitField(trimmed)
			if !ok {
				if len(fields) == 0 {
					return nil, nil, nil, errors.New("parse: the message does not start with a header")
				}
				if headerLineNext(br) {
					// A value wrapped without indentation: the header goes on.
					problems = append(problems, "a malformed header line was joined to the field before it")
					val = append(val, ' ')
					val = append(val, bytes.TrimSpace(trimmed)...)
					break
				}
				problems = append(problems, "a malformed header line ends the header; the rest is read as body")
				endLast()
				return fields, bytes.Clone(line), problems, nil
			}
			endLast()
			if fields == nil {
				fields = make([]headerField, 0, 16) // a usual header's fields, in one slice
			}
			fields = append(fields, headerField{key: fieldName(k)})
			val = append(val[:0], v...)
		}
		first = false
		if rerr == io.EOF {
			if len(fields) == 0 {
				return nil, nil, nil, errors.New("parse: the message has no header")
			}
			endLast()
			return fields, nil, problems, nil
		}
	}
}

// headerLineNext tells whether the next line is plainly a header field
// ("X-Anything:", "Content-Type:", "Subject:"), without consuming it.
func headerLineNext(br *bufio.Reader) bool {
	peek, _ := br.Peek(256)
	if i := bytes.IndexByte(peek, '\n'); i >= 0 {
		peek = peek[:i]
	}
	i := bytes.IndexByte(peek, ':')
	if i <= 0 {
		return false
	}
	key := peek[:i]
	for j, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || j > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	if bytes.IndexByte(key, '-') > 0 {
		return true
	}
	switch strings.ToLower(string(key)) {
	case "from", "to", "cc", "bcc", "subject", "date", "received", "sender", "references", "precedence",
		"importance", "priority", "organization", "keywords", "comments", "encrypted":
		return true
	}
	return false
}

// readLine reads one line including its end, at most max bytes, appending
// it to line.
func readLine(br *bufio.Reader, max int, line []byte) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull && len(line) < max {
			continue
		}
		if err == bufio.ErrBufferFull {
			return line, nil
		}
		return line, err
	}
}

// splitField splits "Key: value"; the key must be printable US-ASCII
// without spaces (RFC 5322 §2.2), though space before the colon is allowed.
// Both are slices of line.
func splitField(line []byte) (key, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	key = bytes.TrimRight(line[:i], " \t")
	if len(key) == 0 {
		return nil, nil, false
	}
	for _, c := range key {
		if c < 33 || c > 126 {
			return nil, nil, false
		}
	}
	return key, bytes.TrimSpace(line[i+1:]), true
}

// fieldName is the field name key as a string: one of commonFieldNames
// when it is written as they are, else a copy.
func fieldName(key []byte) string {
	if name, ok := commonFieldNames[string(key)]; ok {
		return name
	}
	return string(key)
}

// commonFieldNames are the field names nearly every message has, written
// as mail software writes them: a field named so takes its name from here
// rather than a string of its own. Read-only.
var commonFieldNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Return-Path", "Received", "Authentication-Results", "Received-SPF", "DKIM-Signature",
		"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "Delivered-To", "From", "To", "Cc",
		"Reply-To", "Sender", "Subject", "Date", "Message-ID", "Message-Id", "In-Reply-To", "References",
		"MIME-Version", "Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
		"Content-Language", "Thread-Topic", "Thread-Index", "X-Mailer", "User-Agent", "Importance", "X-Priority",
		"Precedence", "Auto-Submitted", "List-Id", "List-Unsubscribe", "X-Originating-IP"} {
		m[k] = k
	}
	return m
}()

// headerOf builds a textproto.Header whose Get returns the topmost field.
func headerOf(fields []headerField) textproto.Header {
	var h textproto.Header
	for i := len(fields) - 1; i >= 0; i-- {
		h.Add(fields[i].key, fields[i].value)
	}
	return h
}

// headerFacts fills the header facts of m.
func headerFacts(m *Message, h textproto.Header) {
	m.MessageID = firstID(h.Get("Message-Id"))
	m.InReplyTo = msgIDs(h.Get("In-Reply-To"))
	m.References = msgIDs(h.Get("References"))
	if from := parseAddressList(h.Get("From")); len(from) > 0 {
		m.From = from[0]
	}
	m.ReplyTo = parseAddressList(h.Get("Reply-To"))
	m.Subject = decodeHeader(h.Get("Subject"))
	m.SubjectRefs = Refs(m.Subject)
	if d := h.Get("Date"); d != "" {
		if t, err := parseMailDate(d); err == nil {
			m.Date = t
		} else if t, ok := parseLooseDate(d); ok {
			m.Date = t
		} else {
			m.Problems = append(m.Problems, "unreadable Date header")
		}
	}
	m.Loop = strings.TrimSpace(h.Get(LoopHeader))
	m.AuthResults = authResults(h, &m.Problems)
}

// rfc5322Date is the layout nearly every mail client writes the Date in.
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseMailDate is net/mail.ParseDate, which tries twelve layouts without
// a day of the week (each failing with an error made for nothing) before
// this one. A date exactly in it, with nothing around it, is what
// ParseDate returns from its thirteenth layout.
func parseMailDate(d string) (time.Time, error) {
	if len(d) > 0 && d[0] != ' ' && d[0] != '\t' && d[len(d)-1] != ' ' && !strings.ContainsAny(d, "\r\n") {
		if t, err := time.Parse(rfc5322Date, d); err == nil {
			return t, nil
		}
	}
	return netmail.ParseDate(d)
}

var looseDateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700 (MST)", "Mon, 2 Jan 2006 15:04 -0700", "2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05", "Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 MST 2006", "2006-01-02T15:04:05Z07:00",
	"Mon, 02 Jan 2006 15:04:05 -0700", "Monday, January 2, 2006 3:04 PM", "1/2/2006 3:04:05 PM", "1/2/2006 15:04",
}

func parseLooseDate(s string) (time.Time, bool) {
	s = strings.Join(strings.Fields(s), " ")
	for _, l := range looseDateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes RFC 2047 encoded words; raw 8-bit text that is not
// UTF-8 is read as windows-1252.
func decodeHeader(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		s = d
	}
	return strings.TrimSpace(toUTF8(s))
}

// toUTF8 returns s unchanged when it is valid UTF-8, else reads it as
// windows-1252 (the usual charset of unlabelled 8-bit mail).
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// msgIDs returns the message IDs of a header value, without angle brackets
// (RFC 5322 §3.6.4), tolerating IDs written without brackets.
func msgIDs(v string) []string {
	var ids []string
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id != "" && len(ids) < maxIDs && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for rest := v; ; {
		id, after, ok := nextBracketedID(rest)
		if !ok {
			break
		}
		add(id)
		rest = after
	}
	if len(ids) == 0 {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			if strings.Contains(f, "@") {
				add(strings.Trim(f, "<>\"'"))
			}
		}
	}
	return ids
}

// nextBracketedID finds the first "<id>" in s, the id one or more bytes
// other than "<", ">" and white space, and returns the id and what follows
// it: what the regexp <([^<>\s]+)> found (\s is [\t\n\f\r ] in Go's
// regexp), by a byte loop, as every message's Message-ID is read.
func nextBracketedID(s string) (id, rest string, ok bool) {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return "", "", false
		}
		j := i + 1
		for j < len(s) && !isIDStop(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '>' && j > i+1 {
			return s[i+1 : j], s[j+1:], true
		}
		s = s[j:] // the next try starts at the next "<", none before j
	}
}

// isIDStop tells whether b ends a bracketed message ID: a bracket or
// white space.
func isIDStop(b byte) bool {
	switch b {
	case '<', '>', ' ', '\t', '\n', '\f', '\r':
		return true
	}
	return false
}

func firstID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// parseAddressList reads an address header; when it is not well formed the
// addresses are picked out leniently. Addresses are lower-cased.
func parseAddressList(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var out []Address
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			out = append(out, Address{Name: strings.TrimSpace(toUTF8(a.Name)), Addr: strings.ToLower(a.Address)})
		}
		return out
	}
	// Lenient: "Name <addr>", bare addresses, or a bare local part
	// ("MAILER-DAEMON").
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		addr := v[i+1:]
		if j > 0 {
			addr = v[i+1 : i+j]
		}
		name := strings.Trim(strings.TrimSpace(v[:i]), "\"' ")
		return []Address{{Name: decodeHeader(name), Addr: strings.ToLower(strings.TrimSpace(addr))}}
	}
	f := strings.Fields(v)
	for _, w := range f {
		if strings.Contains(w, "@") {
			return []Address{{Addr: strings.ToLower(strings.Trim(w, "\"'(),;"))}}
		}
	}
	return []Address{{Addr: strings.ToLower(strings.Trim(f[0], "\"'(),;"))}}
}

var refRE = regexp.MustCompile(`(?i)\[\s*(R-\d{1,9})\s*\]`)

// Refs returns the referral references written in brackets in a subject:
// "Re: Dana W. [R-1042]" -> ["R-1042"]. A bare "R-1042" is not a reference.
func Refs(subject string) []string {
	var refs []string
	for _, m := range refRE.FindAllStringSubmatch(subject, 20) {
		ref := strings.ToUpper(m[1])
		dup := false
		for _, r := range refs {
			dup = dup || r == ref
		}
		if !dup {
			refs = append(refs, ref)
		}
	}
	return refs
}

var forwardSubjectRE = regexp.MustCompile(`(?i)^\s*((re|aw|sv)\s*:\s*)*(fwd?|fw|tr|wg|rv|doorst|vs|enc)\s*:`)

// isForward tells whether a subject marks a forwarded message.
func isForward(subject string) bool {
	return forwardSubjectRE.MatchString(subject)
}
