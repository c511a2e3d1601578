package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"refdesk/configs"
	"refdesk/store"
)

// Queue is what queueing reports and digests needs from the store.
type Queue interface {
	ReportSource
	DigestSource
	PartnerHasReferrals(ctx context.Context, partner string, before time.Time) (bool, error)
	OutByDedupe(ctx context.Context, key string) (*store.OutMsg, error)
	EnqueueOnce(ctx context.Context, o *store.OutMsg) (bool, error)
	ForcedKey(ctx context.Context, key string) (string, error)
}

// Queued says what became of a request to queue a report or a digest.
type Queued struct {
	Key      string
	Out      *store.OutMsg // the row queued, or the one already there
	Added    bool          // false: a row with Key was there already (Out)
	Skipped  string        // why nothing was queued ("" if something was)
	Quiet    bool          // a digest with nothing in it: not queued
	Snapshot any           // the *Report or *Digest built (nil if none was)
}

// ReportDue is when the report of the month starting at month is due:
// reports.day of the next month at reports.hour, program time.
func ReportDue(cfg *configs.Config, month time.Time) time.Time {
	m := month.In(cfg.Location)
	return wallClock(m.Year(), m.Month()+1, cfg.Reports.Day, cfg.Reports.Hour, cfg.Location)
}

// wallClock is the instant a clock in loc shows hour:00 on a day. An hour
// the clocks skip (spring forward: 02:00 on a March Sunday in Chicago) is
// the moment they jump (03:00); an hour they show twice (fall back) is the
// first of the two. (time.Date alone would put the skipped hour an hour
// early, before the jump.)
func wallClock(y int, m time.Month, d, hour int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, hour, 0, 0, 0, loc)
	if t.Hour() != hour {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	return t
}

// PartialKey is the dedupe key of a report on a month that is not over,
// sent by hand on day (program time): one such report per partner and
// day, and never the month's own key, so the full report still goes out
// when the month is over.
func PartialKey(partner string, month, day time.Time) string {
	return ReportKey(partner, month) + "/so-far-" + day.Format(time.DateOnly)
}

// NextReportMonth is the month whose report goes out next after now: the
// previous month until its report time, then the current one.
func NextReportMonth(cfg *configs.Config, now time.Time) time.Time {
	_, next := DueMonth(cfg, now)
	return MonthStart(next, cfg.Location).AddDate(0, -1, 0)
}

// QueueReport builds a partner's report for a month and puts it in the
// outbox, once: under ReportKey when the month is over, under PartialKey
// (once a day) while it is not. If the key is there already nothing is
// added, unless force, which adds a copy under a new key (ForcedKey).
func QueueReport(ctx context.Context, cfg *configs.Config, q Queue, p *configs.Partner, month, now time.Time, force bool) (*Queued, error) {
	if len(p.ReportTo) == 0 {
		return &Queued{Skipped: "no report_to addresses"}, nil
	}
	key := ReportKey(p.ID, month)
	if now.Before(month.AddDate(0, 1, 0)) {
		key = PartialKey(p.ID, month, now.In(cfg.Location))
	}
	res := &Queued{Key: key}
	existing, err := q.OutByDedupe(ctx, key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if existing != nil {
		if !force {
			res.Out = existing
			return res, nil
		}
		if res.Key, err = q.ForcedKey(ctx, key); err != nil {
			return nil, err
		}
	}
	rep, err := BuildReport(ctx, cfg, q, p, month, now)
	if err != nil {
		return nil, err
	}
	res.Snapshot = rep
	o, err := outRow(cfg, "monthly-report", res.Key, p.ReportTo, rep)
	if err != nil {
		return nil, err
	}
	o.PartnerID = p.ID
	if res.Added, err = q.EnqueueOnce(ctx, o); err != nil {
		return nil, err
	}
	res.Out = o
	if !res.Added {
		// Another process queued it between our look and our write.
		if res.Out, err = q.OutByDedupe(ctx, res.Key); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// QueueDigest builds the digest of day and puts it in the outbox under
// DigestKey, once. A digest with nothing that needs attention is not
// queued at all (Quiet): an empty digest every day teaches coaches to stop
// reading it, and the outbox holds only mail that goes out.
func QueueDigest(ctx context.Context, cfg *configs.Config, q Queue, day, now time.Time) (*Queued, error) {
	if len(cfg.Program.Coaches) == 0 {
		return &Queued{Skipped: "no program.coaches"}, nil
	}
	res := &Queued{Key: DigestKey(day.In(cfg.Location))}
	existing, err := q.OutByDedupe(ctx, res.Key)
	if err == nil {
		res.Out = existing
		return res, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	g, err := BuildDigest(ctx, cfg, q, day, now)
	if err != nil {
		return nil, err
	}
	res.Snapshot = g
	o, err := outRow(cfg, "coach-digest", res.Key, cfg.Program.Coaches, g)
	if err != nil {
		return nil, err
	}
	if g.Quiet() {
		res.Quiet, res.Skipped = true, "nothing needs attention"
		return res, nil
	}
	if res.Added, err = q.EnqueueOnce(ctx, o); err != nil {
		return nil, err
	}
	res.Out = o
	return res, nil
}

// outRow is the outbox row of a report or digest with its snapshot: one
// message to all of to (an address list in to_addr, names quoted).
func outRow(cfg *configs.Config, kind, key string, to []string, snapshot any) (*store.OutMsg, error) {
	data, err := json.Marshal(snapshot)
	if err != nil {
		return nil, fmt.Errorf("notify: %s snapshot: %w", kind, err)
	}
	list := make([]string, len(to))
	for i, s := range to {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("notify: %s recipient %q: %w", kind, s, err)
		}
		list[i] = a.Address
		if a.Name != "" {
			list[i] = a.String()
		}
	}
	return &store.OutMsg{Kind: kind, MessageID: store.NewMessageID(cfg.Program.ReplyDomain()), DedupeKey: &key,
		To: strings.Join(list, ", "), Data: data}, nil
}

// Scheduler queues the monthly partner reports and the daily coach digest
// when they are due, in the program's time zone, and wakes the sender.
//
// Each is queued under a dedupe key (report/<partner>/<YYYY-MM>,
// digest/<YYYY-MM-DD>) that the outbox holds once, so a restart, a second
// daemon on the same database or a manual `refdesk report --send` never
// makes a second one. A report missed while the daemon was down is queued
// when it comes back: the most recent month whose report time has passed is
// always due until sent. Older months are not caught up: a report two months
// late would arrive beside the current one with older numbers, and `refdesk
// report --month` sends one by hand. A missed digest is likewise replaced
// by today's, and a digest with nothing in it is not sent. A partner with no
// referrals before the month's end gets no report (a new install does not
// mail every partner an empty one). Reports "so far" sent by hand during a
// month have keys of their own and do not stand in for the month's report.
type Scheduler struct {
	cfg *configs.Config
	q   Queue
	log *slog.Logger
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Wake is called after something was queued (the sender's Wake).
	Wake func()
	// Recheck bounds a sleep, so a wall clock that jumps (a suspended
	// machine, a corrected clock) is noticed.
	Recheck time.Duration

	// quietDay is the day whose digest this scheduler found with nothing
	// in it: it is not looked at again that day (a digest comes at its
	// hour, it is not an alarm that goes off when something turns up).
	quietDay string
}

// NewScheduler makes a scheduler; Run starts it.
func NewScheduler(cfg *configs.Config, q Queue, log *slog.Logger) *Scheduler {
	return &Scheduler{cfg: cfg, q: q, log: log, Now: time.Now, Wake: func() {}, Recheck: 15 * time.Minute}
}

// Run queues what is due until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		next, err := s.Tick(ctx)
		wait := next.Sub(s.Now())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("schedule", "err", err)
			wait = time.Minute
		}
		wait = min(max(wait, time.Second), s.Recheck)
		s.log.Debug("schedule", "next_due", next.Format(time.RFC3339), "check_in", wait.Round(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Tick queues everything due at Now and returns when the next thing is due.
func (s *Scheduler) Tick(ctx context.Context) (time.Time, error) {
	loc := s.cfg.Location
	now := s.Now().In(loc)
	queued := false
	var errs []error

	// The digest of today, once its hour has come.
	// (Noon stands for the day: midnight does not exist everywhere.)
	today := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, loc)
	nextDigest := DigestDue(s.cfg, today)
	if day := today.Format(time.DateOnly); !now.Before(nextDigest) {
		nextDigest = DigestDue(s.cfg, today.AddDate(0, 0, 1))
		if s.quietDay != day {
			res, err := QueueDigest(ctx, s.cfg, s.q, today, now)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("digest %s: %w", day, err))
			case res.Quiet:
				s.quietDay = day
				s.log.Info("digest not sent: nothing needs attention", "key", res.Key)
			case res.Added:
				queued = true
				s.log.Info("digest queued", "key", res.Key, "out", res.Out.Ref())
			}
		}
	}

	// The report of the most recent month whose report time has passed.
	month, nextReport := DueMonth(s.cfg, now)
	for i := range s.cfg.Partners {
		p := &s.cfg.Partners[i]
		if len(p.ReportTo) == 0 {
			continue
		}
		if ok, err := s.q.PartnerHasReferrals(ctx, p.ID, month.AddDate(0, 1, 0)); err != nil || !ok {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		res, err := QueueReport(ctx, s.cfg, s.q, p, month, now, false)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("report %s: %w", ReportKey(p.ID, month), err))
		case res.Added:
			queued = true
			s.log.Info("report queued", "key", res.Key, "out", res.Out.Ref())
		}
	}
	if queued {
		s.Wake()
	}
	next := nextDigest
	if len(s.cfg.Program.Coaches) == 0 || nextReport.Before(next) {
		next = nextReport
	}
	return next, errors.Join(errs...)
}

// DueMonth returns the most recent month (its first instant) whose report
// time has passed at now, and the next report time after now.
func DueMonth(cfg *configs.Config, now time.Time) (month, next time.Time) {
	cur := MonthStart(now, cfg.Location)
	prev := cur.AddDate(0, -1, 0)
	if due := ReportDue(cfg, prev); now.Before(due) {
		return prev.AddDate(0, -1, 0), due
	}
	return prev, ReportDue(cfg, cur)
}
