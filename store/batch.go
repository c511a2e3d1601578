package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lookups for a whole intake transaction at once: intake asks these once
// per chunk of messages, with every key of the chunk, instead of once per
// message (see ingest's chunk). Each list of keys is one bound parameter, a
// JSON array (jsonList), so the queries are prepared once, not once per
// chunk with as many variables as keys.

// inChunk is how many rows one SetMoved statement updates.
const inChunk = 500

// CapKinds are the kinds of outbox message the per-sender reply cap counts
// (SPEC §6): the automatic replies. The replies_since query lists the same.
var CapKinds = []string{"accepted", "redirected", "needs-info", "duplicate", "waitlisted", "unknown-sender", "batch", "too-large"}

// CountsForCap reports whether an outbox message of this kind counts
// toward the per-sender reply cap.
func CountsForCap(kind string) bool { return slices.Contains(CapKinds, kind) }

// IsOpen reports whether a referral in status s is still in progress
// (OpenStatuses): a second referral of its client is a duplicate.
func IsOpen(s string) bool { return slices.Contains(OpenStatuses, s) }

// inParts calls fn with successive parts of vals of at most inChunk values.
func inParts[T any](vals []T, fn func([]T) error) error {
	for len(vals) > 0 {
		part := vals[:min(len(vals), inChunk)]
		vals = vals[len(part):]
		if err := fn(part); err != nil {
			return err
		}
	}
	return nil
}

// MessagesBySHA returns, for each of sums that a stored message has, the
// first message stored with it (its id and disposition): MessageBySHA for
// many hashes at once.
func (t *Tx) MessagesBySHA(sums []string) (map[string]*Message, error) {
	var rows []Message
	if err := t.q("messages_by_sha").SelectContext(t.ctx, &rows, jsonList(sums)); err != nil {
		return nil, fmt.Errorf("store: messages by hash: %w", err)
	}
	out := make(map[string]*Message, len(rows))
	for i := range rows {
		if _, ok := out[rows[i].SHA256]; !ok {
			out[rows[i].SHA256] = &rows[i]
		}
	}
	return out, nil
}

// ClientKeys is what the duplicate check (SPEC §5 rule 7) compares of a
// referral.
type ClientKeys struct {
	ID          int64  `db:"id"`
	Status      string `db:"status"`
	Phone       string `db:"client_phone"`
	Email       string `db:"client_email"`
	NameKey     string `db:"name_key"`
	DateOfBirth string `db:"date_of_birth"`
}

// Keys returns the client keys of r.
func (r *Referral) Keys() ClientKeys {
	return ClientKeys{ID: r.ID, Status: r.Status, Phone: r.ClientPhone, Email: r.ClientEmail,
		NameKey: r.NameKey, DateOfBirth: r.DateOfBirth}
}

// NameDOB is a client's name key with a date of birth.
type NameDOB struct{ NameKey, DateOfBirth string }

// OpenClients returns the open referrals whose phone is one of phones, or
// whose email is one of emails, or whose name key and date of birth are one
// of names (each referral once, in order of id). Empty values match
// nothing, as in OpenDuplicate.
func (t *Tx) OpenClients(phones, emails []string, names []NameDOB) ([]ClientKeys, error) {
	pairs := make([][]string, len(names))
	for i, n := range names {
		pairs[i] = []string{n.NameKey, n.DateOfBirth}
	}
	seen := map[int64]bool{}
	var out []ClientKeys
	for _, by := range []struct {
		query string
		keys  string
	}{{"open_clients_by_phone", jsonList(phones)}, {"open_clients_by_email", jsonList(emails)}, {"open_clients_by_name", jsonPairs(pairs)}} {
		var rows []ClientKeys
		if err := t.q(by.query).SelectContext(t.ctx, &rows, by.keys); err != nil {
			return nil, fmt.Errorf("store: open referrals by client: %w", err)
		}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b ClientKeys) int { return int(a.ID - b.ID) })
	return out, nil
}

// ReplyCounts counts, for each of addrs, the automatic replies (CapKinds)
// queued to it since a time: RepliesSince for many addresses at once,
// without its limit. Addresses with none are absent.
func (t *Tx) ReplyCounts(addrs []string, since time.Time) (map[string]int, error) {
	var rows []struct {
		Addr string `db:"to_addr"`
		N    int    `db:"n"`
	}
	if err := t.q("reply_counts").SelectContext(t.ctx, &rows, jsonList(addrs), since.UTC()); err != nil {
		return nil, fmt.Errorf("store: reply counts: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Addr] = r.N
	}
	return out, nil
}

// QueuedReply is when an automatic reply to an address was queued.
type QueuedReply struct {
	Addr      string    `db:"to_addr"`
	CreatedAt time.Time `db:"created_at"`
}

// ReplyTimes lists the automatic replies (CapKinds) to addrs queued at or
// after from and before to.
func (t *Tx) ReplyTimes(addrs []string, from, to time.Time) ([]QueuedReply, error) {
	var out []QueuedReply
	if err := t.q("reply_times").SelectContext(t.ctx, &out, jsonList(addrs), from.UTC(), to.UTC()); err != nil {
		return nil, fmt.Errorf("store: reply times: %w", err)
	}
	return out, nil
}

// jsonList is vals as a JSON array, for json_each: each string between
// quotes with only the quote, the backslash and control bytes escaped, so
// that json_each gives back exactly the bytes (invalid UTF-8 included)
// that an equal column holds.
func jsonList(vals []string) string { return jsonArray(vals, appendJSONBytes) }

// jsonInts is ids as a JSON array of numbers, for json_each.
func jsonInts[T ~int64 | ~uint32](ids []T) string {
	b := make([]byte, 0, 2+11*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(append(b, ']'))
}

// jsonPairs is an array of arrays of strings, as jsonList writes them.
func jsonPairs(rows [][]string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonList(r))
	}
	b.WriteByte(']')
	return b.String()
}

// appendJSONBytes appends s as a JSON string that keeps its bytes.
func appendJSONBytes(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
