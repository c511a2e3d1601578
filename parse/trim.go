package parse

import (
	"strings"
	"unicode/utf8"
)

// cutset is a set of ASCII bytes, and optionally the no-break space, to trim
// from strings: strings.Trim(s, "*_") gives the same result, but builds its
// set on every call, and the parser trims every line and value several
// times (measurable in BenchmarkParse).
type cutset struct {
	ascii [utf8.RuneSelf]bool
	nbsp  bool // U+00A0 as well
}

// newCutset makes the set of chars, which must be ASCII but for U+00A0.
func newCutset(chars string) *cutset {
	c := &cutset{}
	for _, r := range chars {
		switch {
		case r == '\u00a0':
			c.nbsp = true
		case r < utf8.RuneSelf:
			c.ascii[r] = true
		default:
			panic("parse: cutset of more than ASCII: " + chars)
		}
	}
	return c
}

func (c *cutset) trimLeft(s string) string {
	i := 0
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf && c.ascii[b] {
			i++
		} else if c.nbsp && strings.HasPrefix(s[i:], "\u00a0") {
			i += len("\u00a0")
		} else {
			break
		}
	}
	return s[i:]
}

func (c *cutset) trimRight(s string) string {
	j := len(s)
	for j > 0 {
		if b := s[j-1]; b < utf8.RuneSelf && c.ascii[b] {
			j--
		} else if c.nbsp && strings.HasSuffix(s[:j], "\u00a0") {
			j -= len("\u00a0")
		} else {
			break
		}
	}
	return s[:j]
}

func (c *cutset) trim(s string) string { return c.trimRight(c.trimLeft(s)) }

// The parser's cutsets.
var (
	boldMarks      = newCutset("*_")          // Markdown bold and italics
	placeholderCut = newCutset(" .!?")        // around "n/a." and "none!"
	lineEnd        = newCutset(" \t\r\u00a0") // trailing blanks of a line
	quoteBlank     = newCutset(" \t\u00a0>")  // a line of quote marks only
	valueLead      = newCutset(" \t*_\u00a0") // before a label's value
	valueTail      = newCutset(" \t*_")       // after it
)
