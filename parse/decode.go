package parse

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// Decoding of body bytes: transfer encodings, charsets and format=flowed,
// all lenient: what cannot be decoded is kept as written.

// decodeTransfer undoes a Content-Transfer-Encoding leniently: bad
// quoted-printable escapes are kept as written, base64 noise is skipped.
// It is newTransferDecoder's decoder over the whole of b (b itself when
// there is nothing to undo).
func (w *walker) decodeTransfer(enc string, b []byte) []byte {
	d := w.newTransferDecoder(enc)
	if _, ok := d.(identityDecoder); ok {
		return b
	}
	return d.flush(d.decode(make([]byte, 0, len(b)), b)) // neither decodes to more than it reads
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) without ever failing.
func decodeQP(b []byte) []byte {
	out, _ := qpDecode(make([]byte, 0, len(b)), b, true)
	return out
}

// qpDecode appends what b decodes to to dst, as decodeQP does, and says how
// much of b it used. Unless b is the end of the input (eof), it stops
// before an "=" whose meaning depends on bytes not there yet; the caller
// passes those again with what follows.
func qpDecode(dst, b []byte, eof bool) ([]byte, int) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			dst = append(dst, c)
			continue
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if !eof && (j == len(b) || b[j] == '\r' && j+1 == len(b) || j == i+1 && b[j] != '\n' && i+2 == len(b)) {
			return dst, i
		}
		switch {
		case j < len(b) && b[j] == '\n':
			i = j // soft line break
		case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
			i = j + 1
		case j == len(b):
			i = j
		case i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			dst = append(dst, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
		default:
			dst = append(dst, '=')
		}
	}
	return dst, len(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// A transferDecoder undoes a Content-Transfer-Encoding as the bytes come:
// decode appends what src decodes to (after what came before) to dst, and
// flush what is left at the end. Neither ever fails. All the pieces
// together never decode to more than they hold, but one piece may give
// back bytes held over from the pieces before it.
type transferDecoder interface {
	decode(dst, src []byte) []byte
	flush(dst []byte) []byte
}

// newTransferDecoder returns the decoder of enc; an unknown one is a Problem
// and read as is.
func (w *walker) newTransferDecoder(enc string) transferDecoder {
	switch enc {
	case "quoted-printable":
		return &qpDecoder{}
	case "base64":
		return &b64Decoder{}
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit":
		return identityDecoder{}
	}
	w.problem("unknown Content-Transfer-Encoding %q; read as is", prefixOf(enc, 40))
	return identityDecoder{}
}

type identityDecoder struct{}

func (identityDecoder) decode(dst, src []byte) []byte { return append(dst, src...) }
func (identityDecoder) flush(dst []byte) []byte       { return dst }

// qpDecoder is decodeQP as the bytes come: an "=" at the end of one piece
// waits for the next, with the spaces and tabs after it.
type qpDecoder struct {
	carry []byte
	blank bool // carry is an "=" and blanks only
}

func (d *qpDecoder) decode(dst, src []byte) []byte {
	b := src
	if len(d.carry) > 0 {
		// An "=" and blanks wait for what follows the blanks: more blanks
		// join them without a scan (a long run must not be scanned again
		// with every piece).
		if d.blank {
			k := 0
			for k < len(src) && (src[k] == ' ' || src[k] == '\t') {
				k++
			}
			d.carry = append(d.carry, src[:k]...)
			if src = src[k:]; len(src) == 0 {
				return dst
			}
		}
		d.carry = append(d.carry, src...)
		b = d.carry
	}
	dst, n := qpDecode(dst, b, false)
	d.carry = append(d.carry[:0], b[n:]...)
	d.blank = len(d.carry) > 0 && d.carry[0] == '=' && allBlank(d.carry[1:])
	return dst
}

// allBlank tells whether b is only spaces and tabs.
func allBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func (d *qpDecoder) flush(dst []byte) []byte {
	dst, _ = qpDecode(dst, d.carry, true)
	d.carry, d.blank = d.carry[:0], false
	return dst
}

// b64Decoder is decodeBase64 as the bytes come: characters outside the
// alphabet are skipped, "=" ends a run (RawStdEncoding's reading of a run
// whose length leaves 1 over drops that character), every four characters
// of a run are three bytes.
type b64Decoder struct {
	q [4]byte // the run's characters not yet decoded, as values
	n int
}

// b64Value maps a byte to its base64 value; b64Skip outside the alphabet,
// b64Pad for "=".
var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Skip
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	t['='] = b64Pad
	return t
}()

const (
	b64Skip = 0xff
	b64Pad  = 0xfe
)

func (d *b64Decoder) decode(dst, src []byte) []byte {
	for _, c := range src {
		v := b64Value[c]
		switch {
		case v < 64:
			d.q[d.n] = v
			d.n++
			if d.n == 4 {
				dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
				d.n = 0
			}
		case v == b64Pad:
			dst = d.flush(dst)
		}
	}
	return dst
}

func (d *b64Decoder) flush(dst []byte) []byte {
	switch d.n {
	case 2:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4)
	case 3:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.n = 0
	return dst
}

// utf8Family tells whether a part in charset cs is read as UTF-8 (with
// windows-1252 for what is not valid UTF-8): no charset, ASCII, UTF-8 and
// the labels that say nothing.
func utf8Family(cs string) bool {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(cs), "\"'")) {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "unicode-1-1-utf-8", "x-unknown", "unknown-8bit", "unknown", "default":
		return true
	}
	return false
}

// decodeCharset converts text to UTF-8. An unknown charset is a Problem;
// the bytes are then read as UTF-8 when valid, else as windows-1252.
func (w *walker) decodeCharset(cs string, b []byte) string {
	if utf8Family(cs) {
		return toUTF8(string(b))
	}
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), "\"'"))
	if singleByteCharset(cs) && looksUTF8(b) {
		// A wrong declaration: UTF-8 text labelled Latin-1 (or another
		// single-byte charset) is common, and Latin-1 text is almost never
		// valid UTF-8 with multi-byte sequences.
		return string(b)
	}
	switch cs {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819", "windows-1252", "cp1252":
		// Mail labelled Latin-1 is written in windows-1252 (its curly
		// quotes and dashes), as the WHATWG encoding standard says.
		out, err := charmap.Windows1252.NewDecoder().Bytes(b)
		if err == nil {
			return string(out)
		}
	}
	if cs == "utf-7" || cs == "unicode-1-1-utf-7" || cs == "csunicode11utf7" || cs == "x-unicode-2-0-utf-7" {
		return toUTF8(decodeUTF7(b))
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			w.problem("unknown charset %q; read as UTF-8", prefixOf(cs, 40))
		} else {
			w.problem("unknown charset %q; read as windows-1252", prefixOf(cs, 40))
		}
		return toUTF8(string(b))
	}
	out, err := io.ReadAll(io.LimitReader(r, 4*int64(len(b))+16))
	if err != nil {
		w.problem("text in charset %q could not be decoded; read as windows-1252", prefixOf(cs, 40))
		return toUTF8(string(b))
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// decodeUTF7 decodes UTF-7 (RFC 2152 §3), which Outlook 2000 sent and
// x/text lacks: "+" opens modified base64 of UTF-16, "-" may close it, and
// "+-" is a plus sign.
func decodeUTF7(b []byte) string {
	var out strings.Builder
	isB64 := func(c byte) bool {
		return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '+' {
			out.WriteByte(b[i])
			continue
		}
		j := i + 1
		for j < len(b) && isB64(b[j]) {
			j++
		}
		if j == i+1 {
			out.WriteByte('+')
			if j < len(b) && b[j] == '-' {
				i = j
			}
			continue
		}
		seg := b[i+1 : j]
		if len(seg)%4 == 1 {
			seg = seg[:len(seg)-1]
		}
		raw := make([]byte, base64.RawStdEncoding.DecodedLen(len(seg)))
		n, _ := base64.RawStdEncoding.Decode(raw, seg)
		u := make([]uint16, 0, n/2)
		for k := 0; k+1 < n; k += 2 {
			u = append(u, uint16(raw[k])<<8|uint16(raw[k+1]))
		}
		out.WriteString(string(utf16.Decode(u)))
		if j < len(b) && b[j] == '-' {
			j++
		}
		i = j - 1
	}
	return out.String()
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676 §4.2):
// a line ending in a space continues on the next line of the same quote
// depth. Space-stuffing is removed; with delsp the trailing space goes too.
func unflow(s string, delsp bool) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	var cur strings.Builder
	curDepth, open := 0, false
	for _, l := range lines {
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		text := strings.TrimPrefix(l[depth:], " ") // space-stuffing (§4.4)
		if open && depth != curDepth {
			out = append(out, cur.String())
			cur.Reset()
			open = false
		}
		if !open {
			cur.WriteString(l[:depth])
			if depth > 0 {
				cur.WriteByte(' ')
			}
			curDepth = depth
		}
		soft := strings.HasSuffix(text, " ") && text != "-- "
		if soft && delsp {
			text = text[:len(text)-1]
		}
		cur.WriteString(text)
		if soft {
			open = true
			continue
		}
		out = append(out, cur.String())
		cur.Reset()
		open = false
	}
	if open {
		out = append(out, cur.String())
	}
	return strings.Join(out, "\n")
}

// singleByteCharset tells the ISO 8859 and Windows code page charsets.
func singleByteCharset(cs string) bool {
	return strings.HasPrefix(cs, "iso-8859") || strings.HasPrefix(cs, "iso8859") || strings.HasPrefix(cs, "iso_8859") ||
		strings.HasPrefix(cs, "windows-125") || strings.HasPrefix(cs, "cp125") || cs == "latin1" || cs == "latin-1"
}

// looksUTF8 is true for valid UTF-8 that has at least one multi-byte
// sequence.
func looksUTF8(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return utf8.Valid(b)
		}
	}
	return false
}

// rfc2231Param reads parameter name of a header value by RFC 2231 when
// mime.ParseMediaType could not (it knows only UTF-8 and US-ASCII, and gives
// up on a whole header for one bad parameter): "name*=charset'lang'%XX" and
// continuations "name*0*=...; name*1=...". "" when absent.
func rfc2231Param(v, name string) string {
	name = strings.ToLower(name)
	parts := map[int]string{}
	encoded := map[int]bool{}
	plain := ""
	for _, f := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), "\"")
		switch {
		case k == name:
			plain = val
		case k == name+"*":
			parts[0], encoded[0] = val, true
		case strings.HasPrefix(k, name+"*"):
			rest := strings.TrimPrefix(k, name+"*")
			enc := strings.HasSuffix(rest, "*")
			n := atoi(strings.TrimSuffix(rest, "*"))
			if n >= 0 && n < 100 {
				parts[n], encoded[n] = val, enc
			}
		}
	}
	if len(parts) == 0 {
		return plain
	}
	cs := ""
	var raw []byte
	for i := 0; i < 100; i++ {
		p, ok := parts[i]
		if !ok {
			break
		}
		if encoded[i] {
			if i == 0 {
				if f := strings.SplitN(p, "'", 3); len(f) == 3 {
					cs, p = f[0], f[2]
				}
			}
			raw = append(raw, pctDecode(p)...)
		} else {
			raw = append(raw, p...)
		}
	}
	cs = strings.ToLower(cs)
	if cs == "" || cs == "utf-8" || cs == "us-ascii" {
		return toUTF8(string(raw))
	}
	r, err := charset.Reader(cs, bytes.NewReader(raw))
	if err != nil {
		return toUTF8(string(raw))
	}
	out, err := io.ReadAll(io.LimitReader(r, 4*int64(len(raw))+16))
	if err != nil {
		return toUTF8(string(raw))
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

func pctDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
