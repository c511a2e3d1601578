package parse

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Forms: JSON submissions, DOCX documents and vCards (SPEC §4).

// readJSON reads a JSON attachment: one object (flat or nested) is one
// referral; an array of objects, or an object holding one, is a batch.
// Booleans are yes/no.
func (w *walker) readJSON(data []byte, cs string) ([]Candidate, string, error) {
	dec := json.NewDecoder(strings.NewReader(w.textOf(data, cs)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "not valid JSON", nil
	}
	records := w.jsonRecords(v, 0)
	var out []Candidate
	for i, rec := range records {
		var pairs []pair
		w.flattenJSON(rec, nil, &pairs, 0)
		c := fromPairs(pairs, w.opt, w.aliases)
		if len(records) > 1 {
			c.Source = fmt.Sprintf(" item %d", i+1)
		}
		out = append(out, c)
		if len(out) > maxCandidates {
			return nil, "", &LimitError{Reason: fmt.Sprintf("more than %d referrals in one message", maxCandidates)}
		}
	}
	return out, "", nil
}

// jsonRecords finds the objects that are referrals: the objects of an array
// (at the top or under a key), else the value itself when it names a field,
// else what a nested object holds.
func (w *walker) jsonRecords(v any, depth int) []any {
	if depth > 8 {
		return nil
	}
	switch t := v.(type) {
	case []any:
		var out []any
		for _, e := range t {
			if _, ok := e.(map[string]any); ok && !isPairObject(e) {
				out = append(out, e)
			}
		}
		if len(out) > 0 {
			return out
		}
		if len(t) > 0 && isPairObject(t[0]) {
			return []any{t} // a list of {"label": ..., "value": ...}
		}
	case map[string]any:
		// An array of objects under a key ("referrals": [...]) is a batch.
		for _, k := range sortedKeys(t) {
			if arr, ok := t[k].([]any); ok {
				if rs := w.jsonRecords(arr, depth+1); len(rs) > 0 && !isPairObject(arr[0]) {
					return rs
				}
			}
		}
		var pairs []pair
		w.flattenJSON(t, nil, &pairs, 0)
		for _, p := range pairs {
			if knownLabel(w.aliases, p.label) {
				return []any{t}
			}
		}
		for _, k := range sortedKeys(t) {
			if rs := w.jsonRecords(t[k], depth+1); len(rs) > 0 {
				return rs
			}
		}
	}
	return nil
}

// isPairObject tells an object like {"label": "Client name", "value":
// "Dana"} (form tools export answers so).
func isPairObject(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, l := pairLabel(m)
	_, val := pairValue(m)
	return l && val
}

func pairLabel(m map[string]any) (string, bool) {
	for _, k := range []string{"label", "question", "title", "name", "field", "key"} {
		if s, ok := m[k].(string); ok {
			return s, true
		}
	}
	return "", false
}

func pairValue(m map[string]any) (any, bool) {
	for _, k := range []string{"value", "answer", "response", "text", "values", "answers"} {
		if v, ok := m[k]; ok {
			return v, true
		}
	}
	return nil, false
}

// flattenJSON turns nested values into label/value pairs. A key under a
// parent is tried as "parent key" first ({"client": {"phone": ...}} is
// "client phone"); under a referrer section it stays the referrer's.
func (w *walker) flattenJSON(v any, path []string, out *[]pair, depth int) {
	if depth > 16 || len(*out) > 2000 {
		return
	}
	label := func() string {
		if len(path) == 0 {
			return ""
		}
		key := path[len(path)-1]
		if len(path) > 1 {
			parent := path[len(path)-2]
			joined := parent + " " + key
			if _, ok := w.aliases.Field(joined); ok || referrerSections[labelKey(parent)] {
				return joined
			}
		}
		return key
	}
	switch t := v.(type) {
	case map[string]any:
		if isPairObject(t) {
			l, _ := pairLabel(t)
			val, _ := pairValue(t)
			w.flattenJSON(val, append(path[:len(path):len(path)], l), out, depth+1)
			return
		}
		for _, k := range sortedKeys(t) {
			w.flattenJSON(t[k], append(path[:len(path):len(path)], k), out, depth+1)
		}
	case []any:
		var scalars []string
		for _, e := range t {
			switch e.(type) {
			case map[string]any, []any:
				w.flattenJSON(e, path, out, depth+1)
			default:
				if s := jsonScalar(e); s != "" {
					scalars = append(scalars, s)
				}
			}
		}
		if len(scalars) > 0 && len(path) > 0 {
			*out = append(*out, pair{label(), strings.Join(scalars, "; ")})
		}
	default:
		if s := jsonScalar(t); s != "" && len(path) > 0 {
			*out = append(*out, pair{label(), s})
		}
	}
}

func jsonScalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		if t {
			return "yes"
		}
		return "no"
	case json.Number:
		return t.String()
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readDOCX reads the document part of a Word file (a zip, checked first):
// label/value table rows and "Label: value" paragraphs, or a table with a
// header row and one referral per row.
func (w *walker) readDOCX(data []byte) ([]Candidate, string, error) {
	if problem, err := w.checkZip(data); problem != "" || err != nil {
		return nil, problem, err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, "not a readable Word document", nil
	}
	doc, found, err := readZipFile(zr, "word/document.xml", w.opt.MaxUnzippedBytes)
	switch {
	case err == errTooBig:
		w.overLimit(fmt.Sprintf("an attachment unzips to more than %d bytes", w.opt.MaxUnzippedBytes))
		return nil, "it unzips to more than the limit", nil
	case !found:
		return nil, "not a Word document (no word/document.xml)", nil
	case err != nil:
		return nil, "not a readable Word document", nil
	}
	text, tables, ok := docxText(doc, w.aliases)
	if !ok {
		return nil, "not a readable Word document", nil
	}
	var out []Candidate
	for i, t := range tables {
		where := ""
		if len(tables) > 1 {
			where = fmt.Sprintf(" table %d", i+1)
		}
		cs, err := w.table(t, where)
		if err != nil {
			return nil, "", err
		}
		out = append(out, cs...)
	}
	if len(out) > 0 {
		return out, "", nil
	}
	return []Candidate{parseText(text, w.opt, w.aliases)}, "", nil
}

// docxText renders WordprocessingML as text: paragraphs as lines, two-cell
// table rows as "| label | value |" lines, four- and six-cell rows as that
// many pairs. Tables of three or more columns whose first row is a header
// (most cells name fields) are also returned as rows.
func docxText(doc []byte, aliases *Aliases) (string, [][][]string, bool) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	var out strings.Builder
	type table struct {
		rows [][]string
		row  []string
		cell *strings.Builder
	}
	var stack []*table
	var para strings.Builder
	var batches [][][]string
	inText := false
	emit := func(s string) {
		if len(stack) > 0 && stack[len(stack)-1].cell != nil {
			c := stack[len(stack)-1].cell
			if c.Len() > 0 && s == "\n" {
				c.WriteByte(' ')
				return
			}
			if s != "\n" {
				c.WriteString(s)
			}
			return
		}
		para.WriteString(s)
	}
	for n := 0; ; n++ {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil || n > 5_000_000 {
			if out.Len() == 0 && para.Len() == 0 {
				return "", nil, false
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "tbl":
				stack = append(stack, &table{})
			case "tr":
				if len(stack) > 0 {
					stack[len(stack)-1].row = nil
				}
			case "tc":
				if len(stack) > 0 {
					stack[len(stack)-1].cell = &strings.Builder{}
				}
			case "t":
				inText = true
			case "tab":
				emit(" ")
			case "br", "cr":
				emit("\n")
			case "sym":
				for _, a := range t.Attr {
					if a.Name.Local == "char" {
						switch strings.ToUpper(a.Value) {
						case "F0FE", "F078", "2612", "F0FD":
							emit("☒")
						case "F0A8", "F06F", "2610":
							emit("☐")
						}
					}
				}
			case "checked", "default":
				// A legacy form checkbox (w:ffData/w:checkBox) has no glyph.
				val := "1"
				for _, a := range t.Attr {
					if a.Name.Local == "val" {
						val = a.Value
					}
				}
				if t.Name.Space != "" && strings.Contains(t.Name.Space, "2010/wordml") {
					break // w14:checked: the run text holds the glyph
				}
				if val == "1" || val == "true" || val == "on" {
					emit("☒ ")
				} else {
					emit("☐ ")
				}
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				if len(stack) > 0 && stack[len(stack)-1].cell != nil {
					emit("\n")
				} else {
					out.WriteString(para.String())
					out.WriteByte('\n')
					para.Reset()
				}
			case "tc":
				if len(stack) > 0 && stack[len(stack)-1].cell != nil {
					tb := stack[len(stack)-1]
					tb.row = append(tb.row, strings.TrimSpace(tb.cell.String()))
					tb.cell = nil
				}
			case "tr":
				if len(stack) > 0 {
					tb := stack[len(stack)-1]
					out.WriteString(rowLines(tb.row))
					if len(tb.rows) < maxTableRows {
						tb.rows = append(tb.rows, tb.row)
					}
					tb.row = nil
				}
			case "tbl":
				if len(stack) > 0 {
					tb := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					if isHeaderTable(tb.rows, aliases) {
						batches = append(batches, tb.rows)
					}
					out.WriteByte('\n')
				}
			}
		case xml.CharData:
			if inText {
				emit(string(t))
			}
		}
	}
	out.WriteString(para.String())
	return validUTF8(out.String()), batches, true
}

// rowLines renders one table row as label/value lines.
func rowLines(cells []string) string {
	var nonEmpty []string
	for _, c := range cells {
		nonEmpty = append(nonEmpty, strings.ReplaceAll(c, "|", "/"))
	}
	var b strings.Builder
	switch n := len(nonEmpty); {
	case n == 0:
	case n == 1:
		b.WriteString(nonEmpty[0] + "\n")
	case n%2 == 0 && n <= 8:
		for i := 0; i < n; i += 2 {
			fmt.Fprintf(&b, "| %s | %s |\n", nonEmpty[i], nonEmpty[i+1])
		}
	default:
		fmt.Fprintf(&b, "| %s | %s |\n", nonEmpty[0], strings.Join(nonEmpty[1:], " "))
	}
	return b.String()
}

// isHeaderTable: three or more columns, more than one data row, and a first
// row most of whose cells name fields (checked again by walker.table).
func isHeaderTable(rows [][]string, aliases *Aliases) bool {
	if len(rows) < 2 || len(rows[0]) < 3 {
		return false
	}
	known := 0
	for _, c := range rows[0] {
		if knownLabel(aliases, c) {
			known++
		}
	}
	return known >= 2 && 2*known > len(rows[0])
}

// readVCard reads the client's contact card (RFC 6350; vCard 2.1 and 3.0
// too): name, phone, email, ZIP and birthday. Each card is a candidate.
func (w *walker) readVCard(data []byte, cs string) ([]Candidate, string, error) {
	text := strings.ReplaceAll(w.textOf(data, cs), "\r\n", "\n")
	// Unfold (RFC 6350 §3.2), and vCard 2.1 quoted-printable soft breaks.
	text = strings.NewReplacer("\n ", "", "\n\t", "").Replace(text)
	text = strings.ReplaceAll(text, "=\n", "")
	var out []Candidate
	var pairs []pair
	var phones []string
	in := false
	flush := func() {
		if len(phones) > 0 {
			pairs = append(pairs, pair{"phone", phones[0]})
		}
		if c := fromPairs(pairs, w.opt, w.aliases); len(c.Fields) > 0 {
			out = append(out, c)
		}
		pairs, phones = nil, nil
	}
	for _, line := range strings.Split(text, "\n") {
		name, params, value, ok := vcardLine(line)
		if !ok {
			continue
		}
		switch name {
		case "BEGIN":
			in, pairs, phones = true, nil, nil
			continue
		case "END":
			if in {
				flush()
			}
			in = false
			continue
		}
		if !in {
			continue
		}
		if strings.Contains(strings.ToUpper(params), "QUOTED-PRINTABLE") {
			value = toUTF8(string(decodeQP([]byte(value))))
		}
		raw := value
		value = vcardUnescape(raw)
		switch name {
		case "FN":
			pairs = append(pairs, pair{"client name", value})
		case "N":
			p := strings.Split(raw, ";")
			if len(p) > 1 {
				pairs = append(pairs, pair{"first name", vcardUnescape(p[1])}, pair{"last name", vcardUnescape(p[0])})
			}
		case "TEL":
			value = strings.TrimPrefix(value, "tel:")
			if strings.Contains(strings.ToUpper(params), "CELL") {
				phones = append([]string{value}, phones...)
			} else {
				phones = append(phones, value)
			}
		case "EMAIL":
			pairs = append(pairs, pair{"email", value})
		case "ADR":
			if p := strings.Split(raw, ";"); len(p) > 5 {
				pairs = append(pairs, pair{"zip", vcardUnescape(p[5])})
			}
		case "BDAY":
			pairs = append(pairs, pair{"date of birth", value})
		case "LANG":
			pairs = append(pairs, pair{"language", value})
		}
		if len(out) > maxCandidates {
			return nil, "", &LimitError{Reason: fmt.Sprintf("more than %d referrals in one message", maxCandidates)}
		}
	}
	if in {
		flush() // no END:VCARD
	}
	if len(out) == 0 {
		return nil, "no contact details in the card", nil
	}
	return out, "", nil
}

// vcardLine splits "group.NAME;PARAMS:value".
func vcardLine(line string) (name, params, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", "", "", false
	}
	head := line[:i]
	if j := strings.IndexByte(head, ';'); j >= 0 {
		head, params = head[:j], head[j+1:]
	}
	if j := strings.LastIndexByte(head, '.'); j >= 0 {
		head = head[j+1:]
	}
	return strings.ToUpper(strings.TrimSpace(head)), params, strings.TrimSpace(line[i+1:]), true
}

func vcardUnescape(s string) string {
	return strings.NewReplacer(`\n`, " ", `\N`, " ", `\,`, ",", `\;`, ";", `\\`, `\`).Replace(s)
}
