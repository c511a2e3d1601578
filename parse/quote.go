package parse

import (
	"regexp"
	"strings"
)

// StripQuoted removes what a reply carries besides the new text: quoted
// lines ("> ..."), an "On ... wrote:" attribution and everything after it,
// "-----Original Message-----" and Outlook's "From: / Sent:" header block
// and everything after them, a signature after "-- ", "Sent from my iPhone"
// lines, and everything from a closing line that is only a valediction
// ("Thanks,", "Best regards,") on: caseworker signatures carry their own
// "Phone:" lines. Forwarded messages ("---------- Forwarded message
// ---------", "Begin forwarded message:") are kept: the forwarded text is
// the referral.
func StripQuoted(text string) string {
	return stripQuoted(text, false)
}

type boundary int

const (
	noBoundary boundary = iota
	replyBoundary
	forwardBoundary
	headerBoundary // Outlook "Original Message" or From:/Sent: block: a reply, or in a forward the forwarded message
)

var (
	onWroteRE  = regexp.MustCompile(`(?i)^(on\s.{0,250}\swrote|le\s.{0,250}\sa\s+[ée]crit|am\s.{0,250}\sschrieb.{0,80}|el\s.{0,250}\sescribi[óo])\s*:\s*$`)
	wroteRE    = regexp.MustCompile(`(?i)(\swrote|\sa\s+[ée]crit|\sschrieb.{0,80}|\sescribi[óo])\s*:\s*$`)
	forwardRE  = regexp.MustCompile(`(?i)^(-{2,}\s*(original\s+)?forwarded\s+message.*-*\s*$|begin\s+forwarded\s+message\s*:?\s*$|-{2,}\s*forwarded\s+by\s.*-{2,}\s*$|-{2,}\s*(weitergeleitete\s+nachricht|mensaje\s+reenviado|message\s+transf[ée]r[ée])\s*-{2,}\s*$)`)
	originalRE = regexp.MustCompile(`(?i)^-{3,}\s*(original\s+message|ursprüngliche\s+nachricht|message\s+d'origine|mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht)\s*-{3,}\s*$`)
	ruleRE     = regexp.MustCompile(`^_{10,}\s*$`)
	sentFromRE = regexp.MustCompile(`(?i)^(sent\s+(from|via|with)\s+.{0,60}|get\s+outlook\s+for\s+\w+.{0,20}|sent\s+from\s+my\s+.{0,60})$`)
	greetingRE = regexp.MustCompile(`(?i)^(hi|hello|hey|dear|greetings|good\s+(morning|afternoon|evening)|hi\s+there|hello\s+there)\b.{0,40}[,!:]?$`)
	valedictRE = regexp.MustCompile(`(?i)^[-–—]?\s*(thanks|thank\s+you|thanks\s+so\s+much|thank\s+you\s+so\s+much|thanks\s+again|thank\s+you\s+again|many\s+thanks|thanks\s+in\s+advance|thx|best|best\s+regards|best\s+wishes|all\s+the\s+best|kind\s+regards|kindest\s+regards|warm\s+regards|warmest\s+regards|warmly|regards|sincerely|sincerely\s+yours|yours\s+truly|respectfully|cheers|take\s+care|with\s+gratitude|gratefully|v/r|r/s)\s*[,.!]*\s*$`)
)

// stripQuoted is StripQuoted; forward says the message itself is a forward
// ("Fwd:" subject), so its first Outlook-style header block introduces the
// forwarded referral instead of an old thread.
func stripQuoted(text string, forward bool) string {
	return strings.Join(stripQuotedLines(text, forward), "\n")
}

// stripQuotedLines is stripQuoted's text as lines.
func stripQuotedLines(text string, forward bool) []string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []string
	for depth := 0; depth < 16; depth++ {
		at, kind, n := findBoundary(lines)
		if kind == headerBoundary && forward {
			kind, forward = forwardBoundary, false
		}
		head := lines
		if kind != noBoundary {
			head = lines[:at]
		}
		if seg := cleanSegment(head); out == nil {
			out = seg // the usual message: one segment, not copied
		} else {
			out = append(out, seg...)
		}
		if kind != forwardBoundary {
			break
		}
		n = headerEnd(lines, at+n)
		for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
			out = out[:len(out)-1]
		}
		if len(out) > 0 {
			out = append(out, "")
		}
		out = append(out, lines[at:n]...)
		lines = lines[n:]
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	for len(out) > 0 && strings.TrimSpace(out[0]) == "" {
		out = out[1:]
	}
	return out
}

// findBoundary finds the first line where a quoted reply or a forwarded
// message starts; n is how many lines the marker takes.
func findBoundary(lines []string) (at int, kind boundary, n int) {
	for i, raw := range lines {
		line, _ := stripMarkers(strings.TrimSpace(raw))
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ">") || len(line) > maxMarkerLine {
			continue // markers are short lines; long ones are not worth a regexp
		}
		// Cheap tests first: the regexps only run on lines that can match.
		colon := line[len(line)-1] == ':'
		dashes := strings.HasPrefix(line, "--")
		attribution := startsAttribution(line)
		switch {
		case (dashes || line[0] == 'B' || line[0] == 'b') && forwardRE.MatchString(line):
			return i, forwardBoundary, 1
		case colon && attribution && onWroteRE.MatchString(line):
			return i, replyBoundary, 1
		case attribution && i+1 < len(lines) && len(lines[i+1]) < 300 && wroteRE.MatchString(strings.TrimSpace(lines[i+1])):
			return i, replyBoundary, 2 // Gmail wraps a long attribution
		case attribution && i+2 < len(lines) && len(lines[i+1])+len(lines[i+2]) < 300 && wroteRE.MatchString(strings.TrimSpace(lines[i+2])):
			return i, replyBoundary, 3
		case colon && len(line) < 300 && wroteRE.MatchString(line) && nextIsQuote(lines[i+1:]):
			return i, replyBoundary, 1
		case dashes && originalRE.MatchString(line):
			return i, headerBoundary, 1
		case line[0] == '_' && ruleRE.MatchString(line) && headerFollows(lines[i+1:], 3):
			return i, headerBoundary, 1
		case isHeaderLine(line, "from") && headerBlock(lines[i+1:]):
			return i, headerBoundary, 0 // the block itself is the marker
		}
	}
	return len(lines), noBoundary, 0
}

// headerEnd skips the header block of a forwarded message (From:, Sent:,
// To:, Subject: lines and their continuations) that starts at or after
// line i, returning the index of the first line after it.
func headerEnd(lines []string, i int) int {
	for blank := 0; i < len(lines) && blank < 2 && strings.TrimSpace(lines[i]) == ""; blank++ {
		i++
	}
	for start := i; i < len(lines) && i-start < 20; i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && i > start {
			continue // a wrapped header value
		}
		if !isHeaderLike(l) {
			break
		}
	}
	return i
}

var headerNames = []string{"from", "sent", "date", "to", "cc", "bcc", "subject", "reply-to", "importance",
	"attachments", "de", "von", "envoyé", "à", "objet", "an", "gesendet", "betreff", "datum", "para", "enviado", "asunto"}

func isHeaderLike(line string) bool {
	for _, n := range headerNames {
		if isHeaderLine(line, n) {
			return true
		}
	}
	return false
}

// startsAttribution tells whether a line starts like an attribution: "On
// ", "Le ", "Am " or "El " in any case. (Only ASCII letters lower to
// these, so the bytes are compared as they are.)
func startsAttribution(line string) bool {
	if len(line) < 3 || line[2] != ' ' {
		return false
	}
	switch string([]byte{line[0] | 0x20, line[1] | 0x20}) {
	case "on", "le", "am", "el":
		return true
	}
	return false
}

func nextIsQuote(lines []string) bool {
	for i, l := range lines {
		if i > 2 {
			return false
		}
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		return strings.HasPrefix(l, ">")
	}
	return false
}

// isHeaderLine tells whether a line is a mail header line such as "From:
// ..." (also "*From:* ..." and "**From:**" as plain-text renderings of bold).
func isHeaderLine(line, name string) bool {
	if strings.IndexByte(line, ':') < 0 {
		return false // the common case, cheaply: no colon, no header
	}
	l, _ := stripMarkers(strings.TrimSpace(line))
	l = strings.TrimLeft(l, "*_ ")
	if len(l) <= len(name) || !strings.EqualFold(l[:len(name)], name) {
		return false
	}
	rest := strings.TrimLeft(l[len(name):], "*_ ")
	return strings.HasPrefix(rest, ":")
}

func headerFollows(lines []string, within int) bool {
	for i, l := range lines {
		if i >= within {
			break
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		return isHeaderLine(l, "from") || isHeaderLine(l, "de") || isHeaderLine(l, "von")
	}
	return false
}

// headerBlock tells whether the lines after a "From:" line carry "Sent:" or
// "Date:" and "To:" or "Subject:": an Outlook reply header.
func headerBlock(lines []string) bool {
	sent, to := false, false
	for i, l := range lines {
		if i >= 6 {
			break
		}
		switch {
		case isHeaderLine(l, "sent") || isHeaderLine(l, "date"):
			sent = true
		case isHeaderLine(l, "to") || isHeaderLine(l, "subject") || isHeaderLine(l, "cc"):
			to = true
		}
	}
	return sent && to
}

// maxMarkerLine is the longest line looked at as a reply, forward or
// signature marker.
const maxMarkerLine = 400

// valedictMax is the most characters other than white space and ",.!" in
// a line valedictRE matches: an optional dash, then the longest
// valediction without its spaces ("thanksinadvance").
const valedictMax = 1 + len("thanksinadvance")

// mayBeValediction is false for a line valedictRE cannot match: one with
// more than valedictMax characters besides its white space (\s: ASCII
// only) and ",.!". The regexp costs in proportion to the line even when
// its first letter fails, and most short lines of a body are longer than
// that; the regexp decides the rest (FuzzValediction).
func mayBeValediction(t string) bool {
	n := 0
	for _, r := range t {
		switch r {
		case ' ', '\t', '\n', '\f', '\r', ',', '.', '!':
			continue
		}
		if n++; n > valedictMax {
			return false
		}
	}
	return true
}

// cleanSegment drops quoted lines and "Sent from" lines, and cuts a
// signature ("-- ") or everything from a valediction line on. A valediction
// before any content ("Thanks!" opening the mail) is kept.
func cleanSegment(lines []string) []string {
	out := make([]string, 0, len(lines))
	content := false
	for _, raw := range lines {
		t := strings.TrimSpace(raw)
		short := len(t) <= 80 // valedictions, greetings and "Sent from" lines are short
		switch {
		case strings.HasPrefix(t, ">"):
			continue
		case short && t != "" && (t[0]|0x20 == 's' || t[0]|0x20 == 'g') && sentFromRE.MatchString(t):
			continue
		case strings.TrimRight(raw, " \t") == "--":
			return out // RFC 3676 §4.3 signature separator
		case content && short && t != "" && mayBeValediction(t) && !strings.ContainsAny(t, ":@0123456789") && valedictRE.MatchString(t):
			// mayBeValediction first: it gives up after a few letters,
			// and few lines pass it.
			return out
		}
		if t != "" && !(short && strings.ContainsRune("hHdDgG", rune(t[0])) && greetingRE.MatchString(t)) {
			content = true
		}
		out = append(out, raw)
	}
	return out
}
