package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"refdesk/notify"
	"refdesk/store"
)

// scheduler is a Scheduler on w's store whose clock is the test's.
func (w *world) scheduler(clock *time.Time) *notify.Scheduler {
	s := notify.NewScheduler(w.cfg, w.st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Now = func() time.Time { return *clock }
	return s
}

// queued lists the dedupe keys in the outbox, in order.
func (w *world) queued() []string {
	w.t.Helper()
	var keys []string
	if err := w.st.DB().Select(&keys, "SELECT dedupe_key FROM outbox WHERE dedupe_key IS NOT NULL ORDER BY id"); err != nil {
		w.t.Fatal(err)
	}
	return keys
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// step is one tick of a schedule test: at a wall-clock time, the keys
// queued so far and when the scheduler wants to wake next.
type step struct {
	at   time.Time
	keys []string
	next time.Time
}

func runSteps(t *testing.T, w *world, steps []step) {
	t.Helper()
	var clock time.Time
	s := w.scheduler(&clock)
	for _, st := range steps {
		clock = st.at
		next, err := s.Tick(context.Background())
		if err != nil {
			t.Fatalf("tick at %s: %v", st.at, err)
		}
		if got := w.queued(); !equal(got, st.keys) {
			t.Errorf("at %s: queued %q, want %q", st.at.Format(time.RFC3339), got, st.keys)
		}
		if !st.next.IsZero() && !next.Equal(st.next) {
			t.Errorf("at %s: next wake %s, want %s", st.at.Format(time.RFC3339), next.Format(time.RFC3339), st.next.Format(time.RFC3339))
		}
	}
}

func TestScheduleMonthBoundaryInProgramTime(t *testing.T) {
	w := newWorld(t, chicago(2026, 9, 14, 10, 0))
	w.refer("northside-housing", dana, "accepted", nil)
	// 23:30 on September 30 in Chicago is already October in UTC: it
	// belongs to September's report.
	w.now = chicago(2026, 9, 30, 23, 30)
	w.refer("northside-housing", rosa, "accepted", nil)
	w.now = chicago(2026, 10, 1, 0, 30)
	w.refer("northside-housing", luis, "accepted", nil)

	sep := "report/northside-housing/2026-09"
	runSteps(t, w, []step{
		{at: chicago(2026, 10, 1, 6, 59), keys: nil, next: chicago(2026, 10, 1, 7, 0)},
		{at: chicago(2026, 10, 1, 7, 0), keys: []string{sep}, next: chicago(2026, 10, 1, 8, 0)},
		{at: chicago(2026, 10, 1, 8, 0), keys: []string{sep, "digest/2026-10-01"}, next: chicago(2026, 10, 2, 8, 0)},
		{at: chicago(2026, 10, 1, 9, 0), keys: []string{sep, "digest/2026-10-01"}},
	})
	o, err := w.st.OutByDedupe(context.Background(), sep)
	if err != nil {
		t.Fatal(err)
	}
	rep := decodeReport(t, o)
	if rep.Received != 2 || rep.Month != "2026-09" {
		t.Errorf("September's report counts %d referrals (want 2: the one at 23:30 on the 30th is September's, 00:30 on the 1st is not)", rep.Received)
	}
	if o.To != "referrals@northside-housing.example" || o.Kind != "monthly-report" || o.PartnerID != "northside-housing" {
		t.Errorf("outbox row: %+v", o)
	}
}

func TestScheduleOnDaylightSavingDays(t *testing.T) {
	t.Run("spring forward: 02:00 does not exist", func(t *testing.T) {
		w := newWorld(t, chicago(2026, 2, 10, 10, 0))
		w.cfg.Reports.Day, w.cfg.Reports.Hour, w.cfg.Digest.Hour = 8, 2, 2
		w.refer("northside-housing", dana, "accepted", nil)
		jump := time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC) // 01:59:59 CST -> 03:00 CDT
		keys := []string{"digest/2026-03-08", "report/northside-housing/2026-02"}
		runSteps(t, w, []step{
			{at: chicago(2026, 3, 8, 1, 59), keys: nil, next: jump},
			{at: jump.Add(-time.Second), keys: nil, next: jump},
			{at: jump, keys: keys, next: chicago(2026, 3, 9, 2, 0)},
			{at: jump.Add(90 * time.Minute), keys: keys},
		})
	})
	t.Run("fall back: 01:00 happens twice", func(t *testing.T) {
		w := newWorld(t, chicago(2026, 10, 10, 10, 0))
		w.cfg.Reports.Hour, w.cfg.Digest.Hour = 1, 1
		w.refer("northside-housing", dana, "accepted", nil)
		first := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)  // 01:00 CDT
		second := time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC) // 01:00 CST
		keys := []string{"digest/2026-11-01", "report/northside-housing/2026-10"}
		runSteps(t, w, []step{
			{at: first.Add(-time.Minute), keys: nil, next: first},
			{at: first, keys: keys, next: chicago(2026, 11, 2, 1, 0)},
			{at: second, keys: keys},
			{at: second.Add(30 * time.Minute), keys: keys},
		})
		if d := chicago(2026, 11, 2, 1, 0).Sub(first); d != 25*time.Hour {
			t.Errorf("the day after the change is %v long, want 25h", d)
		}
	})
}

func TestScheduleCatchesUpAMissedFirst(t *testing.T) {
	w := newWorld(t, chicago(2026, 9, 10, 10, 0))
	w.refer("northside-housing", dana, "accepted", nil)
	w.now = chicago(2026, 10, 10, 10, 0)
	w.refer("westside-workforce", west, "accepted", nil)
	w.now = chicago(2026, 11, 10, 10, 0)
	w.refer("northside-housing", rosa, "accepted", nil)
	// Down from September 30 to December 2: November's reports go out when
	// it comes back; October's and September's do not (only the most recent
	// month is caught up), and only today's digest.
	runSteps(t, w, []step{
		{at: chicago(2026, 12, 2, 15, 4), keys: []string{"digest/2026-12-02", "report/northside-housing/2026-11", "report/westside-workforce/2026-11"},
			next: chicago(2026, 12, 3, 8, 0)},
	})

	// Down over the 1st only, up on the 3rd: that month's report now.
	w2 := newWorld(t, chicago(2026, 10, 10, 10, 0))
	w2.refer("northside-housing", dana, "accepted", nil)
	runSteps(t, w2, []step{
		{at: chicago(2026, 10, 31, 9, 0), keys: []string{"digest/2026-10-31"}},
		{at: chicago(2026, 11, 3, 7, 30), keys: []string{"digest/2026-10-31", "report/northside-housing/2026-10"}, next: chicago(2026, 11, 3, 8, 0)},
	})
}

func TestTwoSchedulersOnOneDatabaseQueueOneReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refdesk.db")
	w := newWorldAt(t, path, chicago(2026, 10, 10, 10, 0))
	w.refer("northside-housing", dana, "accepted", nil)
	w.refer("westside-workforce", west, "accepted", nil)
	other := newWorldAt(t, path, w.now) // a second process: its own connection pool
	clock := chicago(2026, 11, 1, 8, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		// Ten daemons on each of two connection pools, all at 08:00.
		for _, s := range []*notify.Scheduler{w.scheduler(&clock), other.scheduler(&clock)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Tick(context.Background()); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]bool{"report/northside-housing/2026-10": true, "report/westside-workforce/2026-10": true, "digest/2026-11-01": true}
	got := w.queued()
	if len(got) != len(want) {
		t.Fatalf("queued %q, want one of each of %v", got, want)
	}
	for _, k := range got {
		if !want[k] {
			t.Errorf("unexpected %s", k)
		}
	}
}

func TestForcedReportAndPartialMonth(t *testing.T) {
	w, _ := october(t)
	ctx := context.Background()
	p := w.cfg.Partner("northside-housing")
	oct := chicago(2026, 10, 1, 0, 0)
	base := "report/northside-housing/2026-10"
	for i, c := range []struct {
		now   time.Time
		force bool
		key   string
		added bool
	}{
		// By hand before the month is over: a report "so far", once a day.
		{chicago(2026, 10, 20, 12, 0), false, base + "/so-far-2026-10-20", true},
		{chicago(2026, 10, 20, 16, 0), false, base + "/so-far-2026-10-20", false},
		{chicago(2026, 10, 20, 16, 0), true, base + "/so-far-2026-10-20/force-1", true},
		{chicago(2026, 10, 21, 9, 0), false, base + "/so-far-2026-10-21", true},
		// The month's own report is untouched by them, and goes out once.
		{chicago(2026, 11, 2, 12, 0), false, base, true},
		{chicago(2026, 11, 2, 12, 0), false, base, false},
		{chicago(2026, 11, 3, 12, 0), true, base + "/force-1", true},
	} {
		res, err := notify.QueueReport(ctx, w.cfg, w.st, p, oct, c.now, c.force)
		if err != nil || res.Key != c.key || res.Added != c.added {
			t.Fatalf("#%d: %+v, %v; want key %s added %v", i, res, err, c.key, c.added)
		}
		if partial := decodeReport(t, res.Out).Partial; partial != c.now.Before(chicago(2026, 11, 1, 0, 0)) {
			t.Errorf("#%d: partial = %v", i, partial)
		}
	}
}

func decodeReport(t *testing.T, o *store.OutMsg) *notify.Report {
	t.Helper()
	var r notify.Report
	if err := json.Unmarshal(o.Data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestSchedulerRunQueuesAndWakesTheSender(t *testing.T) {
	w := newWorld(t, chicago(2026, 10, 10, 10, 0))
	w.refer("northside-housing", dana, "accepted", nil)
	clock := chicago(2026, 11, 1, 7, 0)
	s := w.scheduler(&clock)
	woken := make(chan struct{}, 1)
	s.Wake = func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender was not woken")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := w.queued(); !equal(got, []string{"report/northside-housing/2026-10"}) {
		t.Errorf("queued %v", got)
	}
}
