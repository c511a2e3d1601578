package parse

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Normalize cleans one field's value: trimmed, then by field phone to
// national digits, email lower-cased, yes/no words to "yes"/"no", date of
// birth to YYYY-MM-DD, ZIP to five digits, age to digits. field is a canonical
// name or, for extra fields, the label as written. SSN-like and account-like
// values are masked in every field; note is non-empty when that happened.
// An empty value means "not given".
func Normalize(field, value string, opt Options) (string, string) {
	v := cleanValue(value)
	v, note := maskValue(field, v)
	if v == removed {
		return v, note
	}
	if isPlaceholder(v) {
		if field == "crisis" || field == "consent" || field == "share_outcomes" {
			if yn, ok := YesNo(v); ok {
				return yn, note
			}
		}
		return "", note
	}
	switch field {
	case "client_phone", "referrer_phone":
		// Digits only, unless that would read as an SSN or account number
		// (a nine-digit national number): then as written.
		if p := NormalizePhone(v, opt.CountryCode); !looksSensitive(p) {
			v = p
		}
	case "client_email":
		v = NormalizeEmail(v)
	case "consent", "crisis", "share_outcomes":
		if yn, ok := YesNo(v); ok {
			v = yn
		}
	case "date_of_birth":
		now := opt.Now
		if now.IsZero() {
			now = time.Now()
		}
		if d, ok := parseDate(v, now); ok {
			v = d
		}
	case "client_zip":
		if m := zipRE.FindStringSubmatch(v); m != nil {
			v = m[1]
		}
	case "age":
		if m := ageRE.FindString(v); m != "" {
			v = strings.TrimLeft(m, "0")
			if v == "" {
				v = "0"
			}
		}
	}
	return v, note
}

// cleanValue trims a value, collapses runs of white space and drops
// Markdown bold markers around it.
func cleanValue(s string) string {
	s = collapseSpace(s)
	s = strings.TrimSpace(boldMarks.trim(s))
	if strings.HasPrefix(s, "\"") && strings.HasSuffix(s, "\"") && len(s) >= 2 {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

func isPlaceholder(s string) bool {
	t := placeholderCut.trim(s)
	if len(t) > 32 {
		// Longer than any placeholder even written with the few
		// letters whose lower case is shorter ("K" as the Kelvin sign):
		// no need to lower a whole paragraph of notes.
		return false
	}
	var buf [32]byte
	if lower, ok := appendLowerASCII(buf[:0], t); ok {
		return placeholders[string(lower)] // no string made of it
	}
	return placeholders[strings.ToLower(t)]
}

// placeholders are the values isPlaceholder takes for "not given", in
// lower case. Read-only.
var placeholders = map[string]bool{"": true, "n/a": true, "na": true, "n.a": true, "none": true, "unknown": true,
	"unk": true, "tbd": true, "-": true, "--": true, "---": true, "?": true, "not applicable": true,
	"not provided": true, "nil": true, "null": true}

// appendLowerASCII appends s lower-cased to dst, as strings.ToLower
// would; ok is false (and nothing appended) when s is not all ASCII.
func appendLowerASCII(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return dst, false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

var (
	zipRE = regexp.MustCompile(`\b(\d{5})(?:[ -]?\d{4})?\b`)
	ageRE = regexp.MustCompile(`\d{1,3}`)
	// An extension glued to the number: "x12", "ext.12".
	extRE = regexp.MustCompile(`(?i)^(?:ext(?:ension)?\.?|x)\s*\d{1,6}\b`)
	// North American numbers: optional +1, area code, 7 digits; or 7 digits.
	nanpRE = regexp.MustCompile(`\+\s?[2-9]\d{0,2}[\d\s().\-]{5,}\d|(?:\+?1[\s.\-]*)?\(?\d{3}\)?[\s.\-]*\d{3}[\s.\-]*\d{4}|\d{3}[\s.\-]*\d{4}`)
	// Anywhere else: a run of at least seven digits with the usual separators.
	intlRE  = regexp.MustCompile(`\+?\(?\d[\d\s().\-]{5,}\d`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+`)
)

// NormalizePhone returns a phone number as national digits: punctuation,
// spaces and an extension dropped, the country code removed when it is
// countryCode ("1" when empty). "+1 (555) 014-2000 x12" -> "5550142000";
// "555-0142" -> "5550142". A number in another country keeps a leading "+".
// Text without a phone number is returned trimmed, as written.
func NormalizePhone(s, countryCode string) string {
	s = strings.TrimSpace(s)
	cc := digitsOnly(countryCode)
	if cc == "" {
		cc = "1"
	}
	re := intlRE
	if cc == "1" {
		re = nanpRE
	}
	for _, loc := range re.FindAllStringIndex(s, 8) {
		// The number must not be glued to other digits or letters.
		if loc[0] > 0 && isAlnumByte(s[loc[0]-1]) || loc[1] < len(s) && isAlnumByte(s[loc[1]]) && !extStarts(s[loc[1]:]) {
			continue
		}
		m := s[loc[0]:loc[1]]
		d := digitsOnly(m)
		intl := strings.HasPrefix(m, "+")
		if !intl && cc != "1" && strings.HasPrefix(d, "00") {
			d, intl = d[2:], true
		}
		if intl {
			if strings.HasPrefix(d, cc) {
				return d[len(cc):]
			}
			return "+" + d
		}
		if cc == "1" && len(d) == 11 && d[0] == '1' {
			d = d[1:]
		}
		return d
	}
	return s
}

func extStarts(s string) bool { return extRE.MatchString(s) }

func isAlnumByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func digitsOnly(s string) string {
	if isDigits(s) {
		return s // a country code, or a number written without marks
	}
	var b strings.Builder
	b.Grow(len(s)) // once, not byte by byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// NormalizeEmail returns the first email address in s, lower-cased
// ("Dana <Dana.W@Example.COM>" -> "dana.w@example.com"). Text without an
// address is returned trimmed, as written.
func NormalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	if m := emailRE.FindString(s); m != "" {
		return strings.ToLower(strings.TrimRight(m, "."))
	}
	return s
}

// NameKey is the form of a name used to match duplicates: accents folded,
// lower-case letters and digits, words separated by single spaces
// ("José  Peña-Ruiz" -> "jose pena ruiz").
func NameKey(name string) string {
	var b strings.Builder
	space := false
	for _, r := range foldAccents(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		if r == '\'' || r == '’' {
			continue // O'Brien == OBrien
		}
		space = true
	}
	return b.String()
}

// foldAccents removes combining marks: "Peña" -> "Pena".
func foldAccents(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
			out, _, err := transform.String(t, s)
			if err != nil {
				return s
			}
			return out
		}
	}
	return s
}

var (
	noPhrases  = []string{"not given", "not obtained", "not signed", "not yet", "not at this time", "no consent", "not on file"}
	yesPhrases = []string{"on file"}
	noWords    = map[string]bool{"no": true, "n": true, "nope": true, "false": true, "none": true, "not": true, "declined": true, "declines": true, "refused": true, "refuses": true, "denied": true, "denies": true, "0": true, "☐": true, "never": true, "negative": true}
	yesWords   = map[string]bool{"yes": true, "y": true, "yeah": true, "yep": true, "true": true, "agreed": true, "agree": true, "agrees": true, "signed": true, "obtained": true, "given": true, "granted": true, "x": true, "✓": true, "✔": true, "☑": true, "☒": true, "ok": true, "okay": true, "verbal": true, "written": true, "consented": true, "consents": true, "approved": true, "1": true, "checked": true, "affirmative": true, "sure": true, "si": true, "sí": true, "oui": true}
)

// YesNo reads a yes/no answer as caseworkers write it: "Yes", "Y", "signed",
// "on file", "X", "✓" are yes; "No", "N", "none", "not given", "declined"
// are no. The first word decides ("Yes - verbal 3/2" is yes).
func YesNo(s string) (v string, ok bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimLeft(t, " \t-*:([")
	if t == "" {
		return "", false
	}
	for _, p := range noPhrases {
		if strings.HasPrefix(t, p) {
			return "no", true
		}
	}
	for _, p := range yesPhrases {
		if strings.HasPrefix(t, p) {
			return "yes", true
		}
	}
	word := t
	if i := strings.IndexFunc(t, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '✓' || r == '✔' || r == '☑' || r == '☒' || r == '☐')
	}); i == 0 {
		word = t[:len(string([]rune(t)[0]))]
	} else if i > 0 {
		word = t[:i]
	}
	switch {
	case noWords[word]:
		return "no", true
	case yesWords[word]:
		return "yes", true
	}
	return "", false
}

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}

const monthPat = `(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?`

var (
	isoDateRE   = regexp.MustCompile(`\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b`)
	numDateRE   = regexp.MustCompile(`\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b`)
	monthDateRE = regexp.MustCompile(`(?i)\b` + monthPat + `\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}|\d{2})\b`)
	dayMonthRE  = regexp.MustCompile(`(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?` + monthPat + `,?\s+(\d{4})\b`)
)

// parseDate reads the first date in s (US month-first for numbers) and
// returns it as YYYY-MM-DD. Two-digit years are placed so that the date is
// not after now.
func parseDate(s string, now time.Time) (string, bool) {
	type found struct {
		at      int
		y, m, d int
		short   bool
	}
	var best *found
	try := func(f found) {
		if best == nil || f.at < best.at {
			best = &f
		}
	}
	if y, m, d, ok := wholeISODate(s); ok {
		// What isoDateRE finds at 0, the first place any could; the
		// usual form, without running four regexps.
		best = &found{y: y, m: m, d: d}
	} else {
		if m := isoDateRE.FindStringSubmatchIndex(s); m != nil {
			try(found{at: m[0], y: atoi(s[m[2]:m[3]]), m: atoi(s[m[4]:m[5]]), d: atoi(s[m[6]:m[7]])})
		}
		if m := numDateRE.FindStringSubmatchIndex(s); m != nil {
			a, b, y := atoi(s[m[2]:m[3]]), atoi(s[m[4]:m[5]]), s[m[6]:m[7]]
			mo, d := a, b
			if a > 12 && b <= 12 {
				mo, d = b, a // 25/12/1990: day first
			}
			try(found{at: m[0], y: atoi(y), m: mo, d: d, short: len(y) == 2})
		}
		if m := monthDateRE.FindStringSubmatchIndex(s); m != nil {
			y := s[m[6]:m[7]]
			try(found{at: m[0], y: atoi(y), m: monthNum(s[m[2]:m[3]]), d: atoi(s[m[4]:m[5]]), short: len(y) == 2})
		}
		if m := dayMonthRE.FindStringSubmatchIndex(s); m != nil {
			try(found{at: m[0], y: atoi(s[m[6]:m[7]]), m: monthNum(s[m[4]:m[5]]), d: atoi(s[m[2]:m[3]])})
		}
	}
	if best == nil {
		return "", false
	}
	y := best.y
	if best.short {
		y += 2000
		if time.Date(y, time.Month(best.m), best.d, 0, 0, 0, 0, time.UTC).After(now) {
			y -= 100
		}
	}
	if best.m < 1 || best.m > 12 || best.d < 1 || y < 1000 || y > 9999 {
		return "", false
	}
	t := time.Date(y, time.Month(best.m), best.d, 0, 0, 0, 0, time.UTC)
	if t.Day() != best.d { // February 30th
		return "", false
	}
	return t.Format("2006-01-02"), true
}

// wholeISODate reads s when it is all of a date as isoDateRE matches one:
// four digits, then one or two, then one or two, separated by the same or
// different marks of "-/.".
func wholeISODate(s string) (y, m, d int, ok bool) {
	if len(s) < 8 || len(s) > 10 || !isDigits(s[:4]) || !isDateSep(s[4]) {
		return 0, 0, 0, false
	}
	rest := s[5:]
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	if i < 1 || i > 2 || i == len(rest) || !isDateSep(rest[i]) {
		return 0, 0, 0, false
	}
	day := rest[i+1:]
	if len(day) < 1 || len(day) > 2 || !isDigits(day) {
		return 0, 0, 0, false
	}
	return atoi(s[:4]), atoi(rest[:i]), atoi(day), true
}

func isDateSep(c byte) bool { return c == '-' || c == '/' || c == '.' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func monthNum(s string) int {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if len(s) > 4 && s[:4] == "sept" {
		s = "sept"
	} else if len(s) > 3 {
		s = s[:3]
	}
	return int(months[s])
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// asciiSpace marks the ASCII bytes unicode.IsSpace reports as space.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// collapseSpace is strings.Join(strings.Fields(s), " "): s trimmed, with
// every run of white space made one space. Most values are that already;
// they are returned as they are, without allocating.
func collapseSpace(s string) string {
	prevSpace := true // at the start, a space would be leading
	i := 0
scan:
	for i < len(s) {
		if i+8 <= len(s) {
			// Eight bytes at once: printable ASCII and single spaces
			// (spaces&(spaces>>8) marks a space followed by one).
			x := word(s, i)
			spaces := spaceBytes(x)
			if controlOrHighBytes(x) == 0 && spaces&(spaces>>8) == 0 && !(prevSpace && spaces&0x80 != 0) {
				prevSpace = spaces>>63 != 0
				i += 8
				continue
			}
		}
		// Byte by byte (or rune by rune) to the end of these eight.
		for end := i + 8; i < end && i < len(s); {
			c := s[i]
			if c < utf8.RuneSelf {
				if asciiSpace[c] {
					if c != ' ' || prevSpace {
						break scan
					}
					prevSpace = true
				} else {
					prevSpace = false
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				break scan
			}
			prevSpace = false
			i += size
		}
	}
	switch {
	case i < len(s):
		return strings.Join(strings.Fields(s), " ")
	case prevSpace && len(s) > 0:
		return s[:len(s)-1] // one trailing space
	}
	return s
}
