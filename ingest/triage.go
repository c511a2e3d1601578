package ingest

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// Decisions triage makes for a referral candidate. The first four are also
// the status the record is created in (SPEC §7); a duplicate creates no
// record.
const (
	Accepted   = store.StatusAccepted
	Redirected = store.StatusRedirected
	NeedsInfo  = store.StatusNeedsInfo
	Waitlisted = store.StatusWaitlisted
	Duplicate  = "duplicate"
)

// Lookups is what triage asks the database. *store.Tx implements it; the
// dry run uses NoLookups.
type Lookups interface {
	ReferralByThread(msgids []string) (*store.Referral, error)
	Referral(id int64) (*store.Referral, error)
	OpenDuplicate(phone, email, nameKey, dob string) (*store.Referral, error)
	Caseload() (int, error)
	RepliesSince(addr string, since time.Time, limit int) (int, error)
}

// NoLookups answers "nothing found" to every question: triage without a
// database (no follow-ups, duplicates, capacity or reply cap).
type NoLookups struct{}

func (NoLookups) ReferralByThread([]string) (*store.Referral, error) { return nil, store.ErrNotFound }
func (NoLookups) Referral(int64) (*store.Referral, error)            { return nil, store.ErrNotFound }
func (NoLookups) OpenDuplicate(_, _, _, _ string) (*store.Referral, error) {
	return nil, store.ErrNotFound
}
func (NoLookups) Caseload() (int, error)                           { return 0, nil }
func (NoLookups) RepliesSince(string, time.Time, int) (int, error) { return 0, nil }

// Outcome is what triage decided for one message.
type Outcome struct {
	Disposition string // store.Disp*
	Reason      string // why held, ignored or quarantined
	Partner     *configs.Partner
	// Results has one entry per referral candidate (empty for held and
	// ignored mail).
	Results []Result
	// FollowUp is the referral a follow-up message belongs to.
	FollowUp *store.Referral
	// Reply is the kind of automatic reply to queue ("" for none) and ReplyTo
	// its recipient; NoReply says why a due reply is not sent.
	Reply   string
	ReplyTo string
	NoReply string
}

// Result is the decision for one candidate.
type Result struct {
	Candidate parse.Candidate
	Decision  string
	Rule      *configs.Rule
	Service   *configs.Service
	Reason    string
	Missing   []string
	// Duplicate is the open referral a duplicate matches.
	Duplicate *store.Referral
}

// Options change triage for a message a coach released from the held queue.
type Options struct {
	SkipAuth bool             // the coach vouches for the sender
	SkipCap  bool             // the reply cap is lifted for this message
	Partner  *configs.Partner // treat the sender as this partner
	// DKIM is what verifying the message's signatures found, when
	// verify_dkim is on (nil otherwise).
	DKIM *DKIMReport
}

// Triager applies SPEC §5 with one config. Build it once; it is safe for
// concurrent use.
type Triager struct {
	cfg      *configs.Config
	keywords map[string]*keywords // rule id -> any-of keywords, whole words, any case
}

// NewTriager compiles the config's rules.
func NewTriager(cfg *configs.Config) *Triager {
	t := &Triager{cfg: cfg, keywords: map[string]*keywords{}}
	for _, r := range cfg.Rules {
		if len(r.Keywords) == 0 {
			continue
		}
		t.keywords[r.ID] = newKeywords(r.Keywords)
	}
	return t
}

// Triage decides what msg is (SPEC §5, first match wins). now is when the
// message was received: the reply cap window and ages are measured from it.
func (t *Triager) Triage(msg *parse.Message, lk Lookups, now time.Time, opt Options) (*Outcome, error) {
	cfg := t.cfg
	// Rule 1: machine-generated mail is never answered.
	if msg.Auto != "" {
		return &Outcome{Disposition: store.DispIgnored, Reason: "auto-generated: " + msg.Auto}, nil
	}
	out := &Outcome{ReplyTo: msg.From.Addr}
	// Rule 2: only partners refer.
	out.Partner = opt.Partner
	if out.Partner == nil {
		out.Partner = cfg.PartnerFor(msg.From.Addr)
	}
	if out.Partner == nil {
		switch cfg.Intake.UnknownSenders {
		case "ignore":
			out.Disposition, out.Reason = store.DispIgnored, "unknown sender"
			return out, nil
		case "reply":
			out.Reply = "unknown-sender"
		}
		out.Disposition, out.Reason = store.DispHeld, ErrUnknownSender.Error()
		return t.capReplies(out, lk, now, opt)
	}
	if rt := replyTo(msg, out.Partner, cfg); rt != "" {
		out.ReplyTo = rt
	}
	// Rule 3: a partner's name in From is not proof; believe only our own MX.
	if !opt.SkipAuth {
		if why := t.authFailure(msg, out.Partner, opt.DKIM); why != "" {
			out.Disposition, out.Reason = store.DispHeld, why
			return out, nil
		}
	}
	// Rule 4: a follow-up to a referral we know.
	fu, err := t.followUpTarget(msg, out.Partner, lk)
	if err != nil {
		return nil, err
	}
	cands := msg.Candidates
	if fu != nil && !newClient(cands, fu) {
		out.Disposition, out.FollowUp = store.DispFollowUp, fu
		if fu.Status == store.StatusNeedsInfo {
			merged := parse.Candidate{Source: "follow-up", Fields: map[string]string(fu.Fields)}
			if len(cands) > 0 {
				merged.Fields = mergeFields(fu.Fields, cands[0].Fields)
			}
			res, err := t.decide(merged, lk, now, true)
			if err != nil {
				return nil, err
			}
			out.Results = []Result{res}
			out.Reply = res.Decision
		}
		return t.capReplies(out, lk, now, opt)
	}
	// Rule 5: nothing that looks like a referral.
	if !slices.ContainsFunc(cands, func(c parse.Candidate) bool { return len(c.Fields) > 0 }) {
		c := parse.Candidate{Source: "body", Fields: map[string]string{}}
		if len(cands) > 0 {
			c = cands[0]
		}
		cands = []parse.Candidate{c}
	}
	out.Disposition = store.DispReferral
	var caseloadAdded int
	for _, c := range cands {
		if len(c.Fields) == 0 && len(cands) > 1 {
			continue // an empty row among others
		}
		res, err := t.decideWith(c, lk, now, false, caseloadAdded)
		if err != nil {
			return nil, err
		}
		if res.Decision == Accepted {
			caseloadAdded++
		}
		out.Results = append(out.Results, res)
	}
	out.Reply = "batch"
	if len(out.Results) == 1 {
		out.Reply = out.Results[0].Decision
	}
	return t.capReplies(out, lk, now, opt)
}

// TooLarge decides whether a message too large to take in is answered with
// the "too-large" reply: only a partner's own mail (rules 1-3 from the
// header alone), and
// within the reply cap. Reason says why no reply is sent, if that is so.
func (t *Triager) TooLarge(msg *parse.Message, lk Lookups, now time.Time) (*Outcome, error) {
	if msg.Auto != "" {
		return &Outcome{Reason: "no reply: auto-generated"}, nil
	}
	out := &Outcome{ReplyTo: msg.From.Addr, Partner: t.cfg.PartnerFor(msg.From.Addr)}
	if out.Partner == nil {
		out.Reason = "no reply: not a partner"
		return out, nil
	}
	if rt := replyTo(msg, out.Partner, t.cfg); rt != "" {
		out.ReplyTo = rt
	}
	// Without the body no signature can be checked; only a dmarc=fail from
	// our MX stops the reply (it goes to the partner's address, never
	// to a third party, and says nothing about anyone).
	if why := t.authFailure(msg, nil, nil); why != "" {
		out.Reason = "no reply: " + why
		return out, nil
	}
	out.Reply = "too-large"
	capped, err := t.capReplies(out, lk, now, Options{})
	if err != nil {
		return nil, err
	}
	if capped.Disposition == store.DispHeld { // the cap: quarantined all the same, unanswered
		return &Outcome{Partner: out.Partner, Reason: "no reply: " + capped.Reason}, nil
	}
	return capped, nil
}

// decide runs rules 6-10 for one candidate.
func (t *Triager) decide(c parse.Candidate, lk Lookups, now time.Time, isFollowUp bool) (Result, error) {
	return t.decideWith(c, lk, now, isFollowUp, 0)
}

func (t *Triager) decideWith(c parse.Candidate, lk Lookups, now time.Time, isFollowUp bool, pendingCaseload int) (Result, error) {
	cfg := t.cfg
	res := Result{Candidate: c}
	f := c.Fields
	// Rule 6: required fields.
	for _, req := range cfg.Intake.Required {
		switch {
		case req == "contact":
			if f["client_phone"] == "" && f["client_email"] == "" {
				res.Missing = append(res.Missing, "contact")
			}
		case req == "consent":
			if v, _ := parse.YesNo(f["consent"]); v != "yes" {
				res.Missing = append(res.Missing, "consent")
			}
		case f[req] == "":
			res.Missing = append(res.Missing, req)
		}
	}
	if len(res.Missing) > 0 {
		res.Decision = NeedsInfo
		res.Reason = "missing: " + strings.Join(res.Missing, ", ")
		return res, nil
	}
	// Rule 7: the same client already has an open referral.
	if !isFollowUp {
		dup, err := lk.OpenDuplicate(f["client_phone"], f["client_email"], parse.NameKey(f["client_name"]), f["date_of_birth"])
		if err == nil {
			res.Decision, res.Duplicate = Duplicate, dup
			res.Reason = "same client as open referral " + dup.Ref()
			return res, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return res, err
		}
	}
	// Rule 8: config rules in order.
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if !t.matches(r, f, now) {
			continue
		}
		res.Rule, res.Reason = r, r.Reason
		if r.Then == "redirect" {
			res.Decision, res.Service = Redirected, cfg.Service(r.Service)
		} else {
			res.Decision = Waitlisted
		}
		return res, nil
	}
	// Rule 9: capacity.
	if cfg.Program.Capacity > 0 {
		n, err := lk.Caseload()
		if err != nil {
			return res, err
		}
		if n+pendingCaseload >= cfg.Program.Capacity {
			res.Decision = Waitlisted
			res.Reason = "Our coaches' caseload is full right now."
			return res, nil
		}
	}
	// Rule 10.
	res.Decision = Accepted
	return res, nil
}

// matches reports whether every condition the rule gives holds.
func (t *Triager) matches(r *configs.Rule, f map[string]string, now time.Time) bool {
	if re := t.keywords[r.ID]; re != nil {
		hit := false
		for _, name := range r.InFields {
			if re.MatchString(f[name]) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if r.FieldYes != "" {
		if v, _ := parse.YesNo(f[r.FieldYes]); v != "yes" {
			return false
		}
	}
	if r.Field != "" {
		v := strings.TrimSpace(f[r.Field])
		if len(r.In) > 0 && !containsFold(r.In, v) {
			return false
		}
		if len(r.NotIn) > 0 && (v == "" || containsFold(r.NotIn, v)) {
			return false
		}
	}
	if r.FieldMissing != "" && strings.TrimSpace(f[r.FieldMissing]) != "" {
		return false
	}
	zip := f["client_zip"]
	if len(r.ZipIn) > 0 && !slices.Contains(r.ZipIn, zip) {
		return false
	}
	if len(r.ZipNotIn) > 0 && (zip == "" || slices.Contains(r.ZipNotIn, zip)) {
		return false
	}
	if r.AgeBelow != nil || r.AgeAbove != nil {
		age, ok := Age(f, now)
		if !ok {
			return false
		}
		if r.AgeBelow != nil && age >= *r.AgeBelow {
			return false
		}
		if r.AgeAbove != nil && age <= *r.AgeAbove {
			return false
		}
	}
	return true
}

// Age is the client's age in whole years at now, from date_of_birth or age.
func Age(f map[string]string, now time.Time) (int, bool) {
	if dob, err := time.Parse(time.DateOnly, f["date_of_birth"]); err == nil {
		y := now.Year() - dob.Year()
		if now.Month() < dob.Month() || now.Month() == dob.Month() && now.Day() < dob.Day() {
			y--
		}
		return y, y >= 0
	}
	if a, err := strconv.Atoi(strings.TrimSpace(f["age"])); err == nil && a >= 0 && a < 130 {
		return a, true
	}
	return 0, false
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), v) })
}

// authFailure says why the sender fails authentication (SPEC §5 rule 3), or
// "". Only Authentication-Results from our own trusted server count (RFC 8601
// §5: others can be forged by anyone). With verify_dkim, a signature from the
// From domain (or its organization) that fails is a failure, and a partner
// with require_authentication needs one that verifies (RFC 7489 §3.1.1,
// relaxed alignment) or a dmarc=pass from the trusted server.
func (t *Triager) authFailure(msg *parse.Message, p *configs.Partner, rep *DKIMReport) string {
	id := t.cfg.Intake.TrustedAuthservID
	dmarcPass := false
	for _, ar := range msg.AuthResults {
		if id == "" || !strings.EqualFold(ar.AuthServID, id) {
			continue
		}
		switch strings.ToLower(ar.DMARC) {
		case "fail":
			return "sender authentication failed: dmarc=fail from " + ar.AuthServID
		case "pass":
			dmarcPass = true
		}
	}
	from := msg.From.Addr[strings.LastIndexByte(msg.From.Addr, '@')+1:]
	aligned := false
	if rep != nil && rep.Err == nil {
		for _, s := range rep.Signatures {
			if s.Err == nil && Aligned(s.Domain, from) {
				aligned = true
			}
		}
		if !aligned {
			for _, s := range rep.Signatures {
				switch {
				case s.Err == nil || !Aligned(s.Domain, from):
				case s.Temp:
					return fmt.Sprintf("DKIM signature for %s could not be checked now (%s); release the message or wait for the partner to send again", s.Domain, dkimReason(s.Err))
				default:
					return fmt.Sprintf("DKIM signature for %s failed: %s", s.Domain, dkimReason(s.Err))
				}
			}
		}
	}
	if p != nil && p.RequireAuthentication && !aligned && !dmarcPass {
		switch {
		case rep == nil && id != "":
			return "no dmarc=pass from " + id + " and verify_dkim is off; partner requires authentication"
		case rep == nil:
			return "neither trusted_authserv_id nor verify_dkim is set; partner requires authentication"
		case rep.Err != nil:
			return "DKIM verification failed: " + dkimReason(rep.Err) + "; partner requires authentication"
		}
		return "no aligned DKIM signature; partner requires authentication"
	}
	return ""
}

// followUpTarget finds the referral a message answers: by In-Reply-To and
// References, else by a [R-nnnn] in the subject of a referral of the same
// partner. It returns nil and no error when the message answers none.
func (t *Triager) followUpTarget(msg *parse.Message, p *configs.Partner, lk Lookups) (*store.Referral, error) {
	ids := append(append([]string(nil), msg.InReplyTo...), msg.References...)
	r, err := lk.ReferralByThread(ids)
	if err == nil && r.PartnerID == p.ID {
		return r, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, ref := range msg.SubjectRefs {
		id, perr := store.ParseRef(ref)
		if perr != nil {
			continue
		}
		r, err := lk.Referral(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.PartnerID == p.ID {
			return r, nil
		}
	}
	return nil, nil
}

// newClient reports whether a follow-up actually carries a referral for a
// different client than fu: it names a client whose name, phone and email
// all differ from fu's.
func newClient(cands []parse.Candidate, fu *store.Referral) bool {
	if len(cands) == 0 {
		return false
	}
	f := cands[0].Fields
	name := parse.NameKey(f["client_name"])
	if name == "" || fu.NameKey == "" || name == fu.NameKey {
		return false
	}
	if f["client_phone"] != "" && f["client_phone"] == fu.ClientPhone {
		return false
	}
	if f["client_email"] != "" && f["client_email"] == fu.ClientEmail {
		return false
	}
	return true
}

// mergeFields returns old with every non-empty value of new laid over it.
func mergeFields(old, new map[string]string) map[string]string {
	out := make(map[string]string, len(old)+len(new))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range new {
		if strings.TrimSpace(v) != "" {
			out[k] = v
		}
	}
	return out
}

// replyTo returns the Reply-To address when it belongs to the same partner
// (a shared intake mailbox answering for a caseworker); a Reply-To elsewhere
// is not trusted with a reply.
func replyTo(msg *parse.Message, p *configs.Partner, cfg *configs.Config) string {
	for _, a := range msg.ReplyTo {
		if q := cfg.PartnerFor(a.Addr); q != nil && q.ID == p.ID {
			return a.Addr
		}
	}
	return ""
}

var noReplyLocal = regexp.MustCompile(`^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)(?:$|[-_.+])`)

// IsNoReply reports whether addr is a mailbox that must never get an
// automatic reply: noreply, do-not-reply, mailer-daemon, postmaster.
func IsNoReply(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	return noReplyLocal.MatchString(local)
}

// replyCapWindow is the span the per-sender reply cap counts over, back
// from the time a message was received (SPEC §6: per hour).
const replyCapWindow = time.Hour

// capReplies applies the per-sender reply cap and the no-reply rule to an
// outcome that wants to reply.
func (t *Triager) capReplies(out *Outcome, lk Lookups, now time.Time, opt Options) (*Outcome, error) {
	if out.Reply == "" {
		return out, nil
	}
	if out.ReplyTo == "" || IsNoReply(out.ReplyTo) {
		out.NoReply = fmt.Sprintf("%s is a no-reply address", out.ReplyTo)
		return out, nil
	}
	if opt.SkipCap {
		return out, nil
	}
	limit := t.cfg.Intake.RepliesPerSenderPerHour
	n, err := lk.RepliesSince(out.ReplyTo, now.Add(-replyCapWindow), limit)
	if err != nil {
		return nil, err
	}
	if n >= limit {
		return &Outcome{Disposition: store.DispHeld, Partner: out.Partner, ReplyTo: out.ReplyTo,
			Reason: fmt.Sprintf("reply cap: %d automatic replies to this sender in the last hour (limit %d)", n, limit)}, nil
	}
	return out, nil
}
