package parse

import (
	"strings"
	"testing"
)

// The cutsets trim as strings.Trim, TrimLeft and TrimRight do with the
// same characters, on ASCII, on the no-break space and on other UTF-8.
func TestCutsetsTrimAsTheStringsPackage(t *testing.T) {
	sets := map[string]*cutset{
		"*_": boldMarks, " .!?": placeholderCut, " \t\r\u00a0": lineEnd,
		" \t\u00a0>": quoteBlank, " \t*_\u00a0": valueLead, " \t*_": valueTail,
	}
	inputs := []string{"", " ", "**Name**", "__x__", " \u00a0 value \u00a0", "\u00a0", "\u00c2", "\u00a0\u00a1",
		"> > quoted >", "n/a.", "  ?!. none !", "é*", "*é", "\t*_ x _*\t", "\u00a0\u00a0*", "a\u00a0", "\xc2", "\xa0\xc2"}
	for chars, c := range sets {
		for _, s := range inputs {
			if got, want := c.trim(s), strings.Trim(s, chars); got != want {
				t.Errorf("trim(%q, %q) = %q, want %q", s, chars, got, want)
			}
			if got, want := c.trimLeft(s), strings.TrimLeft(s, chars); got != want {
				t.Errorf("trimLeft(%q, %q) = %q, want %q", s, chars, got, want)
			}
			if got, want := c.trimRight(s), strings.TrimRight(s, chars); got != want {
				t.Errorf("trimRight(%q, %q) = %q, want %q", s, chars, got, want)
			}
		}
	}
}

func FuzzCutset(f *testing.F) {
	f.Add("**x**", " \t*_\u00a0")
	f.Fuzz(func(t *testing.T, s, chars string) {
		for _, r := range chars {
			if r >= 0x80 && r != '\u00a0' {
				return
			}
		}
		c := newCutset(chars)
		if got, want := c.trim(s), strings.Trim(s, chars); got != want {
			t.Errorf("trim(%q, %q) = %q, want %q", s, chars, got, want)
		}
	})
}

// parseDate's shortcut for a value that is all of an ISO date gives what
// the regexps give.
func TestWholeISODateAsTheRegexp(t *testing.T) {
	for _, s := range []string{"1957-08-08", "1957/8/8", "1957.08.8", "2001-1-31", "1957-08-081", "1957-08", "19570-8-08",
		"1957-08-08 ", "957-08-08", "1957--08", "1957-0a-08", "1957-08-", "1957-123-1", "1957-12/1"} {
		y, m, d, ok := wholeISODate(s)
		loc := isoDateRE.FindStringSubmatchIndex(s)
		whole := loc != nil && loc[0] == 0 && loc[1] == len(s)
		if ok != whole {
			t.Errorf("wholeISODate(%q) ok = %v, the regexp matches all of it: %v", s, ok, whole)
			continue
		}
		if ok && (y != atoi(s[loc[2]:loc[3]]) || m != atoi(s[loc[4]:loc[5]]) || d != atoi(s[loc[6]:loc[7]])) {
			t.Errorf("wholeISODate(%q) = %d %d %d", s, y, m, d)
		}
	}
}

// unixLineEnds does in place what the two ReplaceAll calls after it did.
func FuzzUnixLineEnds(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r", "\r\r\n\n", "x\ry\r\n", "no line end", "\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		if got := string(unixLineEnds([]byte(s))); got != want {
			t.Errorf("unixLineEnds(%q) = %q, want %q", s, got, want)
		}
	})
}
