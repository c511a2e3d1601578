package parse

import (
	"strings"
	"unicode"
)

// NameParts splits a client's name into the first name and the rest;
// "Whitfield, Dana" is read as last, first.
func NameParts(name string) (first string, rest []string) {
	name = strings.TrimSpace(name)
	if last, first, ok := strings.Cut(name, ","); ok {
		name = first + " " + last
	}
	parts := strings.Fields(name)
	if len(parts) == 0 {
		return "", nil
	}
	return parts[0], parts[1:]
}

// ShortName is as much of a client's name as replies and the coach digest
// show (SPEC §6): the first name and the last initial, "Dana W.".
func ShortName(name string) string {
	first, rest := NameParts(name)
	if len(rest) == 0 {
		return first
	}
	last := []rune(rest[len(rest)-1])
	return first + " " + strings.ToUpper(string(last[0])) + "."
}

// Initials are what a partner report shows of a client: "D.W." for "Dana
// Whitfield" (or "Whitfield, Dana"); never more of the name.
func Initials(name string) string {
	first, rest := NameParts(name)
	parts := []string{first}
	if len(rest) > 0 {
		parts = append(parts, rest[len(rest)-1])
	}
	var b strings.Builder
	for _, p := range parts {
		for _, r := range p {
			if unicode.IsLetter(r) {
				b.WriteRune(unicode.ToUpper(r))
				b.WriteByte('.')
				break
			}
		}
	}
	return b.String()
}
