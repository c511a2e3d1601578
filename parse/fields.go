package parse

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Field is one canonical referral field and the labels caseworkers write for
// it. Fields is the one alias table (SPEC §4); config [fields.aliases] adds
// labels to it through NewAliases.
type Field struct {
	Name string `json:"name"`
	// Label is how the field is written for people (the referral template,
	// replies); it is also one of Labels.
	Label   string   `json:"label"`
	Help    string   `json:"help"`
	Example string   `json:"example"`
	Labels  []string `json:"labels"`
}

// Fields lists the canonical fields in the order of SPEC §4's table, plus age.
// It is read-only: never append to it or change an entry.
var Fields = []Field{
	{Name: "client_name", Label: "Client name", Help: "the client's full name (required)", Example: "Dana Whitfield", Labels: []string{
		"client name", "name", "client", "participant", "participant name", "customer", "customer name",
		"full name", "client full name", "client's name", "name of client", "referral name", "referred client",
		"client referred", "applicant", "applicant name", "resident", "resident name", "tenant", "tenant name",
		"head of household", "individual", "individual name", "person referred", "consumer", "patient", "patient name",
	}},
	{Name: "client_phone", Label: "Client phone", Help: "the client's phone number; phone or email is required", Example: "(555) 014-2000", Labels: []string{
		"phone", "phone number", "phone #", "phone no", "telephone", "telephone number", "tel", "cell", "cell phone",
		"cell number", "cellphone", "mobile", "mobile phone", "mobile number", "home phone", "client phone",
		"client phone number", "client cell", "client telephone", "contact number", "contact phone", "primary phone",
		"best phone", "best number", "best phone number", "phone (cell)", "participant phone", "customer phone",
	}},
	{Name: "client_email", Label: "Client email", Help: "the client's email address", Example: "dana.whitfield@example.com", Labels: []string{
		"email", "e-mail", "email address", "e-mail address", "client email", "client e-mail", "client email address",
		"participant email", "customer email", "personal email",
	}},
	{Name: "client_zip", Label: "ZIP code", Help: "the client's ZIP code (service-area rules)", Example: "60601", Labels: []string{
		"zip", "zip code", "zipcode", "postal code", "postcode", "post code", "client zip", "client zip code",
		"home zip", "zip/postal code", "residential zip",
	}},
	{Name: "date_of_birth", Label: "Date of birth", Help: "date of birth, stored as YYYY-MM-DD (or give age)", Example: "03/14/1988", Labels: []string{
		"dob", "d.o.b.", "birth date", "birthdate", "date of birth", "birthday", "client dob", "client date of birth",
		"born",
	}},
	{Name: "age", Label: "Age", Help: "age in years, when the date of birth is not given", Example: "37", Labels: []string{
		"age", "client age", "age of client", "current age",
	}},
	{Name: "language", Label: "Preferred language", Help: "the language the client prefers", Example: "Spanish", Labels: []string{
		"language", "preferred language", "primary language", "language spoken", "languages", "languages spoken",
		"client language", "language preference",
	}},
	{Name: "needs", Label: "Reason for referral", Help: "why the client is referred: what they want help with", Example: "budgeting, credit repair", Labels: []string{
		"reason", "reason for referral", "referral reason", "needs", "need", "client needs", "goals", "goal",
		"client goals", "services requested", "service requested", "services needed", "service needed",
		"help needed", "help requested", "assistance needed", "assistance requested", "presenting issue",
		"presenting problem", "concerns", "concern", "areas of need", "interested in", "interests", "request",
		"referral for", "referred for", "purpose", "issue", "issues",
	}},
	{Name: "crisis", Label: "In crisis", Help: "yes when the client is in crisis today (food, utilities, housing)", Example: "no", Labels: []string{
		"crisis", "in crisis", "emergency", "urgent", "crisis screen", "crisis screening", "immediate need",
		"immediate needs", "emergency need", "currently in crisis", "client in crisis",
	}},
	{Name: "consent", Label: "Consent", Help: "yes when the client agreed to be contacted", Example: "yes", Labels: []string{
		"consent", "client consents", "client consent", "client consents to contact", "consents to contact", "consent to contact", "permission to contact",
		"consent given", "consent obtained", "consent signed", "consent to refer", "consent to referral",
		"ok to contact", "okay to contact", "may we contact", "client agrees", "client agreed", "agreed to referral",
		"client agrees to be contacted", "consent for contact", "contact consent", "permission",
	}},
	{Name: "share_outcomes", Label: "Share outcomes", Help: "yes when the client agreed that outcomes may be shared with the referrer", Example: "yes", Labels: []string{
		"share outcomes", "consent to share", "consent to share outcomes", "release of information", "roi",
		"roi signed", "release signed", "share results", "outcome sharing", "share information",
		"information release", "release", "ok to share", "okay to share", "permission to share",
	}},
	{Name: "partner_case_id", Label: "Case ID", Help: "the referring agency's own case ID, echoed back in replies and reports", Example: "NH-2291", Labels: []string{
		"case id", "case number", "case #", "case no", "case", "your reference", "our reference", "reference",
		"ref", "reference number", "client id", "partner case id", "file number", "file #", "hmis id",
		"record number", "tracking number", "case file",
	}},
	{Name: "referrer_name", Label: "Referred by", Help: "who referred the client (defaults to the sender)", Example: "Maria Lopez", Labels: []string{
		"referred by", "referrer", "referrer name", "caseworker", "case worker", "caseworker name",
		"case worker name", "worker", "worker name", "case manager", "case manager name", "referring worker",
		"referring staff", "referring person", "staff", "staff name", "submitted by", "referral source contact",
		"referring caseworker", "advocate", "navigator",
	}},
	{Name: "referrer_phone", Label: "Worker phone", Help: "the referrer's phone number", Example: "555-0100", Labels: []string{
		"worker phone", "caseworker phone", "case worker phone", "referrer phone", "referrer phone number",
		"case manager phone", "staff phone", "referring worker phone", "my phone", "my number", "office phone",
		"direct line", "caseworker number",
	}},
	{Name: "best_time", Label: "Best time to call", Help: "when to reach the client", Example: "weekday mornings", Labels: []string{
		"best time to call", "best time", "availability", "best time to reach", "best time to contact",
		"best times", "when to call", "preferred time", "preferred contact time", "available", "call times",
		"best days", "best day and time",
	}},
	{Name: "notes", Label: "Notes", Help: "anything else the coach should know", Example: "prefers text messages", Labels: []string{
		"notes", "note", "comments", "comment", "additional information", "additional info", "additional notes",
		"additional comments", "other information", "other info", "other notes", "details", "background",
		"other", "remarks", "summary", "message",
	}},
}

// labelParts are labels that carry part of a field: first and last names are
// joined into client_name, and a "contact" line feeds phone or email by what
// its value looks like.
var labelParts = map[string]string{
	"firstname": "first_name", "clientfirstname": "first_name", "givenname": "first_name", "first": "first_name",
	"lastname": "last_name", "clientlastname": "last_name", "surname": "last_name", "familyname": "last_name", "last": "last_name",
	"contact": "contact", "contactinfo": "contact", "contactinformation": "contact", "clientcontact": "contact",
	"bestcontact": "contact", "contactdetails": "contact", "howtocontact": "contact",
}

// addressKeys are labels whose value is a postal address; its ZIP feeds
// client_zip when no ZIP line was given.
var addressKeys = map[string]bool{
	"address": true, "homeaddress": true, "clientaddress": true, "streetaddress": true, "mailingaddress": true,
	"residence": true, "currentaddress": true,
}

// headerLabels are mail header names that show up inside bodies (forwarded
// and quoted header blocks); they are not referral data.
var headerLabels = map[string]bool{
	"from": true, "to": true, "sent": true, "date": true, "subject": true, "cc": true, "bcc": true,
	"replyto": true, "importance": true, "attachments": true, "sender": true,
}

// labelKey is the matching key of a label: lower-cased, every character that
// is not a letter or digit removed ("E-mail" and "email" are one key).
func labelKey(label string) string {
	var buf [64]byte
	return string(appendLabelKey(buf[:0], label))
}

// appendLabelKey appends the labelKey of label to dst. A caller that only
// looks the key up (m[string(key)]) makes no string of it: the parser
// does that for nearly every line and value.
func appendLabelKey(dst []byte, label string) []byte {
	if b, ok := appendASCIIKey(dst, label); ok {
		return b
	}
	for _, r := range foldAccents(label) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}

// appendASCIIKey appends the labelKey of an ASCII label to dst; ok is false
// (and nothing appended) for a label that is not all ASCII.
func appendASCIIKey(dst []byte, label string) ([]byte, bool) {
	for i := 0; i < len(label); i++ {
		if label[i] >= 0x80 {
			return dst, false
		}
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			dst = append(dst, c)
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		}
	}
	return dst, true
}

// Aliases maps labels to canonical field names: Fields plus extra labels.
type Aliases struct {
	extra map[string]string // from config; consulted first
}

// baseAliases is the label table of Fields, built once and never changed.
var baseAliases = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 400)
	for _, f := range Fields {
		for _, l := range f.Labels {
			if k := labelKey(l); k != "" {
				m[k] = f.Name
			}
		}
	}
	return m
})

// NewAliases builds the label table from Fields plus extra (field name ->
// labels, from config). Labels for names that are not canonical fields are
// ignored; the config package reports them.
func NewAliases(extra map[string][]string) *Aliases {
	a := &Aliases{}
	for name, labels := range extra {
		if !isField(name) {
			continue
		}
		for _, l := range labels {
			if k := labelKey(l); k != "" {
				if a.extra == nil {
					a.extra = map[string]string{}
				}
				a.extra[k] = name
			}
		}
	}
	return a
}

// Field returns the canonical field a label stands for.
func (a *Aliases) Field(label string) (name string, ok bool) {
	if a == nil {
		return "", false
	}
	var buf [64]byte
	k := appendLabelKey(buf[:0], label)
	if name, ok = a.extra[string(k)]; ok {
		return name, ok
	}
	name, ok = baseAliases()[string(k)]
	return name, ok
}

func isField(name string) bool {
	_, ok := FieldByName(name)
	return ok
}

// FieldByName returns the canonical field called name.
func FieldByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}
