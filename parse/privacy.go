package parse

import (
	"strings"
	"sync"
)

// refdesk never collects SSNs or bank and card account numbers (SPEC §4): a
// value that looks like one is replaced by removed and a note is added.
const removed = "[removed]"

type sensitive int

const (
	notSensitive sensitive = iota
	ssnLike
	accountLike
)

func (k sensitive) note(where string) string {
	where, _ = maskDigits(where, false) // a label may hold the number too
	switch k {
	case ssnLike:
		return "An SSN-like value in " + where + " was removed; refdesk does not store SSNs."
	case accountLike:
		return "An account-number-like value in " + where + " was removed; refdesk does not store bank or card account numbers."
	}
	return ""
}

// sensitiveLabel tells whether a label asks for an SSN ("SSN", "Social
// Security #", "SS#") or an account number ("Acct", "Routing number",
// "Card number", "Bank account").
func sensitiveLabel(label string) sensitive {
	var buf [64]byte
	// A key that stays here and is at most 32 bytes is made on the stack.
	if k := string(appendLabelKey(buf[:0], label)); !strings.Contains(k, "ss") && !strings.Contains(k, "soc") && !strings.Contains(k, "acc") &&
		!strings.Contains(k, "acct") && !strings.Contains(k, "iban") && !strings.Contains(k, "rout") &&
		!strings.Contains(k, "aba") && !strings.Contains(k, "card") && !strings.Contains(k, "tin") &&
		!strings.Contains(k, "sin") && !strings.Contains(k, "bank") && !strings.Contains(k, "taxpayer") {
		return notSensitive // the common case, cheaply
	}
	words := strings.FieldsFunc(strings.ToLower(foldAccents(label)), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	key := strings.Join(words, "")
	for i, w := range words {
		switch {
		case w == "ss" || w == "ssn" || w == "ssns" || w == "ssno" || w == "sin":
			return ssnLike
		case strings.HasPrefix(w, "ssn") || strings.HasSuffix(w, "ssn"):
			return ssnLike
		case w == "social" && (len(words) == 1 || i+1 < len(words) && (words[i+1] == "security" || words[i+1] == "sec" || words[i+1] == "no" || words[i+1] == "number")):
			return ssnLike
		case w == "acct" || w == "iban" || w == "routing" || w == "aba":
			return accountLike
		}
	}
	if strings.Contains(key, "socialsecurity") || strings.Contains(key, "taxpayerid") || key == "itin" || key == "tin" {
		return ssnLike
	}
	for _, s := range []string{"accountnumber", "accountno", "accountnum", "acctnumber", "acctno", "routingnumber",
		"bankaccount", "cardnumber", "cardno", "creditcard", "debitcard", "ebtcard", "ebtnumber",
		"checkingaccount", "savingsaccount", "banknumber"} {
		if strings.Contains(key, s) {
			return accountLike
		}
	}
	return notSensitive
}

// fieldSensitivity is sensitiveLabel of every canonical field name, worked
// out once: maskValue is asked about them for every value.
var fieldSensitivity = sync.OnceValue(func() map[string]sensitive {
	m := make(map[string]sensitive, len(Fields))
	for _, f := range Fields {
		m[f.Name] = sensitiveLabel(f.Name)
	}
	return m
})

// maskValue masks one value. field is a canonical field name or a label as
// written; a sensitive label masks the whole value, anything else has its
// SSN-like and account-like digit runs replaced.
func maskValue(field, v string) (string, string) {
	if v == "" || v == removed {
		return v, ""
	}
	k, canonical := fieldSensitivity()[field]
	if !canonical {
		k = sensitiveLabel(field)
	}
	if k != notSensitive {
		if isPlaceholder(v) {
			return "", ""
		}
		return removed, k.note(field)
	}
	out, k := maskDigits(v, field == "client_zip")
	if k == notSensitive {
		return v, ""
	}
	if strings.Trim(out, " ,;:-") == removed {
		out = removed
	}
	return out, k.note(field)
}

// maskText masks a whole text: the value of every line under a sensitive
// label, and every SSN-like or account-like digit run. A text with nothing
// to mask is returned as it is.
func maskText(text string) string {
	var b strings.Builder
	changed := false
	for start := 0; start < len(text); {
		end := strings.IndexByte(text[start:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		line := text[start:end]
		masked := line
		if hasDigit(line) { // else no number to hide
			if ll, ok := splitLabelLine(line); ok && ll.value != "" && sensitiveLabel(ll.label) != notSensitive {
				masked = line[:ll.valueAt] + removed
			}
			masked, _ = maskDigits(masked, false)
		}
		if masked != line && !changed {
			changed = true
			b.Grow(len(text))
			b.WriteString(text[:start])
		}
		if changed {
			b.WriteString(masked)
			if end < len(text) {
				b.WriteByte('\n')
			}
		}
		start = end + 1
	}
	if !changed {
		return text
	}
	return b.String()
}

func hasDigit(s string) bool { return indexDigit(s) >= 0 }

// maskDigits replaces digit runs that look like an SSN (123-45-6789,
// 123 45 6789, 123456789) or a card or account number (12 to 19 digits in one
// run, or in groups of four) with removed. Phone numbers (3-4, 3-3-4 digits)
// and ZIP+4 (5-4) are left alone; zip9 also leaves a bare 9-digit run alone.
// A run glued to letters ("A123456789") is not a number of its own.
func maskDigits(s string, zip9 bool) (string, sensitive) {
	found := notSensitive
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			// Most values and lines have no digit or few: skip to the
			// next, a word at a time.
			d := indexDigit(s[i:])
			if d < 0 {
				break
			}
			i += d
		}
		if i > 0 && (isWordByte(s[i-1]) || s[i-1] == '+') {
			// A run glued to a word is not a number of its own; one after
			// "+" is an international phone number (E.164), never an SSN
			// or account number.
			i++
			continue
		}
		// Collect the run: digit groups separated by one space or dash
		// (at most twelve: no allocation).
		type group struct{ start, end int }
		var groupBuf [12]group
		groups := groupBuf[:0]
		j := i
		for {
			k := j
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			groups = append(groups, group{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) && len(groups) < 12 {
				j = k + 1
				continue
			}
			j = k
			break
		}
		n := len(groups)
		if j < len(s) && isWordByte(s[j]) {
			n-- // the last group is glued to a word
		}
		var lensBuf [12]int
		lens := lensBuf[:n]
		for g := 0; g < n; g++ {
			lens[g] = groups[g].end - groups[g].start
		}
		for g := 0; g < n; {
			matched := false
			for e := n; e > g; e-- {
				k := numberKind(lens[g:e], zip9)
				if k == notSensitive {
					continue
				}
				if k > found {
					found = k
				}
				b.WriteString(s[last:groups[g].start])
				b.WriteString(removed)
				last = groups[e-1].end
				g, matched = e, true
				break
			}
			if !matched {
				g++
			}
		}
		i = j
	}
	if found == notSensitive {
		return s, found
	}
	b.WriteString(s[last:])
	return b.String(), found
}

// numberKind classifies a run of digit groups by their lengths.
func numberKind(lens []int, zip9 bool) sensitive {
	total := 0
	for _, l := range lens {
		total += l
	}
	switch {
	case len(lens) == 1 && total == 9 && !zip9,
		len(lens) == 3 && lens[0] == 3 && lens[1] == 2 && lens[2] == 4,
		len(lens) == 2 && lens[0] == 3 && lens[1] == 6:
		return ssnLike
	case total < 12 || total > 19:
		return notSensitive
	case len(lens) == 1:
		return accountLike
	case len(lens) == 3 && lens[0] == 4 && lens[1] == 6 && (lens[2] == 4 || lens[2] == 5):
		return accountLike
	case len(lens) >= 3:
		for _, l := range lens[:len(lens)-1] {
			if l != 4 {
				return notSensitive
			}
		}
		return accountLike
	}
	return notSensitive
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isWordByte(b byte) bool { return isAlnumByte(b) || b == '_' }

func looksSensitive(s string) bool {
	_, k := maskDigits(s, false)
	return k != notSensitive
}
