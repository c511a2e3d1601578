package parse

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/form"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"golang.org/x/text/encoding/charmap"
)

// PDF attachments: the fields of a fillable form (AcroForm), else the text
// of the pages run through the label parser (SPEC §4).

func init() {
	// pdfcpu otherwise creates a configuration directory under the user's
	// home on first use; parse does no I/O. This sets pdfcpu's own switch,
	// once, before any goroutine can read it.
	api.DisableConfigDir()
}

const maxPDFPages = 50

// pdfConfig is pdfcpu's configuration for reading untrusted files: relaxed
// validation, nothing rewritten, no network, decoding capped.
func (w *walker) pdfConfig() *model.Configuration {
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	conf.Optimize = false
	conf.Offline = true
	conf.Cmd = model.LISTFORMFIELDS
	conf.Limits.MaxStreamBytes = w.opt.MaxAttachmentBytes
	conf.Limits.MaxDecodeBytes = w.opt.MaxUnzippedBytes
	conf.Limits.MaxImageBytes = w.opt.MaxUnzippedBytes
	conf.Limits.MaxObjectCount = 200_000
	conf.Limits.MaxXRefEntries = 200_000
	conf.Limits.MaxObjectStreamCount = 100_000
	conf.Limits.MaxRecursionDepth = 50
	return conf
}

// readPDF reads a PDF attachment; pdfcpu seeks in it.
func (w *walker) readPDF(rs io.ReadSeeker) ([]Candidate, string, error) {
	ctx, err := api.ReadAndValidate(rs, w.pdfConfig())
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "encrypt") || strings.Contains(err.Error(), "password") {
			return nil, "the PDF is password-protected", nil
		}
		return nil, "not a readable PDF", nil
	}
	if err := w.checkDeadline(); err != nil {
		return nil, "", err
	}
	if pairs := pdfFormPairs(ctx, w.aliases); len(pairs) > 0 {
		c := fromPairs(pairs, w.opt, w.aliases)
		if len(c.Fields) > 0 {
			return []Candidate{c}, "", nil
		}
	}
	text, err := w.pdfText(ctx)
	if err != nil {
		return nil, "", err
	}
	if strings.TrimSpace(text) == "" {
		return nil, "no form fields and no text that can be extracted", nil
	}
	return []Candidate{parseText(text, w.opt, w.aliases)}, "", nil
}

// pdfFormPairs lists a form's fields as label/value pairs: the field's
// tooltip (its alternate name, usually the printed label) when it maps to
// a field, else its own name made readable ("ClientName[0]" -> "Client
// Name"). Checkboxes are yes/no.
func pdfFormPairs(ctx *model.Context, aliases *Aliases) []pair {
	if ctx.XRefTable.Form == nil {
		return nil
	}
	fields, _, err := form.FormFields(ctx)
	if err != nil {
		return nil
	}
	var pairs []pair
	for _, f := range fields {
		v := strings.TrimSpace(f.V)
		if f.Typ == form.FTCheckBox || f.Typ == form.FTRadioButtonGroup {
			switch strings.ToLower(v) {
			case "off", "", "false", "0":
				if f.Typ == form.FTCheckBox {
					v = "no"
				}
			case "on", "yes", "true", "1", "checked", "x":
				v = "yes"
			}
		}
		if v == "" {
			continue
		}
		name := readableFieldName(f.Name)
		label := name
		if alt := strings.TrimSpace(f.AltName); alt != "" {
			label = alt
			if _, ok := aliases.Field(alt); !ok {
				if _, ok := aliases.Field(name); ok {
					label = name
				}
			}
		}
		pairs = append(pairs, pair{label, v})
	}
	return pairs
}

var (
	fieldIndexRE = regexp.MustCompile(`\[\d+\]`)
	camelRE      = regexp.MustCompile(`([a-z0-9])([A-Z])`)
)

// readableFieldName turns "form1[0].Page1[0].ClientName[0]" into "Client
// Name" and "client_phone" into "client phone".
func readableFieldName(name string) string {
	name = fieldIndexRE.ReplaceAllString(name, "")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	name = camelRE.ReplaceAllString(name, "$1 $2")
	name = strings.NewReplacer("_", " ", "-", " ").Replace(name)
	return strings.Join(strings.Fields(name), " ")
}

// pdfText extracts the text of the first pages: the strings shown by the
// text operators of each page's content, a new line where the text moves
// down. Text in fonts without a simple encoding comes out unreadable and is
// dropped.
func (w *walker) pdfText(ctx *model.Context) (string, error) {
	var b strings.Builder
	for p := 1; p <= ctx.PageCount && p <= maxPDFPages; p++ {
		if err := w.checkDeadline(); err != nil {
			return "", err
		}
		r, err := pdfcpu.ExtractPageContent(ctx, p)
		if err != nil || r == nil {
			continue
		}
		content, err := io.ReadAll(io.LimitReader(r, w.opt.MaxUnzippedBytes))
		if err != nil {
			continue
		}
		b.WriteString(contentText(content))
		b.WriteByte('\n')
	}
	text := b.String()
	if !readable(text) {
		return "", nil
	}
	return text, nil
}

// readable tells text from glyph-id garbage: mostly letters, digits, spaces
// and common punctuation.
func readable(s string) bool {
	good, all := 0, 0
	for _, r := range s {
		all++
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || strings.ContainsRune(".,:;-()/@#&'\"?!*+%$", r) {
			good++
		}
	}
	return all > 0 && good*10 >= all*9
}

// contentText reads the text operators of a content stream (ISO 32000-1
// §9.4): Tj, TJ, ' and " show strings; Td, TD, Tm, T* and TL move the line.
func contentText(content []byte) string {
	var out strings.Builder
	var operands []any
	y, leading := 0.0, 0.0
	lastY, shown := 0.0, false
	show := func(s string) {
		if shown && abs(y-lastY) > 1 {
			out.WriteByte('\n')
		} else if shown && out.Len() > 0 && !strings.HasSuffix(out.String(), " ") && !strings.HasPrefix(s, " ") {
			out.WriteByte(' ')
		}
		out.WriteString(s)
		lastY, shown = y, true
	}
	num := func(i int) float64 {
		if i < 0 || i >= len(operands) {
			return 0
		}
		f, _ := operands[i].(float64)
		return f
	}
	lx := &pdfLexer{b: content}
	for steps := 0; steps < 2_000_000; steps++ {
		tok, ok := lx.next()
		if !ok {
			break
		}
		op, isOp := tok.(pdfOp)
		if !isOp {
			if len(operands) < 64 {
				operands = append(operands, tok)
			}
			continue
		}
		n := len(operands)
		switch op {
		case "Tj":
			if n > 0 {
				if s, ok := operands[n-1].(pdfString); ok {
					show(string(s))
				}
			}
		case "'", "\"":
			y -= leading
			if n > 0 {
				if s, ok := operands[n-1].(pdfString); ok {
					show(string(s))
				}
			}
		case "TJ":
			if n > 0 {
				if arr, ok := operands[n-1].([]any); ok {
					var s strings.Builder
					for _, e := range arr {
						switch t := e.(type) {
						case pdfString:
							s.WriteString(string(t))
						case float64:
							if t < -200 {
								s.WriteByte(' ')
							}
						}
					}
					show(s.String())
				}
			}
		case "Td":
			y += num(n - 1)
		case "TD":
			y += num(n - 1)
			leading = -num(n - 1)
		case "TL":
			leading = num(n - 1)
		case "T*":
			y -= leading
		case "Tm":
			y = num(n - 1)
		case "BT":
			y = 0
		}
		operands = operands[:0]
	}
	return out.String()
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

type (
	pdfOp     string
	pdfString string
	pdfName   string
)

// pdfLexer tokenises a content stream: numbers, strings, names, arrays,
// dictionaries (skipped) and operators.
type pdfLexer struct {
	b     []byte
	i     int
	depth int
}

func (l *pdfLexer) next() (any, bool) {
	b := l.b
	for l.i < len(b) {
		c := b[l.i]
		switch {
		case c == '%':
			for l.i < len(b) && b[l.i] != '\n' && b[l.i] != '\r' {
				l.i++
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0:
			l.i++
		case c == '(':
			return pdfString(l.literal()), true
		case c == '<' && l.i+1 < len(b) && b[l.i+1] == '<':
			l.i += 2
			l.skipDict()
			return pdfName(""), true
		case c == '<':
			return pdfString(l.hex()), true
		case c == '[':
			l.i++
			if l.depth > 32 {
				return []any{}, true
			}
			l.depth++
			var arr []any
			for len(arr) < 100000 {
				if l.i < len(b) && b[l.i] == ']' {
					l.i++
					break
				}
				t, ok := l.next()
				if !ok {
					break
				}
				if op, isOp := t.(pdfOp); isOp && op == "]" {
					break
				}
				arr = append(arr, t)
			}
			l.depth--
			return arr, true
		case c == ']':
			l.i++
			return pdfOp("]"), true
		case c == '/':
			j := l.i + 1
			for j < len(b) && !isPDFDelim(b[j]) {
				j++
			}
			name := string(b[l.i+1 : j])
			l.i = j
			return pdfName(name), true
		case c == '+' || c == '-' || c == '.' || c >= '0' && c <= '9':
			j := l.i + 1
			for j < len(b) && (b[j] == '.' || b[j] >= '0' && b[j] <= '9') {
				j++
			}
			f, _ := strconv.ParseFloat(string(b[l.i:j]), 64)
			l.i = j
			return f, true
		default:
			j := l.i + 1
			for j < len(b) && !isPDFDelim(b[j]) {
				j++
			}
			op := string(b[l.i:j])
			l.i = j
			if op == "BI" {
				l.skipInlineImage()
			}
			return pdfOp(op), true
		}
	}
	return nil, false
}

func isPDFDelim(c byte) bool {
	return strings.IndexByte(" \t\r\n\f\x00()<>[]{}/%", c) >= 0
}

// literal reads a (string) with nested parentheses and escapes (§7.3.4.2),
// decoding bytes as windows-1252 (WinAnsiEncoding, close to PDFDocEncoding).
func (l *pdfLexer) literal() string {
	b := l.b
	l.i++
	var out []byte
	depth := 1
	for l.i < len(b) {
		c := b[l.i]
		l.i++
		switch c {
		case '\\':
			if l.i >= len(b) {
				break
			}
			e := b[l.i]
			l.i++
			switch e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b', 'f':
			case '\r', '\n':
				if e == '\r' && l.i < len(b) && b[l.i] == '\n' {
					l.i++
				}
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && l.i < len(b) && b[l.i] >= '0' && b[l.i] <= '7'; k++ {
						v = v*8 + int(b[l.i]-'0')
						l.i++
					}
					out = append(out, byte(v))
				} else {
					out = append(out, e)
				}
			}
		case '(':
			depth++
			out = append(out, c)
		case ')':
			depth--
			if depth == 0 {
				return winAnsi(out)
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return winAnsi(out)
}

// hex reads a <hex string>.
func (l *pdfLexer) hex() string {
	b := l.b
	l.i++
	var out []byte
	var hi byte
	half := false
	for l.i < len(b) && b[l.i] != '>' {
		c := b[l.i]
		l.i++
		if !isHex(c) {
			continue
		}
		if half {
			out = append(out, hi<<4|unhex(c))
		} else {
			hi = unhex(c)
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4)
	}
	l.i++
	if bytes.HasPrefix(out, []byte{0xfe, 0xff}) {
		return decodeUTF16(out)
	}
	return winAnsi(out)
}

func (l *pdfLexer) skipDict() {
	depth := 1
	for l.i+1 < len(l.b) && depth > 0 {
		switch {
		case l.b[l.i] == '<' && l.b[l.i+1] == '<':
			depth++
			l.i += 2
		case l.b[l.i] == '>' && l.b[l.i+1] == '>':
			depth--
			l.i += 2
		case l.b[l.i] == '(':
			l.literal()
		default:
			l.i++
		}
	}
}

// skipInlineImage skips the data of an inline image up to EI.
func (l *pdfLexer) skipInlineImage() {
	if j := bytes.Index(l.b[l.i:], []byte("EI")); j >= 0 {
		l.i += j + 2
	} else {
		l.i = len(l.b)
	}
}

func winAnsi(b []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "")
	}
	return strings.Map(func(r rune) rune {
		if r < 32 && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, string(s))
}
