package ingest

import (
	"regexp"
	"strings"

	"refdesk/parse"
	"refdesk/store"
)

// replyItem is what a reply may say about a result (SPEC §6): reference,
// partner case ID, client first name and last initial; never the full name,
// phone, date of birth or notes.
func replyItem(rr Result) store.ReplyItem {
	f := rr.Candidate.Fields
	item := store.ReplyItem{Decision: rr.Decision, CaseID: f["partner_case_id"], Client: parse.ShortName(f["client_name"]),
		Reason: rr.Reason, Missing: rr.Missing}
	item.Source = replySource(rr.Candidate.Source)
	if rr.Decision == NeedsInfo {
		item.Reason = ""
	}
	if s := rr.Service; s != nil {
		item.Service = &store.ServiceInfo{ID: s.ID, Name: s.Name, Contact: s.Contact, Email: s.Email, About: s.About}
	}
	return item
}

// references is the References of a reply: the parent's References plus its
// Message-ID (RFC 5322 §3.6.4).
func references(msg *parse.Message) string {
	refs := append([]string(nil), msg.References...)
	if len(refs) == 0 && len(msg.InReplyTo) > 0 {
		refs = append(refs, msg.InReplyTo...)
	}
	if msg.MessageID != "" {
		refs = append(refs, msg.MessageID)
	}
	if len(refs) > 20 { // keep the first and the latest, like most clients
		refs = append(refs[:1], refs[len(refs)-19:]...)
	}
	return strings.Join(refs, " ")
}

var (
	subjectPrefix = regexp.MustCompile(`(?i)^\s*((re|fw|fwd|aw|wg|sv|antw)\s*(\[\d+\])?\s*:\s*)+`)
	subjectRef    = regexp.MustCompile(`\s*\[R-\d+\]`)
	longDigits    = regexp.MustCompile(`\d[\d\s().-]{5,}\d`)
)

// ScrubSubject returns the subject to answer with: prefixes and old
// references removed, and "Referral" instead when it names a client beyond
// the first name, carries a number or address that could be personal, or
// when a result has no client name to check it against.
func ScrubSubject(subject string, results []Result) string {
	s := subjectRef.ReplaceAllString(subjectPrefix.ReplaceAllString(subject, ""), "")
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || strings.Contains(s, "@") || longDigits.MatchString(s) || len(s) > 120 {
		return "Referral"
	}
	words := strings.Fields(strings.ToLower(s))
	named := len(results) > 0
	for _, rr := range results {
		name := strings.ToLower(rr.Candidate.Fields["client_name"])
		named = named && strings.TrimSpace(name) != ""
		_, rest := parse.NameParts(name)
		for _, part := range rest { // the first name may be written
			for _, w := range words {
				if strings.Trim(w, ".,;:!?()[]\"'") == part {
					return "Referral"
				}
			}
		}
	}
	if !named {
		// Without every client's name to look for (an unknown sender, a
		// message too large to read, a referral missing the name), nothing
		// tells whether the subject names someone.
		return "Referral"
	}
	return s
}
