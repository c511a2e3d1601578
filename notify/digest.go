package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// Digest is the daily coach digest (SPEC §6) as it is sent; like a report,
// a snapshot kept in the outbox row. It goes to the program's own coaches,
// so it names referrals by reference and clients by first name and last
// initial — never a phone number, a full name or notes.
type Digest struct {
	Date     string `json:"date"`      // YYYY-MM-DD, program time
	DateName string `json:"date_name"` // Monday, November 2
	Since    string `json:"since"`     // the window's start, in words

	New           []DigestRef `json:"new"` // taken in since the last digest
	NewMore       int         `json:"new_more,omitempty"`
	Late          []DigestRef `json:"late"` // accepted, no first contact, past the promise
	LateMore      int         `json:"late_more,omitempty"`
	PromiseDays   int         `json:"promise_days"`
	NeedsInfo     []DigestRef `json:"needs_info"` // waiting for the referrer longer than NeedsInfoDays
	NeedsInfoMore int         `json:"needs_info_more,omitempty"`
	NeedsInfoDays int         `json:"needs_info_days"`

	ReplyCap        []DigestMsg `json:"reply_cap"` // held by the per-sender reply cap (a loop?)
	Held            []DigestMsg `json:"held"`      // held for other reasons
	HeldMore        int         `json:"held_more,omitempty"`
	Quarantined     []DigestMsg `json:"quarantined"`
	QuarantinedMore int         `json:"quarantined_more,omitempty"`
	Failed          []DigestOut `json:"failed"` // outbound mail that failed permanently or bounced
	FailedMore      int         `json:"failed_more,omitempty"`
}

// Quiet reports whether nothing needs a coach's attention.
func (d *Digest) Quiet() bool {
	return len(d.New)+len(d.Late)+len(d.NeedsInfo)+len(d.ReplyCap)+len(d.Held)+len(d.Quarantined)+len(d.Failed) == 0
}

// DigestRef is one referral in the digest.
type DigestRef struct {
	Ref     string `json:"ref"`
	Partner string `json:"partner"`
	Client  string `json:"client"` // first name and last initial
	Status  string `json:"status"`
	Note    string `json:"note"`
}

// DigestMsg is one held or quarantined message.
type DigestMsg struct {
	Ref      string `json:"ref"`
	From     string `json:"from"`
	Received string `json:"received"`
	Reason   string `json:"reason"`
}

// DigestOut is one outbound message that failed.
type DigestOut struct {
	Ref    string `json:"ref"`
	Kind   string `json:"kind"`
	To     string `json:"to"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// digestListMax caps each list; the rest is counted ("and 12 more").
const digestListMax = 30

// DigestSource is what a digest is built from (store.Store).
type DigestSource interface {
	DigestData(ctx context.Context, from, to time.Time) (*store.DigestData, error)
}

// DigestKey is the outbox dedupe key of the digest of a day (program time).
func DigestKey(day time.Time) string { return "digest/" + day.Format(time.DateOnly) }

// DigestDue is when the digest of day (any instant of it, in the program's
// time zone) is due: digest.hour that day (see wallClock for DST days).
func DigestDue(cfg *configs.Config, day time.Time) time.Time {
	d := day.In(cfg.Location)
	return wallClock(d.Year(), d.Month(), d.Day(), cfg.Digest.Hour, cfg.Location)
}

// BuildDigest builds the digest of day, due at DigestDue(day), as of now:
// new referrals are those taken in since the previous day's digest time.
func BuildDigest(ctx context.Context, cfg *configs.Config, src DigestSource, day, now time.Time) (*Digest, error) {
	loc := cfg.Location
	due := DigestDue(cfg, day)
	prev := DigestDue(cfg, day.In(loc).AddDate(0, 0, -1))
	d, err := src.DigestData(ctx, prev, due)
	if err != nil {
		return nil, err
	}
	g := &Digest{Date: due.Format(time.DateOnly), DateName: due.Format("Monday, January 2"),
		Since: prev.Format("Monday 15:04"), PromiseDays: cfg.Program.FirstContactDays, NeedsInfoDays: cfg.Digest.NeedsInfoDays}
	ref := func(r store.Facts, note string) DigestRef {
		return DigestRef{Ref: r.Ref(), Partner: r.PartnerID, Client: parse.ShortName(r.ClientName), Status: r.Status, Note: note}
	}
	for _, r := range d.New {
		note := decisionWords(r.Decision)
		if r.Status != r.Decision {
			note += ", now " + r.Status
		}
		g.New = append(g.New, ref(r, note))
	}
	for _, r := range d.Waiting {
		switch r.Status {
		case store.StatusAccepted:
			accepted := r.AcceptedAt.Time
			if accepted.IsZero() {
				accepted = r.CreatedAt
			}
			promised := promisedDay(accepted, cfg.Program.FirstContactDays, loc)
			if late := now.Sub(promised.AddDate(0, 0, 1)); late >= 0 {
				g.Late = append(g.Late, ref(r, fmt.Sprintf("accepted %s, first contact promised by %s (%s late)",
					accepted.In(loc).Format("Jan 2"), promised.Format("Jan 2"), humanDays(late))))
			}
		case store.StatusNeedsInfo:
			waited := now.Sub(r.ReceivedAt)
			if waited > time.Duration(cfg.Digest.NeedsInfoDays)*24*time.Hour {
				var miss []string
				for _, m := range r.Missing {
					miss = append(miss, fieldLabel(m))
				}
				note := "waiting " + humanDays(waited)
				if len(miss) > 0 {
					note += "; missing: " + strings.Join(miss, ", ")
				}
				g.NeedsInfo = append(g.NeedsInfo, ref(r, note))
			}
		}
	}
	msg := func(m store.Message) DigestMsg {
		return DigestMsg{Ref: m.Ref(), From: m.FromAddr, Received: m.ReceivedAt.In(loc).Format("Jan 2 15:04"), Reason: m.Reason}
	}
	for _, m := range d.Held {
		if strings.HasPrefix(m.Reason, "reply cap") {
			g.ReplyCap = append(g.ReplyCap, msg(m))
		} else {
			g.Held = append(g.Held, msg(m))
		}
	}
	for _, m := range d.Quarantined {
		g.Quarantined = append(g.Quarantined, msg(m))
	}
	for _, o := range d.Failed {
		g.Failed = append(g.Failed, DigestOut{Ref: o.Ref(), Kind: o.Kind, To: o.To, Status: o.Status, Error: o.LastError})
	}
	g.New, g.NewMore = cut(g.New)
	g.Late, g.LateMore = cut(g.Late)
	g.NeedsInfo, g.NeedsInfoMore = cut(g.NeedsInfo)
	g.Held, g.HeldMore = cut(g.Held)
	g.Quarantined, g.QuarantinedMore = cut(g.Quarantined)
	g.Failed, g.FailedMore = cut(g.Failed)
	return g, nil
}

func cut[T any](s []T) ([]T, int) {
	if len(s) <= digestListMax {
		return s, 0
	}
	return s[:digestListMax], len(s) - digestListMax
}

// humanDays is a wait in whole days, or hours under a day.
func humanDays(d time.Duration) string {
	if d < 24*time.Hour {
		h := int(d / time.Hour)
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
