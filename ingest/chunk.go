package ingest

import (
	"time"

	"refdesk/parse"
	"refdesk/store"
)

// chunk is the Lookups of one intake transaction, and the way its writes go
// to the database. Before the first message it asks the database once for
// every key the chunk's messages carry (their hashes, their clients'
// phones, emails and names, the reply cap's counts for their senders);
// every write of the transaction that could change an answer (a message, a
// referral created or merged, a reply queued) passes through it and updates
// what it holds, so each message sees what the earlier messages of the same
// chunk wrote, exactly as with a query per message. A question about a key
// it did not load (a follow-up's thread, a message it was not built for)
// goes to the transaction itself.
type chunk struct {
	tx *store.Tx

	// shas holds the first stored message of every hash loaded; nil for a
	// hash no message has yet.
	shas map[string]*store.Message

	// The duplicate check: dupIDs holds, for every client key loaded, the
	// referrals that had it when loaded or were written with it since
	// (some may have changed since: clients holds what each has now).
	dupIDs  map[clientKey][]int64
	clients map[int64]store.ClientKeys

	// The reply cap: for each address loaded, the replies queued to it
	// at or after capUntil (counted) and those between capFrom and
	// capUntil (with their times), plus those queued in this transaction.
	capLoaded          bool
	capFrom, capUntil  time.Time
	capCount           map[string]int
	capTimes           map[string][]time.Time
	caseload, caseKnow int // the caseload and whether it is known (1)
}

// clientKey is one way of telling the same client: a phone, an email, or a
// name key with a date of birth.
type clientKey struct {
	kind byte // 'p', 'e' or 'n'
	a, b string
}

// keysOf lists the client keys of the duplicate check's arguments (SPEC §5
// rule 7): empty values identify no one.
func keysOf(phone, email, nameKey, dob string) []clientKey {
	var ks []clientKey
	if phone != "" {
		ks = append(ks, clientKey{'p', phone, ""})
	}
	if email != "" {
		ks = append(ks, clientKey{'e', email, ""})
	}
	if nameKey != "" && dob != "" {
		ks = append(ks, clientKey{'n', nameKey, dob})
	}
	return ks
}

func (k clientKey) matches(c store.ClientKeys) bool {
	switch k.kind {
	case 'p':
		return c.Phone == k.a
	case 'e':
		return c.Email == k.a
	}
	return c.NameKey == k.a && c.DateOfBirth == k.b
}

// newChunk returns the lookups of a transaction that loaded nothing yet:
// every question goes to tx until load.
func newChunk(tx *store.Tx) *chunk {
	return &chunk{tx: tx}
}

// load asks the database, once, everything triage will ask about the
// prepared messages ins.
func (c *chunk) load(p *Processor, ins []Inbound) error {
	var sums []string
	var phones, emails []string
	var names []store.NameDOB
	addrs := map[string]bool{}
	c.dupIDs = map[clientKey][]int64{}
	c.clients = map[int64]store.ClientKeys{}
	var first, last time.Time
	for i := range ins {
		in := &ins[i]
		received := in.Received
		if received.IsZero() {
			received = c.tx.Now()
		}
		if first.IsZero() || received.Before(first) {
			first = received
		}
		if received.After(last) {
			last = received
		}
		pr := in.prep
		if pr == nil {
			continue // too large: asked per message
		}
		sums = append(sums, hexSum(in.sum))
		if pr.msg == nil {
			continue
		}
		addrs[pr.msg.From.Addr] = true
		for _, a := range pr.msg.ReplyTo {
			addrs[a.Addr] = true
		}
		for _, cd := range pr.msg.Candidates {
			f := cd.Fields
			for _, k := range keysOf(f["client_phone"], f["client_email"], parse.NameKey(f["client_name"]), f["date_of_birth"]) {
				if _, ok := c.dupIDs[k]; ok {
					continue
				}
				c.dupIDs[k] = nil
				switch k.kind {
				case 'p':
					phones = append(phones, k.a)
				case 'e':
					emails = append(emails, k.a)
				default:
					names = append(names, store.NameDOB{NameKey: k.a, DateOfBirth: k.b})
				}
			}
		}
	}
	var err error
	if c.shas, err = c.tx.MessagesBySHA(sums); err != nil {
		return err
	}
	for _, s := range sums {
		if _, ok := c.shas[s]; !ok {
			c.shas[s] = nil
		}
	}
	open, err := c.tx.OpenClients(phones, emails, names)
	if err != nil {
		return err
	}
	for _, r := range open {
		c.noteClient(r)
	}
	delete(addrs, "")
	if len(addrs) > 0 && !first.IsZero() {
		list := make([]string, 0, len(addrs))
		for a := range addrs {
			list = append(list, a)
		}
		// Each message counts from its own time less the window: the
		// replies since the latest of those are counted; the few
		// between the earliest and the latest are kept with their
		// times.
		c.capFrom, c.capUntil = first.Add(-replyCapWindow).Round(0), last.Add(-replyCapWindow).Round(0)
		if c.capCount, err = c.tx.ReplyCounts(list, c.capUntil); err != nil {
			return err
		}
		times, err := c.tx.ReplyTimes(list, c.capFrom, c.capUntil)
		if err != nil {
			return err
		}
		c.capTimes = make(map[string][]time.Time, len(addrs))
		for _, a := range list {
			c.capTimes[a] = nil
		}
		for _, t := range times {
			c.capTimes[t.Addr] = append(c.capTimes[t.Addr], t.CreatedAt)
		}
		c.capLoaded = true
	}
	return nil
}

func hexSum(sum [32]byte) string {
	const digits = "0123456789abcdef"
	var b [64]byte
	for i, x := range sum {
		b[2*i], b[2*i+1] = digits[x>>4], digits[x&15]
	}
	return string(b[:])
}

// noteClient records what referral r now is, under each of its keys that
// was loaded.
func (c *chunk) noteClient(r store.ClientKeys) {
	if c.clients == nil {
		return
	}
	c.clients[r.ID] = r
	for _, k := range keysOf(r.Phone, r.Email, r.NameKey, r.DateOfBirth) {
		if ids, ok := c.dupIDs[k]; ok && !containsID(ids, r.ID) {
			c.dupIDs[k] = append(ids, r.ID)
		}
	}
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// The Lookups triage asks.

func (c *chunk) ReferralByThread(msgids []string) (*store.Referral, error) {
	return c.tx.ReferralByThread(msgids)
}

func (c *chunk) Referral(id int64) (*store.Referral, error) { return c.tx.Referral(id) }

// OpenDuplicate is store.Tx's OpenDuplicate: the oldest open referral with
// the same phone, email, or name key and date of birth.
func (c *chunk) OpenDuplicate(phone, email, nameKey, dob string) (*store.Referral, error) {
	keys := keysOf(phone, email, nameKey, dob)
	for _, k := range keys {
		if _, ok := c.dupIDs[k]; !ok {
			return c.tx.OpenDuplicate(phone, email, nameKey, dob)
		}
	}
	var best int64
	for _, k := range keys {
		for _, id := range c.dupIDs[k] {
			r := c.clients[id]
			if store.IsOpen(r.Status) && k.matches(r) && (best == 0 || id < best) {
				best = id
			}
		}
	}
	if best == 0 {
		return nil, store.ErrNotFound
	}
	return c.tx.Referral(best)
}

func (c *chunk) Caseload() (int, error) {
	if c.caseKnow == 0 {
		n, err := c.tx.Caseload()
		if err != nil {
			return 0, err
		}
		c.caseload, c.caseKnow = n, 1
	}
	return c.caseload, nil
}

// RepliesSince is store.Tx's RepliesSince: the automatic replies queued to
// addr since a time, counted up to limit.
func (c *chunk) RepliesSince(addr string, since time.Time, limit int) (int, error) {
	since = since.Round(0) // compared by the clock's time, as the database does
	times, ok := c.capTimes[addr]
	if !c.capLoaded || !ok || since.Before(c.capFrom) || since.After(c.capUntil) {
		return c.tx.RepliesSince(addr, since, limit)
	}
	n := c.capCount[addr]
	for _, t := range times {
		if !t.Before(since) {
			n++
		}
	}
	return min(n, limit), nil
}

// The writes that change those answers.

func (c *chunk) InsertMessage(m *store.Message) error {
	if err := c.tx.InsertMessage(m); err != nil {
		return err
	}
	if prior, ok := c.shas[m.SHA256]; ok && prior == nil {
		c.shas[m.SHA256] = &store.Message{ID: m.ID, SHA256: m.SHA256, Disposition: m.Disposition}
	}
	return nil
}

// MessageBySHA is store.Tx's MessageBySHA.
func (c *chunk) MessageBySHA(sum string) (*store.Message, error) {
	m, ok := c.shas[sum]
	if !ok {
		return c.tx.MessageBySHA(sum)
	}
	if m == nil {
		return nil, store.ErrNotFound
	}
	return m, nil
}

func (c *chunk) CreateReferral(r *store.Referral, messageID *int64, note string) error {
	if err := c.tx.CreateReferral(r, messageID, note); err != nil {
		return err
	}
	c.noteClient(r.Keys())
	if c.caseKnow == 1 && isCaseload(r.Status) {
		c.caseload++
	}
	return nil
}

func (c *chunk) UpdateReferral(r *store.Referral) error {
	if err := c.tx.UpdateReferral(r); err != nil {
		return err
	}
	c.noteClient(r.Keys())
	c.caseKnow = 0 // its status may have changed: count again if asked
	return nil
}

func (c *chunk) Enqueue(o *store.OutMsg) (bool, error) {
	added, err := c.tx.Enqueue(o)
	if err != nil || !added {
		return added, err
	}
	if times, ok := c.capTimes[o.To]; ok && store.CountsForCap(o.Kind) {
		c.capTimes[o.To] = append(times, o.CreatedAt)
	}
	return true, nil
}

func isCaseload(status string) bool {
	for _, s := range store.CaseloadStatuses {
		if s == status {
			return true
		}
	}
	return false
}

var _ Lookups = (*chunk)(nil)
