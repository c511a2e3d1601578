package parse

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Tables: CSV and XLSX attachments, one referral per row, the header row
// naming the fields (SPEC §4).

// pair is one label and its value, from a table cell, a form field or a
// JSON key.
type pair struct{ label, value string }

// fromPairs builds a candidate from label/value pairs with the same rules
// as "Label: value" lines: the one alias table, normalisation, masking,
// first and last name parts, unknown labels kept as Extra.
func fromPairs(pairs []pair, opt Options, aliases *Aliases) Candidate {
	p := &textParser{opt: opt, aliases: aliases, parts: map[string]string{},
		c: Candidate{Fields: map[string]string{}}}
	for _, pr := range pairs {
		label := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(pr.label), ":*"))
		if label == "" || strings.TrimSpace(pr.value) == "" {
			continue
		}
		v := &pendingValue{label: prefixOf(label, 120)}
		if f, ok := aliases.Field(label); ok {
			v.field = f
		}
		v.add(pr.value, false)
		p.finish(v)
	}
	p.complete()
	return p.c
}

// knownLabel tells whether a header cell names a field or a part of one.
func knownLabel(aliases *Aliases, label string) bool {
	if _, ok := aliases.Field(label); ok {
		return true
	}
	_, ok := labelParts[labelKey(label)]
	return ok
}

// table turns rows into candidates. The header is the first of the top ten
// rows naming at least two fields; each later non-empty row is a referral
// whose Source ends " row N" (N as the sender's spreadsheet numbers it).
// A two-column sheet of labels and values is one referral.
func (w *walker) table(rows [][]string, where string) ([]Candidate, error) {
	header, best := -1, 1
	for i := 0; i < len(rows) && i < 10; i++ {
		n := 0
		for _, cell := range rows[i] {
			if knownLabel(w.aliases, cell) {
				n++
			}
		}
		if n > best {
			header, best = i, n
		}
	}
	if header < 0 {
		return w.verticalTable(rows, where), nil
	}
	var out []Candidate
	labels := rows[header]
	for i := header + 1; i < len(rows); i++ {
		if i%100 == 0 {
			if err := w.checkDeadline(); err != nil {
				return nil, err
			}
		}
		var pairs []pair
		for j, cell := range rows[i] {
			if j < len(labels) && strings.TrimSpace(cell) != "" {
				pairs = append(pairs, pair{labels[j], cell})
			}
		}
		if len(pairs) == 0 {
			continue
		}
		c := fromPairs(pairs, w.opt, w.aliases)
		if len(c.Fields) == 0 {
			continue
		}
		c.Source = fmt.Sprintf("%s row %d", where, i+1)
		out = append(out, c)
		if len(out) > maxCandidates {
			return nil, &LimitError{Reason: fmt.Sprintf("more than %d referrals in one message", maxCandidates)}
		}
	}
	return out, nil
}

// verticalTable reads a sheet whose first column holds labels and whose
// second holds values: one referral.
func (w *walker) verticalTable(rows [][]string, where string) []Candidate {
	var pairs []pair
	known := 0
	for _, r := range rows {
		if len(r) < 2 {
			continue
		}
		if knownLabel(w.aliases, r[0]) {
			known++
		}
		pairs = append(pairs, pair{r[0], strings.Join(r[1:], " ")})
	}
	if known < 2 {
		return nil
	}
	c := fromPairs(pairs, w.opt, w.aliases)
	c.Source = where
	return []Candidate{c}
}

// readCSV reads a CSV (or TSV) attachment: any of the usual delimiters,
// quoting, a UTF-8 BOM or UTF-16 text as Excel writes it.
func (w *walker) readCSV(data []byte, cs string) ([]Candidate, string, error) {
	text := w.textOf(data, cs)
	if strings.TrimSpace(text) == "" {
		return nil, "the file is empty", nil
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = sniffDelimiter(text)
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	var rows [][]string
	for len(rows) < maxTableRows {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && len(rows) > 0 {
				continue // one bad line; the rest is readable
			}
			return nil, "not a readable CSV file", nil
		}
		rows = append(rows, rec)
	}
	cands, err := w.table(rows, "")
	if err != nil {
		return nil, "", err
	}
	return cands, "", nil
}

// textOf decodes a text attachment: a BOM tells UTF-8 or UTF-16; otherwise
// the declared charset, then UTF-8, then windows-1252.
func (w *walker) textOf(data []byte, cs string) string {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return decodeUTF16(data)
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		return strings.ToValidUTF8(string(data[3:]), "\uFFFD")
	}
	return w.decodeCharset(cs, data)
}

// decodeUTF16 decodes UTF-16 text that starts with a byte order mark.
func decodeUTF16(b []byte) string {
	be := b[0] == 0xfe
	b = b[2:]
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if be {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			u = append(u, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD")
}

// sniffDelimiter picks the delimiter of a CSV file: of comma, semicolon,
// tab and pipe, the one that appears (outside quotes) on the most of the
// first lines with the same count as on the first.
func sniffDelimiter(text string) rune {
	lines := make([]string, 0, 5)
	for _, l := range strings.SplitN(text, "\n", 50) {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
		if len(lines) == 5 {
			break
		}
	}
	best, bestScore := ',', -1
	for _, d := range []rune{',', ';', '\t', '|'} {
		first := -1
		score := 0
		for _, l := range lines {
			n := countOutsideQuotes(l, d)
			if first < 0 {
				first = n
				if n == 0 {
					break
				}
			}
			if n == first {
				score += n + 1
			}
		}
		if first > 0 && score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

func countOutsideQuotes(line string, d rune) int {
	n, quoted := 0, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == d && !quoted:
			n++
		}
	}
	return n
}

// readXLSX reads every sheet of a workbook that has a header row. The zip
// is checked first (see checkZip); excelize then reads it in memory only.
func (w *walker) readXLSX(data []byte) ([]Candidate, string, error) {
	if problem, err := w.checkZip(data); problem != "" || err != nil {
		return nil, problem, err
	}
	limit := w.opt.MaxUnzippedBytes
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: limit, UnzipXMLSizeLimit: limit})
	if err != nil {
		return nil, "not a readable XLSX workbook", nil
	}
	defer f.Close()
	sheets := f.GetSheetList()
	var out []Candidate
	for _, sheet := range sheets {
		if err := w.checkDeadline(); err != nil {
			return nil, "", err
		}
		rows, err := sheetRows(f, sheet)
		if err != nil {
			continue
		}
		where := ""
		if len(sheets) > 1 {
			where = " sheet " + prefixOf(sheet, 40)
		}
		cs, err := w.table(rows, where)
		if err != nil {
			return nil, "", err
		}
		out = append(out, cs...)
	}
	return out, "", nil
}

// sheetRows reads at most maxTableRows rows of a sheet, as displayed.
func sheetRows(f *excelize.File, sheet string) ([][]string, error) {
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var rows [][]string
	for it.Next() && len(rows) < maxTableRows {
		cols, err := it.Columns()
		if err != nil {
			return rows, err
		}
		if len(cols) > 200 {
			cols = cols[:200]
		}
		rows = append(rows, cols)
	}
	return rows, it.Error()
}

// checkZip reads a zip's directory without trusting it: too many entries or
// more declared bytes than Options.MaxUnzippedBytes is a limit (a zip bomb).
// archive/zip itself fails a file that inflates past its declared size.
func (w *walker) checkZip(data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0")) {
			return "the file is password-protected or in an old Office format; please send it without a password as XLSX, DOCX or CSV", nil
		}
		return "not a readable zip archive", nil
	}
	if len(zr.File) > 10000 {
		w.overLimit(fmt.Sprintf("an attachment is a zip of more than %d files", 10000))
		return "too many files in the archive", nil
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > uint64(w.opt.MaxUnzippedBytes) || f.UncompressedSize64 > uint64(w.opt.MaxUnzippedBytes) {
			w.overLimit(fmt.Sprintf("an attachment unzips to more than %d bytes", w.opt.MaxUnzippedBytes))
			return "it unzips to more than the limit", nil
		}
	}
	return "", nil
}

// zipKind tells an XLSX from a DOCX by the parts the zip holds.
func zipKind(r io.ReaderAt, size int64) string {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return kindOther
	}
	for i, f := range zr.File {
		if i > 200 {
			break
		}
		switch strings.ToLower(f.Name) {
		case "word/document.xml":
			return kindDOCX
		case "xl/workbook.xml":
			return kindXLSX
		}
	}
	return kindOther
}

// readZipFile reads one file of a zip, at most limit bytes.
func readZipFile(zr *zip.Reader, name string, limit int64) ([]byte, bool, error) {
	for _, f := range zr.File {
		if !strings.EqualFold(strings.ReplaceAll(f.Name, `\`, "/"), name) {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, true, err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if int64(len(b)) > limit {
			return nil, true, errTooBig
		}
		return b, true, err
	}
	return nil, false, nil
}

// validUTF8 is utf8.Valid for strings, for readers that build text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
