package parse

import (
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
)

// authResults reads every Authentication-Results header (RFC 8601 §2.2),
// keeping the authserv-id and the dmarc, dkim and spf result values. Which
// header to believe is the caller's choice (config trusted_authserv_id). A
// header that cannot be parsed is skipped with a Problem.
func authResults(h textproto.Header, problems *[]string) []AuthResult {
	var out []AuthResult
	for _, v := range h.Values("Authentication-Results") {
		id, results, err := authres.Parse(stripComments(v))
		if err != nil || id == "" {
			if len(*problems) < maxProblems {
				*problems = append(*problems, "unreadable Authentication-Results header skipped")
			}
			continue
		}
		ar := AuthResult{AuthServID: strings.ToLower(id)}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.DMARCResult:
				if ar.DMARC == "" {
					ar.DMARC = string(r.Value)
				}
			case *authres.DKIMResult:
				// Several signatures: one that passes is enough.
				if ar.DKIM == "" || r.Value == authres.ResultPass {
					ar.DKIM = string(r.Value)
				}
			case *authres.SPFResult:
				if ar.SPF == "" {
					ar.SPF = string(r.Value)
				}
			}
		}
		out = append(out, ar)
	}
	return out
}

// stripComments removes RFC 5322 §3.2.2 comments ("(...)", nested, with
// quoted pairs), which authres does not understand and which may hold ";".
// Quoted strings are kept as they are.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s // no comment: every byte is kept
	}
	var b strings.Builder
	b.Grow(len(s)) // a comment of n bytes becomes one space: never longer
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			b.WriteByte(c)
			if c == '"' {
				quoted = false
			}
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth > 0:
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
