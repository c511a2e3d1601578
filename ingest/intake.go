package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// Processed says what became of one message.
type Processed struct {
	ID          int64 // the stored message's id (M-ID)
	Disposition string
	Reason      string
	Folder      string   // where the message goes after the commit
	Refs        []string // referrals created or updated
	Decisions   []string // per candidate
	Reply       string   // kind of reply queued, "" for none
	NoReply     string   // why a due reply was not sent
}

// Processor takes raw messages through parse, triage and store.
type Processor struct {
	cfg       *configs.Config
	triager   *Triager
	opt       parse.Options
	domain    string
	lookupTXT LookupTXT // DKIM keys; nil: the system resolver
	spool     *spool
	// spoolAbove is the size above which a message is spooled, not
	// held in memory (spoolAbove; tests lower it).
	spoolAbove int64
}

// NewProcessor builds the intake pipeline for cfg.
func NewProcessor(cfg *configs.Config) *Processor {
	domain := cfg.Program.ReplyDomain()
	return &Processor{
		cfg:     cfg,
		triager: NewTriager(cfg),
		opt:     ParseOptions(cfg),
		domain:  domain,
		spool:   &spool{dir: SpoolDir(cfg.Database.Path, cfg.Intake.SpoolDir)},

		spoolAbove: spoolAbove,
	}
}

// CleanSpool removes what a crash left in the spool directory (the daemon
// does it as it starts).
func (p *Processor) CleanSpool() error { return p.spool.clean() }

// ParseOptions are the parser options a config implies.
func ParseOptions(cfg *configs.Config) parse.Options {
	return parse.Options{Aliases: cfg.Fields.Aliases, CountryCode: cfg.Intake.CountryCode,
		MaxAttachments: cfg.Intake.MaxAttachments, MaxAttachmentBytes: int64(cfg.Intake.MaxAttachmentSize),
		MaxUnzippedBytes: int64(cfg.Intake.MaxUnzippedSize)}
}

// Triager returns the processor's triager (for the dry run).
func (p *Processor) Triager() *Triager { return p.triager }

// Process stores one inbound message with everything it leads to, inside
// tx: the raw message, its referrals and events, and the reply to send.
// A message that cannot be parsed is stored quarantined; only database
// errors are returned, and then nothing of the batch is kept.
func (p *Processor) Process(tx *store.Tx, in Inbound) (Processed, error) {
	out, err := p.ProcessAll(tx, []Inbound{in})
	if err != nil {
		return Processed{}, err
	}
	return out[0], nil
}

// ProcessAll stores messages in order inside tx, as Process does one by
// one, with the same outcome: each message sees what the earlier ones
// wrote (a duplicate client, a copy of the same bytes, a reply counted
// against the cap). What triage asks the database is asked once for all
// of them (see chunk), not once per message.
func (p *Processor) ProcessAll(tx *store.Tx, ins []Inbound) ([]Processed, error) {
	for i := range ins {
		p.Prepare(&ins[i])
	}
	c := newChunk(tx)
	if err := c.load(p, ins); err != nil {
		return nil, err
	}
	out := make([]Processed, len(ins))
	for i := range ins {
		res, err := p.process(c, ins[i])
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// process stores one prepared message in c's transaction.
func (p *Processor) process(c *chunk, in Inbound) (Processed, error) {
	tx := c.tx
	m := &store.Message{
		Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID,
		Size: in.Size, ReceivedAt: in.Received, ProcessedAt: tx.Now(),
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = tx.Now()
	}
	if !in.fetched() {
		return p.tooLarge(c, m, in.Header)
	}
	p.Prepare(&in)
	pr := in.prep
	if pr.ioErr != nil {
		return Processed{}, fmt.Errorf("intake of uid %d: %w", in.UID, pr.ioErr)
	}
	m.SHA256 = hexSum(in.sum)
	if dup, err := copyOf(c, m); err != nil {
		return Processed{}, err
	} else if dup {
		return p.insertOnly(c, m, nil)
	}
	if pr.err != nil {
		m.Disposition = store.DispQuarantined
		m.Reason = quarantineReason(pr.err)
		return p.insertOnly(c, m, &in)
	}
	msg := pr.msg
	m.MessageID, m.FromAddr, m.Subject = msg.MessageID, msg.From.Addr, msg.Subject
	out, err := p.triager.Triage(msg, c, m.ReceivedAt, Options{DKIM: pr.dkim})
	if err != nil {
		return Processed{}, err
	}
	m.Disposition, m.Reason = out.Disposition, out.Reason
	if out.Partner != nil {
		m.PartnerID = out.Partner.ID
	}
	if err := p.insertMessage(c, m, &in); err != nil {
		return Processed{}, err
	}
	return p.apply(c, m, msg, out)
}

// insertMessage stores message m and, unless in is nil, its raw bytes.
func (p *Processor) insertMessage(c *chunk, m *store.Message, in *Inbound) error {
	if err := c.InsertMessage(m); err != nil {
		return err
	}
	switch {
	case in == nil:
		return nil
	case in.spooled != nil:
		n, err := c.tx.CopyRaw(m.ID, in.spooled.reader())
		if err == nil && n != in.spooled.Size() {
			err = fmt.Errorf("intake of uid %d: spool gave back %d of %d bytes", in.UID, n, in.spooled.Size())
		}
		return err
	}
	return c.tx.PutRaw(m.ID, in.Raw)
}

// copyOf tells whether m (its SHA256 set) is a copy of a message processed
// already: the same delivery appended twice, or seen again after a
// UIDVALIDITY change. A copy is never answered twice: it is recorded as
// ignored (quarantined if the first one was) with the first one's
// reference.
func copyOf(c *chunk, m *store.Message) (bool, error) {
	prior, err := c.MessageBySHA(m.SHA256)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m.Disposition = store.DispIgnored
	if prior.Disposition == store.DispQuarantined {
		m.Disposition = store.DispQuarantined
	}
	m.Reason = "copy of " + prior.Ref() + ", already processed"
	return true, nil
}

// tooLarge records a message too large to fetch (SPEC §9: decided from
// RFC822.SIZE) as quarantined, from its header alone. A partner (not a
// machine, not a sender failing authentication, within the reply cap) is
// asked politely to send the form separately.
func (p *Processor) tooLarge(c *chunk, m *store.Message, header []byte) (Processed, error) {
	m.Disposition = store.DispQuarantined
	m.Reason = fmt.Sprintf("too large: %d bytes (limit %d)", m.Size, int64(p.cfg.Intake.MaxMessageSize))
	if len(header) == 0 {
		m.SHA256 = fmt.Sprintf("unfetched:%s:%d:%d", m.Mailbox, m.UIDValidity, m.UID)
		return p.insertOnly(c, m, nil)
	}
	// Keyed by its header and size, not its UID: the same message seen
	// again after the server recreated the mailbox (a new UIDVALIDITY) is
	// a copy, and is not answered twice.
	sum := sha256.Sum256(header)
	m.SHA256 = fmt.Sprintf("unfetched:%x:%d", sum, m.Size)
	if dup, err := copyOf(c, m); err != nil {
		return Processed{}, err
	} else if dup {
		return p.insertOnly(c, m, nil)
	}
	msg, err := safeParse(bytes.NewReader(append(bytes.TrimRight(header, "\r\n"), "\r\n\r\n"...)), p.opt, p.cfg.Intake.ParseTimeout.Duration)
	if err != nil {
		return p.insertOnly(c, m, nil)
	}
	m.MessageID, m.FromAddr, m.Subject = msg.MessageID, msg.From.Addr, msg.Subject
	out, err := p.triager.TooLarge(msg, c, m.ReceivedAt)
	if err != nil {
		return Processed{}, err
	}
	if out.Partner != nil {
		m.PartnerID = out.Partner.ID
	}
	if out.Reason != "" {
		m.Reason += "; " + out.Reason
	}
	if err := c.InsertMessage(m); err != nil {
		return Processed{}, err
	}
	out.Disposition, out.Reason = store.DispQuarantined, m.Reason
	return p.apply(c, m, msg, out)
}

// insertOnly stores message m (and, unless in is nil, its raw bytes) and
// nothing more.
func (p *Processor) insertOnly(c *chunk, m *store.Message, in *Inbound) (Processed, error) {
	if err := p.insertMessage(c, m, in); err != nil {
		return Processed{}, err
	}
	return Processed{ID: m.ID, Disposition: m.Disposition, Reason: m.Reason, Folder: p.folder(m.Disposition)}, nil
}

func (p *Processor) folder(disposition string) string {
	if disposition == store.DispQuarantined {
		return p.cfg.IMAP.Quarantine
	}
	return p.cfg.IMAP.Processed
}

// apply writes what triage decided for stored message m.
func (p *Processor) apply(c *chunk, m *store.Message, msg *parse.Message, out *Outcome) (Processed, error) {
	tx := c.tx
	res := Processed{ID: m.ID, Disposition: out.Disposition, Reason: out.Reason, Folder: p.folder(out.Disposition), NoReply: out.NoReply}
	if msg.Bounce && len(msg.Bounced) > 0 {
		if _, err := tx.MarkBounced(msg.Bounced, "bounce received as "+m.Ref()); err != nil {
			return res, err
		}
	}
	var items []store.ReplyItem
	var single *int64
	switch {
	case out.FollowUp != nil:
		r, item, err := p.applyFollowUp(c, m, msg, out)
		if err != nil {
			return res, err
		}
		res.Refs = []string{r.Ref()}
		if item != nil {
			items, single = []store.ReplyItem{*item}, &r.ID
			res.Decisions = []string{item.Decision}
		}
	case out.Disposition == store.DispReferral:
		for _, rr := range out.Results {
			item, id, err := p.applyResult(c, m, msg, out, rr)
			if err != nil {
				return res, err
			}
			items = append(items, item)
			res.Refs = append(res.Refs, item.Ref)
			res.Decisions = append(res.Decisions, rr.Decision)
			if len(out.Results) == 1 {
				single = &id
			}
		}
	}
	if out.Disposition == store.DispReferral || out.Disposition == store.DispFollowUp {
		attachTo := single
		if out.FollowUp != nil {
			attachTo = &out.FollowUp.ID
		}
		if err := storeAttachments(tx, m, msg, attachTo); err != nil {
			return res, err
		}
	}
	if out.Reply == "" {
		return res, nil
	}
	data, err := json.Marshal(store.Reply{Items: items})
	if err != nil {
		return res, err
	}
	o := &store.OutMsg{
		Kind: out.Reply, MessageID: store.NewMessageID(p.domain), InboundID: &m.ID, ReferralID: single,
		To: out.ReplyTo, InReplyTo: msg.MessageID, References: references(msg),
		Subject: ScrubSubject(msg.Subject, out.Results), Data: data,
	}
	if out.Partner != nil {
		o.PartnerID = out.Partner.ID
	}
	if out.NoReply != "" {
		o.Status, o.LastError = store.OutSuppressed, "not sent: "+out.NoReply
	}
	if _, err := c.Enqueue(o); err != nil {
		return res, err
	}
	if out.NoReply == "" {
		res.Reply = out.Reply
	}
	return res, nil
}

// applyResult creates the referral for one candidate, or records a
// duplicate on the open referral it matches.
func (p *Processor) applyResult(c *chunk, m *store.Message, msg *parse.Message, out *Outcome, rr Result) (store.ReplyItem, int64, error) {
	tx := c.tx
	item := replyItem(rr)
	if rr.Decision == Duplicate {
		d := rr.Duplicate
		err := tx.AddEvent(&store.Event{ReferralID: d.ID, By: "refdesk", Kind: "duplicate", MessageID: &m.ID,
			Note: "the same client was referred again by " + msg.From.Addr})
		item.Ref = d.Ref()
		return item, d.ID, err
	}
	r := newReferral(m, msg, out.Partner.ID, rr)
	if err := c.CreateReferral(r, &m.ID, eventNote(rr)); err != nil {
		return item, 0, err
	}
	item.Ref = r.Ref()
	return item, r.ID, nil
}

// applyFollowUp merges a follow-up into its referral and, for a needs-info
// referral, records the new decision. It returns the reply item if the
// follow-up is answered.
func (p *Processor) applyFollowUp(c *chunk, m *store.Message, msg *parse.Message, out *Outcome) (*store.Referral, *store.ReplyItem, error) {
	tx := c.tx
	r := out.FollowUp
	var added []string
	if len(msg.Candidates) > 0 {
		c := msg.Candidates[0]
		for k, v := range c.Fields {
			if strings.TrimSpace(v) != "" && r.Fields[k] != v {
				added = append(added, k)
			}
		}
		r.Fields = mergeFields(r.Fields, c.Fields)
		r.Extra = mergeFields(r.Extra, c.Extra)
		r.Notes = append(r.Notes, c.Notes...)
		setIndexed(r)
	}
	note := "follow-up from " + msg.From.Addr
	if len(added) > 0 {
		note += "; fields: " + strings.Join(slices.Sorted(slices.Values(added)), ", ")
	}
	if err := tx.AddEvent(&store.Event{ReferralID: r.ID, By: "refdesk", Kind: "follow-up", MessageID: &m.ID, Note: note}); err != nil {
		return nil, nil, err
	}
	if len(out.Results) == 0 {
		return r, nil, c.UpdateReferral(r)
	}
	rr := out.Results[0]
	from := r.Status
	r.Decision, r.Status, r.Missing, r.Reason = rr.Decision, rr.Decision, rr.Missing, rr.Reason
	r.RuleID, r.ServiceID = "", ""
	if rr.Rule != nil {
		r.RuleID = rr.Rule.ID
	}
	if rr.Service != nil {
		r.ServiceID = rr.Service.ID
	}
	if store.IsFinal(r.Status) {
		now := tx.Now()
		r.ClosedAt = &now
	}
	if err := c.UpdateReferral(r); err != nil {
		return nil, nil, err
	}
	if from != r.Status {
		if err := tx.AddEvent(&store.Event{ReferralID: r.ID, By: "refdesk", Kind: "status", FromStatus: from,
			ToStatus: r.Status, MessageID: &m.ID, Note: eventNote(rr)}); err != nil {
			return nil, nil, err
		}
	}
	rr.Candidate.Fields = r.Fields
	item := replyItem(rr)
	item.Ref = r.Ref()
	return r, &item, nil
}

func newReferral(m *store.Message, msg *parse.Message, partner string, rr Result) *store.Referral {
	c := rr.Candidate
	fields := map[string]string{}
	for k, v := range c.Fields {
		fields[k] = v
	}
	if fields["referrer_name"] == "" && msg.From.Name != "" {
		fields["referrer_name"] = msg.From.Name
	}
	r := &store.Referral{
		PartnerID: partner, MessageID: m.ID, Source: c.Source, Decision: rr.Decision, Status: rr.Decision,
		Reason: rr.Reason, Missing: rr.Missing, ReferrerAddr: msg.From.Addr,
		Fields: fields, Extra: c.Extra, Notes: c.Notes, ReceivedAt: m.ReceivedAt,
	}
	if rr.Rule != nil {
		r.RuleID = rr.Rule.ID
	}
	if rr.Service != nil {
		r.ServiceID = rr.Service.ID
	}
	if r.Status == store.StatusRedirected {
		r.ClosedAt = &m.ProcessedAt
	}
	setIndexed(r)
	return r
}

// setIndexed copies the fields triage and listings search on into their
// columns.
func setIndexed(r *store.Referral) {
	f := r.Fields
	r.ClientName = f["client_name"]
	r.NameKey = parse.NameKey(f["client_name"])
	r.ClientPhone = f["client_phone"]
	r.ClientEmail = f["client_email"]
	r.DateOfBirth = f["date_of_birth"]
	r.PartnerCaseID = f["partner_case_id"]
	v, _ := parse.YesNo(f["share_outcomes"])
	r.ShareOutcomes = v == "yes"
}

func eventNote(rr Result) string {
	switch rr.Decision {
	case Redirected:
		id := ""
		if rr.Rule != nil {
			id = " (rule " + rr.Rule.ID + ")"
		}
		return "redirected to " + rr.Service.ID + id
	case Waitlisted, NeedsInfo:
		return rr.Reason
	}
	return ""
}
