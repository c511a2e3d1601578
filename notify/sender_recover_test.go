package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"refdesk/notify"
	"refdesk/notify/smtpsink"
)

// The sender after a crash or a failing database: nothing lost, nothing
// sent twice (harness: sender_test.go).

func TestSenderTakesOverARowLeasedByADeadProcess(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	h := newHarness(t, sink.Addr())
	o := h.enqueue("accepted", "maria@northside-housing.example")
	// Another daemon claimed the row and died before sending it.
	if got, err := h.st.Claim(context.Background(), 10, 5*time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("claim: %d rows, %v", len(got), err)
	}
	h.start()
	// The row is due but leased: the sender looks now and then, not in a
	// tight loop.
	time.Sleep(1500 * time.Millisecond)
	if n := h.out.claims.Load(); n > 10 {
		t.Errorf("%d claims in 1.5 s while the only due row is leased elsewhere: a busy loop", n)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("a row leased by another process was sent")
	}
	// When the lease ends the sender takes the row over by itself.
	h.clock.Advance(6 * time.Minute)
	if row := h.waitSent(o.ID); row.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", row.Attempts)
	}
}

// flaky is the store with MarkSent failing while failSent is positive (a
// database locked past its busy timeout, or out of space).
type flaky struct {
	*watched
	failSent atomic.Int64
	marks    atomic.Int64
}

func (f *flaky) MarkSent(ctx context.Context, id int64) error {
	f.marks.Add(1)
	if f.failSent.Add(-1) >= 0 {
		return fmt.Errorf("database is locked")
	}
	return f.watched.MarkSent(ctx, id)
}

func TestSenderNeverResendsWhatTheServerAcceptedWhenRecordingFails(t *testing.T) {
	sink := startSink(t, smtpsink.Options{})
	h := newHarness(t, sink.Addr())
	f := &flaky{watched: h.out}
	f.failSent.Store(2) // the first delivery's record fails twice
	o := h.enqueue("accepted", "maria@northside-housing.example")
	other := h.enqueue("redirected", "joe@northside-housing.example")
	r := newRenderer(t, h.cfg)
	h.sender = notify.NewSender(h.cfg, f, r, slog.New(h.logs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sender.Run(ctx) }()
	defer func() { cancel(); <-done }()
	row := h.waitSent(o.ID)
	h.waitSent(other.ID)
	if row.Attempts != 1 {
		t.Errorf("O-%d: attempts %d, want 1", o.ID, row.Attempts)
	}
	h.clock.Advance(time.Hour) // well past any lease
	h.sender.Wake()
	h.pass()
	got := map[string]int{}
	for _, m := range sink.Messages() {
		got[messageIDOf(t, m.Data)]++
	}
	if got[o.MessageID] != 1 || got[other.MessageID] != 1 || len(got) != 2 {
		t.Errorf("deliveries by Message-ID = %v; want each of the two once", got)
	}
	if f.marks.Load() < 3 {
		t.Errorf("MarkSent called %d times; the failed records were not retried", f.marks.Load())
	}
}
