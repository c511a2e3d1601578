package parse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// labelLine is one "Label: value" line.
type labelLine struct {
	label   string // as written, without markers
	value   string // trimmed, may be empty
	valueAt int    // byte offset of the value in the line
	bullet  bool   // the line started with a list marker
}

// ParseText reads "Label: value" lines from plain text (SPEC §4): any case,
// with or without bullets, numbering, "|" table cells and bold markers. Known
// labels become Fields (normalised), unknown labels Extra. A value continues
// on following indented lines and, for needs, notes and best_time, on any
// following line that is not a label; a blank line or the next label ends
// it. The Candidate's Source is "body".
func ParseText(text string, opt Options) Candidate {
	return parseText(text, opt, NewAliases(opt.Aliases))
}

// pendingValue is a label whose value may still continue on the next lines.
type pendingValue struct {
	label  string
	field  string // canonical field, or "" for extra and part labels
	indent int
	free   bool // free text: continues on any non-label line
	value  string
	joined bool   // a second line was added: the value is in buf
	buf    []byte // kept from value to value (see start)
}

// start makes p a new value of label, keeping only its buffer: a text
// parser reads one value at a time, into the same pendingValue.
func (p *pendingValue) start(label string, indent int) *pendingValue {
	*p = pendingValue{label: label, indent: indent, buf: p.buf[:0]}
	return p
}

func (p *pendingValue) add(s string, bullet bool) {
	s = cleanValue(s)
	switch {
	case s == "":
	case p.value == "" && !p.joined:
		p.value = s // most values are one line: no copy
	default:
		if !p.joined {
			p.joined = true
			p.buf = append(p.buf[:0], p.value...)
		}
		if bullet {
			p.buf = append(p.buf, "; "...)
		} else {
			p.buf = append(p.buf, ' ')
		}
		p.buf = append(p.buf, s...)
	}
}

// String is the value so far.
func (p *pendingValue) String() string {
	if p.joined {
		return string(p.buf)
	}
	return p.value
}

// textParser assembles one Candidate.
type textParser struct {
	opt     Options
	aliases *Aliases
	c       Candidate
	parts   map[string]string // first_name, last_name, contact
	address string
	section string       // "", sectionClient or sectionReferrer
	pending pendingValue // the value parseLines is reading (its cur)
}

const (
	sectionClient   = "client"
	sectionReferrer = "referrer"
)

// Section headings of referral forms: under a referrer heading, a plain
// "Name:" or "Phone:" is the caseworker's, not the client's.
var (
	referrerSections = map[string]bool{
		"referrer": true, "referrerinformation": true, "referrerinfo": true, "referrerdetails": true,
		"referrercontact": true, "referringagency": true, "referringagencyinformation": true,
		"referringworker": true, "referringstaff": true, "referringcaseworker": true, "referralsource": true,
		"referralsourceinformation": true, "referredby": true, "caseworker": true, "caseworkerinformation": true,
		"caseworkerinfo": true, "casemanager": true, "casemanagerinformation": true, "agencyinformation": true,
		"agencyinfo": true, "referringpartner": true, "workerinformation": true, "staffinformation": true,
		"partneragency": true, "referringorganization": true, "referringorganizationinformation": true,
	}
	clientSections = map[string]bool{
		"client": true, "clientinformation": true, "clientinfo": true, "clientdetails": true, "clientcontact": true,
		"clientcontactinformation": true, "participant": true, "participantinformation": true, "customer": true,
		"customerinformation": true, "applicant": true, "applicantinformation": true, "abouttheclient": true,
		"aboutclient": true, "clientdemographics": true, "personreferred": true, "referralinformation": true,
		"referraldetails": true,
	}
)

// sectionHeading recognises a heading line such as "Referrer information",
// "CLIENT:" or "--- Client details ---".
func sectionHeading(raw string, ll labelLine, isLabel bool) (string, bool) {
	var text string
	switch {
	case isLabel && ll.value == "":
		text = ll.label
	case !isLabel:
		text, _ = stripMarkers(raw)
		if len(text) > 60 {
			return "", false
		}
		text = strings.Trim(text, " \t-=#*_:|")
	default:
		return "", false
	}
	var buf [64]byte
	switch key := appendLabelKey(buf[:0], text); {
	case referrerSections[string(key)]:
		return sectionReferrer, true
	case clientSections[string(key)]:
		return sectionClient, true
	}
	return "", false
}

// referrerField maps a generic label under a referrer heading to the
// referrer's fields; labels that name the client keep their field.
func referrerField(field, label string) (string, string) {
	key := labelKey(label)
	for _, w := range []string{"client", "participant", "customer", "applicant"} {
		if strings.Contains(key, w) {
			return field, label
		}
	}
	switch field {
	case "client_name":
		return "referrer_name", label
	case "client_phone":
		return "referrer_phone", label
	case "client_email":
		return "", "Referrer email"
	}
	return field, label
}

func parseText(text string, opt Options, aliases *Aliases) Candidate {
	return parseLines(strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), opt, aliases)
}

// parseLines is parseText on text split at its line ends.
func parseLines(lines []string, opt Options, aliases *Aliases) Candidate {
	p := &textParser{opt: opt, aliases: aliases, parts: map[string]string{},
		c: Candidate{Source: "body", Fields: map[string]string{}}}
	var cur *pendingValue
	for i, raw := range lines {
		raw = lineEnd.trimRight(raw)
		if strings.TrimSpace(quoteBlank.trim(raw)) == "" {
			p.finish(cur)
			cur = nil
			continue
		}
		if isPipeSeparator(raw) {
			continue
		}
		if isPipeRow(raw) && i+1 < len(lines) && isPipeSeparator(lines[i+1]) {
			p.finish(cur) // the header row of a Markdown table
			cur = nil
			continue
		}
		ll, isLabel := splitLabelLine(raw)
		indent := indentOf(raw)
		if sec, ok := sectionHeading(raw, ll, isLabel); ok {
			p.finish(cur)
			cur = nil
			p.section = sec
			if !isLabel {
				continue
			}
			// "Client:" may still take its value from an indented next line.
		}
		// The field a label stands for, looked up once for both uses below.
		var field string
		known := false
		if isLabel {
			field, known = aliases.Field(ll.label)
		}
		if cur != nil {
			if indent > cur.indent && !(isLabel && known) || cur.free && !isLabel {
				body, bullet := stripMarkers(raw)
				cur.add(body, bullet)
				continue
			}
		}
		p.finish(cur)
		cur = nil
		if !isLabel {
			continue
		}
		cur = p.pending.start(ll.label, indent)
		if f := field; known {
			if p.section == sectionReferrer {
				f, cur.label = referrerField(f, ll.label)
			}
			cur.field = f
			cur.free = f == "needs" || f == "notes" || f == "best_time"
		}
		cur.add(ll.value, false)
	}
	p.finish(cur)
	p.complete()
	return p.c
}

// finish stores a finished value.
func (p *textParser) finish(v *pendingValue) {
	if v == nil {
		return
	}
	var buf [64]byte
	key := appendLabelKey(buf[:0], v.label)
	raw := v.String()
	if v.field == "" {
		if part, ok := labelParts[string(key)]; ok && p.section != sectionReferrer {
			val, note := Normalize(v.label, raw, p.opt)
			p.note(note)
			if val != "" && p.parts[part] == "" {
				p.parts[part] = val
			}
			return
		}
		if headerLabels[string(key)] {
			return // a quoted or forwarded mail header, not referral data
		}
		val, note := Normalize(v.label, raw, p.opt)
		p.note(note)
		if val == "" {
			return
		}
		name := strings.TrimSpace(strings.TrimRight(v.label, ":?"))
		if masked, k := maskDigits(name, false); k != notSensitive {
			name = masked
			p.note(k.note(name))
		}
		if p.c.Extra == nil {
			p.c.Extra = map[string]string{}
		}
		if _, dup := p.c.Extra[name]; !dup {
			p.c.Extra[name] = val
		}
		if addressKeys[string(key)] && p.address == "" && p.section != sectionReferrer {
			p.address = val
		}
		return
	}
	val, note := Normalize(v.field, raw, p.opt)
	p.note(note)
	if val == "" {
		return
	}
	old, dup := p.c.Fields[v.field]
	switch {
	case !dup:
		p.c.Fields[v.field] = val
	case (v.field == "needs" || v.field == "notes") && !strings.Contains(old, val):
		p.c.Fields[v.field] = old + "; " + val
	}
}

// complete fills fields from part labels: first and last name, a contact
// line, the ZIP of an address.
func (p *textParser) complete() {
	f := p.c.Fields
	if f["client_name"] == "" {
		name := strings.TrimSpace(p.parts["first_name"] + " " + p.parts["last_name"])
		if name != "" {
			f["client_name"] = name
		}
	}
	if contact := p.parts["contact"]; contact != "" {
		used := false
		if m := emailRE.FindString(contact); m != "" {
			used = true
			if f["client_email"] == "" {
				f["client_email"] = NormalizeEmail(m)
			}
		}
		rest := emailRE.ReplaceAllString(contact, " ")
		if ph := NormalizePhone(rest, p.opt.CountryCode); ph != strings.TrimSpace(rest) {
			used = true
			if f["client_phone"] == "" {
				f["client_phone"] = ph
			}
		}
		if !used {
			if p.c.Extra == nil {
				p.c.Extra = map[string]string{}
			}
			p.c.Extra["Contact"] = contact
		}
	}
	if f["client_zip"] == "" && p.address != "" {
		if m := zipRE.FindAllStringSubmatch(p.address, -1); len(m) > 0 {
			f["client_zip"] = m[len(m)-1][1]
		}
	}
}

func (p *textParser) note(n string) {
	if n == "" {
		return
	}
	for _, old := range p.c.Notes {
		if old == n {
			return
		}
	}
	p.c.Notes = append(p.c.Notes, n)
}

// indentOf is the width of the line's leading white space (a tab counts 4).
func indentOf(s string) int {
	n := 0
	for _, r := range s {
		switch r {
		case ' ', '\u00a0':
			n++
		case '\t':
			n += 4
		default:
			return n
		}
	}
	return n
}

// stripMarkers removes leading white space, list bullets, numbering, heading
// marks and bold markers; bullet tells whether a list marker was there.
func stripMarkers(s string) (rest string, bullet bool) {
	rest, _, bullet = stripMarkersAt(s)
	return rest, bullet
}

func stripMarkersAt(s string) (rest string, at int, bullet bool) {
	i := 0
	for guard := 0; guard < 8; guard++ {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if strings.HasPrefix(s[i:], "\u00a0") {
			i += 2
			continue
		}
		t := s[i:]
		switch {
		case strings.HasPrefix(t, "**") || strings.HasPrefix(t, "__"):
			i += 2
			continue
		case t == "":
		default:
			r, n := utf8.DecodeRuneInString(t)
			if isBulletRune(r) && (n == len(t) || t[n] == ' ' || t[n] == '\t') {
				i += n
				bullet = true
				continue
			}
			if r == '*' || r == '_' { // *bold* as Gmail writes it in plain text
				i += n
				continue
			}
			if r == '#' {
				j := strings.IndexFunc(t, func(r rune) bool { return r != '#' })
				if j > 0 && (t[j] == ' ' || t[j] == '\t') {
					i += j
					continue
				}
			}
			if n := numbering(t); n > 0 {
				i += n
				bullet = true
				continue
			}
		}
		break
	}
	return s[i:], i, bullet
}

// isBulletRune tells whether r is a list bullet: one of "-*•·◦▪‣–—+»" (a
// switch, not strings.ContainsRune: stripMarkersAt asks for every line).
func isBulletRune(r rune) bool {
	switch r {
	case '-', '*', '•', '·', '◦', '▪', '‣', '–', '—', '+', '»':
		return true
	}
	return false
}

// numbering returns the length of a list number like "1." "12)" "a)".
func numbering(t string) int {
	j := 0
	for j < len(t) && j < 3 && isDigit(t[j]) {
		j++
	}
	if j == 0 && len(t) > 1 && (t[0] >= 'a' && t[0] <= 'z' || t[0] >= 'A' && t[0] <= 'Z') && t[1] == ')' {
		j = 1
	}
	if j == 0 || j >= len(t) || (t[j] != '.' && t[j] != ')') {
		return 0
	}
	if j+1 < len(t) && t[j+1] != ' ' && t[j+1] != '\t' {
		return 0
	}
	return j + 1
}

// splitLabelLine reads one "Label: value" line, or a two-cell "| Label |
// value |" row.
func splitLabelLine(line string) (labelLine, bool) {
	if isPipeRow(line) {
		return splitPipeRow(line)
	}
	s, at, bullet := stripMarkersAt(line)
	c, w := labelColon(s)
	if c < 0 {
		return labelLine{}, false
	}
	label := strings.TrimSpace(boldMarks.trim(strings.TrimSpace(s[:c])))
	if !validLabel(label) {
		return labelLine{}, false
	}
	v := s[c+w:]
	if strings.HasPrefix(v, "//") {
		return labelLine{}, false // a URL, not a label
	}
	skip := len(v) - len(valueLead.trimLeft(v))
	value := strings.TrimSpace(valueTail.trimRight(v[skip:]))
	return labelLine{label: label, value: value, valueAt: at + c + w + skip, bullet: bullet}, true
}

// labelColon finds the colon ending a label: the first ":" (or full-width
// "：") that is not part of a time ("10:30") and comes within 48 bytes. It
// returns the colon's offset and width.
func labelColon(s string) (int, int) {
	for i := 0; i < len(s) && i < 48; i++ {
		if s[i] == ':' {
			if i > 0 && isDigit(s[i-1]) && i+1 < len(s) && isDigit(s[i+1]) {
				return -1, 0
			}
			return i, 1
		}
		if s[i] == "："[0] && strings.HasPrefix(s[i:], "：") {
			return i, len("：")
		}
	}
	return -1, 0
}

// validLabel: one to six words, at most 40 bytes, starting with a letter, no
// "@" or sentence punctuation.
func validLabel(label string) bool {
	if label == "" || len(label) > 40 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(label)
	if !unicode.IsLetter(r) {
		return false
	}
	if n := countFields(label); n < 1 || n > 6 {
		return false
	}
	for i := 0; i < len(label); i++ {
		switch label[i] {
		case '@', ',', ';', '!', '"', '=', '<', '>', '[', ']', '{', '}', '|', '\\':
			return false
		}
	}
	if i := strings.IndexByte(label, '?'); i >= 0 && i != len(label)-1 {
		return false
	}
	var buf [64]byte
	return len(appendLabelKey(buf[:0], label)) > 0
}

// countFields is len(strings.Fields(s)), without making the slice.
func countFields(s string) int {
	n, inField := 0, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			inField = false
		} else if !inField {
			inField = true
			n++
		}
	}
	return n
}

func isPipeRow(line string) bool {
	t := strings.TrimSpace(line)
	return len(t) > 1 && t[0] == '|'
}

// isPipeSeparator matches a Markdown table rule like "|---|:---:|".
func isPipeSeparator(line string) bool {
	t := strings.TrimSpace(line)
	if len(t) < 3 || (t[0] != '|' && t[0] != '-' && t[0] != ':') || !strings.Contains(t, "-") {
		return false
	}
	return strings.Trim(t, "|-: \t") == ""
}

func splitPipeRow(line string) (labelLine, bool) {
	t := strings.TrimSpace(line)
	off := strings.Index(line, t) + 1
	t = t[1:]
	cells := strings.Split(strings.TrimSuffix(strings.TrimSpace(t), "|"), "|")
	switch len(cells) {
	case 1:
		ll, ok := splitLabelLine(cells[0])
		ll.valueAt += off
		return ll, ok
	case 2:
		label := strings.TrimSpace(strings.Trim(strings.TrimSpace(cells[0]), "*_"))
		label = strings.TrimSpace(strings.TrimSuffix(label, ":"))
		label = strings.TrimSpace(strings.Trim(label, "*_"))
		if !validLabel(label) {
			return labelLine{}, false
		}
		at := off + len(cells[0]) + 1
		v := cells[1]
		skip := len(v) - len(strings.TrimLeft(v, " \t*_"))
		return labelLine{label: label, value: cleanValue(v), valueAt: at + skip}, true
	}
	return labelLine{}, false
}
