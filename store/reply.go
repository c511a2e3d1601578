package store

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// Reply is the data of an automatic reply, kept in OutMsg.Data as JSON. It is
// a snapshot: the reply says what was decided when the mail came in, even if
// the config or the record changes before it is sent. It holds only what SPEC
// §6 allows in outbound mail.
type Reply struct {
	Items []ReplyItem `json:"items,omitempty"`
}

// ReplyItem is one referral's outcome in a reply.
type ReplyItem struct {
	Ref      string       `json:"ref,omitempty"`
	Decision string       `json:"decision"` // accepted | redirected | needs-info | waitlisted | duplicate
	CaseID   string       `json:"case_id,omitempty"`
	Client   string       `json:"client,omitempty"` // first name and last initial only
	Source   string       `json:"source,omitempty"` // the row of a batch file, e.g. "row 3"; "" otherwise
	Reason   string       `json:"reason,omitempty"`
	Missing  []string     `json:"missing,omitempty"` // field names; "contact" = phone or email
	Service  *ServiceInfo `json:"service,omitempty"`
}

// ServiceInfo is a snapshot of the service a redirect points to.
type ServiceInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Contact string `json:"contact,omitempty"`
	Email   string `json:"email,omitempty"`
	About   string `json:"about,omitempty"`
}

// NewMessageID makes a fresh Message-ID (without angle brackets) in domain.
// Outbox rows get theirs before the first attempt, so a retry after a crash
// carries the same id and the far end can tell it is the same message. It
// starts with the time in milliseconds, in fixed-width hex, then 64 random
// bits: ids made later sort later, so the outbox's unique index on them
// grows at its end instead of at a random leaf for every reply.
func NewMessageID(domain string) string {
	var b [14]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	if domain == "" {
		domain = "refdesk.invalid"
	}
	return hex.EncodeToString(b[:]) + ".refdesk@" + strings.ToLower(domain)
}
