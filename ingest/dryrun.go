package ingest

import (
	"bytes"
	"time"

	"refdesk/store"
)

// DryRun is what `refdesk parse FILE.eml` reports (SPEC §7, the dry-run
// contract): what intake would do with a message, decided without a
// database and without sending anything, so without follow-up, duplicate,
// capacity or reply-cap checks. With verify_dkim it looks up the signers'
// keys in DNS, as intake does.
type DryRun struct {
	Disposition string        `json:"disposition"`
	Reason      string        `json:"reason"`
	Referrals   []DryReferral `json:"referrals"`
	// Beyond the contract: facts that help explain the decision.
	From     string   `json:"from,omitempty"`
	Partner  string   `json:"partner,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Reply    string   `json:"reply,omitempty"`
	NoReply  string   `json:"no_reply,omitempty"`
	Problems []string `json:"problems,omitempty"`
	// Attachments are the files the message carried and what came of them.
	Attachments []DryAttachment `json:"attachments,omitempty"`
}

// DryAttachment is one attachment in the dry run.
type DryAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Candidates  int    `json:"candidates"`
	Problem     string `json:"problem,omitempty"`
}

// DryReferral is one candidate's decision.
type DryReferral struct {
	Decision string            `json:"decision"`
	Rule     string            `json:"rule"`
	Service  string            `json:"service"`
	Missing  []string          `json:"missing"`
	Reason   string            `json:"reason,omitempty"`
	Source   string            `json:"source,omitempty"`
	Fields   map[string]string `json:"fields"`
	Extra    map[string]string `json:"extra,omitempty"`
	Notes    []string          `json:"notes,omitempty"`
}

// DryRun parses and triages raw as intake would, at time now.
func (p *Processor) DryRun(raw []byte, now time.Time) (*DryRun, error) {
	out := &DryRun{Referrals: []DryReferral{}}
	if limit := int64(p.cfg.Intake.MaxMessageSize); int64(len(raw)) > limit {
		out.Disposition, out.Reason = store.DispQuarantined, "too large"
		return out, nil
	}
	msg, err := safeParse(bytes.NewReader(raw), p.opt, p.cfg.Intake.ParseTimeout.Duration)
	if err != nil {
		out.Disposition, out.Reason = store.DispQuarantined, quarantineReason(err)
		return out, nil
	}
	when := msg.Date
	if when.IsZero() {
		when = now
	}
	var opt Options
	if p.cfg.Intake.VerifyDKIM {
		opt.DKIM = p.verifyDKIM(bytes.NewReader(raw)) // DNS lookups of the signers' keys
	}
	res, err := p.triager.Triage(msg, NoLookups{}, when, opt)
	if err != nil {
		return nil, err
	}
	out.Disposition, out.Reason = res.Disposition, res.Reason
	out.From, out.Subject, out.Problems = msg.From.Addr, msg.Subject, msg.Problems
	if res.Partner != nil {
		out.Partner = res.Partner.ID
	}
	out.Reply, out.NoReply = res.Reply, res.NoReply
	for _, a := range msg.Attachments {
		out.Attachments = append(out.Attachments, DryAttachment{Filename: a.Filename, ContentType: a.ContentType,
			Size: a.Size, Candidates: a.Candidates, Problem: a.Problem})
	}
	for _, r := range res.Results {
		d := DryReferral{Decision: r.Decision, Missing: r.Missing, Reason: r.Reason, Source: r.Candidate.Source,
			Fields: r.Candidate.Fields, Extra: r.Candidate.Extra, Notes: r.Candidate.Notes}
		if d.Missing == nil {
			d.Missing = []string{}
		}
		if d.Fields == nil {
			d.Fields = map[string]string{}
		}
		if r.Rule != nil {
			d.Rule = r.Rule.ID
		}
		if r.Service != nil {
			d.Service = r.Service.ID
		}
		out.Referrals = append(out.Referrals, d)
	}
	return out, nil
}
