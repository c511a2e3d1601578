package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dispositions of an inbound message (SPEC §3).
const (
	DispReferral    = "referral"
	DispFollowUp    = "follow-up"
	DispHeld        = "held"
	DispIgnored     = "ignored"
	DispQuarantined = "quarantined"
)

// Outbox statuses.
const (
	OutPending    = "pending"
	OutSent       = "sent"
	OutFailed     = "failed"
	OutBounced    = "bounced"
	OutSuppressed = "suppressed" // never sent: e.g. the recipient is a no-reply address
)

// Message is one inbound email as stored.
type Message struct {
	ID          int64      `db:"id" json:"id"`
	Mailbox     string     `db:"mailbox" json:"mailbox"`
	UIDValidity uint32     `db:"uidvalidity" json:"uidvalidity"`
	UID         uint32     `db:"uid" json:"uid"`
	SHA256      string     `db:"sha256" json:"sha256"`
	MessageID   string     `db:"message_id" json:"message_id"`
	FromAddr    string     `db:"from_addr" json:"from"`
	Subject     string     `db:"subject" json:"subject"`
	Size        int64      `db:"size" json:"size"`
	ReceivedAt  time.Time  `db:"received_at" json:"received_at"`
	ProcessedAt time.Time  `db:"processed_at" json:"processed_at"`
	Disposition string     `db:"disposition" json:"disposition"`
	Reason      string     `db:"reason" json:"reason"`
	PartnerID   string     `db:"partner_id" json:"partner"`
	MovedTo     string     `db:"moved_to" json:"moved_to"`
	Resolution  string     `db:"resolution" json:"resolution,omitempty"`
	ResolvedAt  *time.Time `db:"resolved_at" json:"resolved_at,omitempty"`
	ResolvedBy  string     `db:"resolved_by" json:"resolved_by,omitempty"`
}

// Ref is the message's short reference for people: "M-17".
func (m *Message) Ref() string { return "M-" + strconv.FormatInt(m.ID, 10) }

// Referral is the record of one referred client.
type Referral struct {
	ID             int64      `db:"id"`
	PartnerID      string     `db:"partner_id"`
	MessageID      int64      `db:"message_id"`
	Source         string     `db:"source"`
	Decision       string     `db:"decision"`
	Status         string     `db:"status"`
	CreatedStatus  string     `db:"created_status"` // the status it was created in ('' if created before migration 6)
	RuleID         string     `db:"rule_id"`
	ServiceID      string     `db:"service_id"`
	Reason         string     `db:"reason"`
	Missing        List       `db:"missing"`
	ClientName     string     `db:"client_name"`
	NameKey        string     `db:"name_key"`
	ClientPhone    string     `db:"client_phone"`
	ClientEmail    string     `db:"client_email"`
	DateOfBirth    string     `db:"date_of_birth"`
	PartnerCaseID  string     `db:"partner_case_id"`
	ShareOutcomes  bool       `db:"share_outcomes"`
	ReferrerAddr   string     `db:"referrer_addr"`
	Fields         Map        `db:"fields"`
	Extra          Map        `db:"extra"`
	Notes          List       `db:"notes"`
	ReceivedAt     time.Time  `db:"received_at"`
	CreatedAt      time.Time  `db:"created_at"`
	UpdatedAt      time.Time  `db:"updated_at"`
	FirstContactAt *time.Time `db:"first_contact_at"`
	ClosedAt       *time.Time `db:"closed_at"`
}

// Ref is the referral's short reference: "R-1042".
func (r *Referral) Ref() string { return FormatRef(r.ID) }

// FormatRef formats a referral id as its reference.
func FormatRef(id int64) string { return "R-" + strconv.FormatInt(id, 10) }

// ParseRef reads a referral reference: "R-1042", "r1042" or "1042".
func ParseRef(s string) (int64, error) { return parseRef("R", "referral reference (like R-1042)", s) }

// ParseMessageRef reads a message reference: "M-17" or "17".
func ParseMessageRef(s string) (int64, error) {
	return parseRef("M", "message reference (like M-17)", s)
}

// ParseOutRef reads an outbox reference: "O-12" or "12".
func ParseOutRef(s string) (int64, error) { return parseRef("O", "outbox reference (like O-12)", s) }

// parseRef reads prefix-N, prefixN or N.
func parseRef(prefix, what, s string) (int64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), prefix), "-")
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("not a %s: %q", what, s)
	}
	return id, nil
}

// Event is one entry in a referral's history.
type Event struct {
	ID         int64     `db:"id" json:"-"`
	ReferralID int64     `db:"referral_id" json:"-"`
	At         time.Time `db:"at" json:"at"`
	By         string    `db:"by" json:"by"`
	Kind       string    `db:"kind" json:"kind"`
	FromStatus string    `db:"from_status" json:"from,omitempty"`
	ToStatus   string    `db:"to_status" json:"to,omitempty"`
	Note       string    `db:"note" json:"note,omitempty"`
	Forced     bool      `db:"forced" json:"forced,omitempty"`
	MessageID  *int64    `db:"message_id" json:"message,omitempty"`
}

// OutMsg is one outbound message in the outbox.
type OutMsg struct {
	ID            int64      `db:"id" json:"id"`
	Kind          string     `db:"kind" json:"kind"`
	MessageID     string     `db:"message_id" json:"message_id"`
	DedupeKey     *string    `db:"dedupe_key" json:"dedupe_key,omitempty"`
	InboundID     *int64     `db:"inbound_id" json:"inbound,omitempty"`
	ReferralID    *int64     `db:"referral_id" json:"referral,omitempty"`
	PartnerID     string     `db:"partner_id" json:"partner,omitempty"`
	To            string     `db:"to_addr" json:"to"`
	InReplyTo     string     `db:"in_reply_to" json:"in_reply_to,omitempty"`
	References    string     `db:"refs" json:"references,omitempty"`
	Subject       string     `db:"subject" json:"-"`
	Data          []byte     `db:"data" json:"-"`
	Status        string     `db:"status" json:"status"`
	Attempts      int        `db:"attempts" json:"attempts"`
	NextAttemptAt time.Time  `db:"next_attempt_at" json:"next_attempt_at"`
	LeaseUntil    *time.Time `db:"lease_until" json:"-"`
	LastError     string     `db:"last_error" json:"last_error,omitempty"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	SentAt        *time.Time `db:"sent_at" json:"sent_at,omitempty"`
}

// Ref is the outbox row's short reference: "O-5".
func (o *OutMsg) Ref() string { return "O-" + strconv.FormatInt(o.ID, 10) }

// Map is a string map stored as a JSON object.
type Map map[string]string

// Value implements driver.Valuer. The JSON is encoding/json's (keys in
// order), written without reflection: every stored referral has three of
// these.
func (m Map) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return string(append(b, '}')), nil
}

// appendJSONString appends s as encoding/json writes it: as it is between
// quotes when every byte is printable ASCII that needs no escape (as
// almost all of intake's values are), else by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Scan implements sql.Scanner.
func (m *Map) Scan(src any) error { return scanJSON(src, m) }

// List is a string list stored as a JSON array.
type List []string

// Value implements driver.Valuer (encoding/json's JSON, as Map's).
func (l List) Value() (driver.Value, error) {
	return jsonArray(l, appendJSONString), nil
}

// jsonArray writes vals as a JSON array, each string by appendString.
func jsonArray(vals []string, appendString func([]byte, string) []byte) string {
	n := 2
	for _, v := range vals {
		n += len(v) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return string(append(b, ']'))
}

// Scan implements sql.Scanner.
func (l *List) Scan(src any) error { return scanJSON(src, l) }

func scanJSON(src, dst any) error {
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		return json.Unmarshal([]byte(v), dst)
	case []byte:
		return json.Unmarshal(v, dst)
	}
	return fmt.Errorf("store: cannot scan %T as JSON", src)
}
