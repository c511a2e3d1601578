package ingest

import (
	"regexp"
	"strings"
)

// keywords matches any of a rule's keywords as whole words in any case,
// with any white space between a keyword's words.
type keywords struct {
	re *regexp.Regexp
	// words of each keyword, lower case, when every keyword is ASCII:
	// then ASCII text is matched by a byte scan that gives the regexp's
	// answer several times faster (the regexp has no literal to look for
	// and tries every position).
	words [][]string
}

func newKeywords(list []string) *keywords {
	k := &keywords{}
	alts := make([]string, len(list))
	ascii := true
	for i, kw := range list {
		ws := strings.Fields(kw)
		alts[i] = regexp.QuoteMeta(strings.Join(ws, " "))
		alts[i] = strings.ReplaceAll(alts[i], " ", `\s+`)
		for j, w := range ws {
			ws[j] = strings.ToLower(w)
			if !isASCII(w) {
				ascii = false
			}
		}
		if len(ws) == 0 {
			ascii = false // an empty keyword: leave it to the regexp
		}
		k.words = append(k.words, ws)
	}
	if !ascii {
		k.words = nil
	}
	k.re = regexp.MustCompile(`(?i)(?:^|[^\pL\pN])(?:` + strings.Join(alts, "|") + `)(?:$|[^\pL\pN])`)
	return k
}

// MatchString reports whether s contains one of the keywords.
func (k *keywords) MatchString(s string) bool {
	if k.words == nil || !isASCII(s) {
		return k.re.MatchString(s)
	}
	for i := 0; i < len(s); i++ {
		if i > 0 && isAlnumASCII(s[i-1]) {
			continue // not the start of a word
		}
		for _, ws := range k.words {
			if end, ok := matchWords(s, i, ws); ok && (end == len(s) || !isAlnumASCII(s[end])) {
				return true
			}
		}
	}
	return false
}

// matchWords matches words at s[i:], in any case, with runs of the regexp's
// \s between them, and returns where the match ends.
func matchWords(s string, i int, words []string) (int, bool) {
	for j, w := range words {
		if j > 0 {
			n := i
			for n < len(s) && isRESpace(s[n]) {
				n++
			}
			if n == i {
				return 0, false
			}
			i = n
		}
		if len(s)-i < len(w) {
			return 0, false
		}
		for x := 0; x < len(w); x++ {
			if lowerASCII(s[i+x]) != w[x] {
				return 0, false
			}
		}
		i += len(w)
	}
	return i, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isAlnumASCII is \pL or \pN for an ASCII byte.
func isAlnumASCII(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isRESpace is Go's regexp \s: [\t\n\f\r ].
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
