package ingest

import (
	"context"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// moveMin is how many committed messages the mover lets gather before it
// moves them while a drain is still taking in more. Every UID MOVE makes
// the server sync the mailbox, and with Maildir (Dovecot's default) that
// costs in proportion to the whole folder, so with a long inbox a few big
// moves cost the server much less than many small ones (BENCHMARKS.md). A
// message committed and not yet moved is safe: a restart finds it stored
// and only moves it.
const moveMin = 1000

// moveItem is one committed message on its way out of the inbox.
type moveItem struct {
	uid    imap.UID
	id     int64 // the stored message
	folder string
	done   *Processed // nil for a message committed by an earlier drain
}

// mover moves committed messages out of the inbox, beside the next
// commits: what was committed gathers until there are moveMin messages or
// the drain has committed its last chunk, and then goes in one UID MOVE per
// folder. It holds no message bodies.
type mover struct {
	d      *Daemon
	c      *imapclient.Client
	cancel context.CancelFunc // stops the drain when a move fails

	mu      sync.Mutex
	pending []moveItem // committed, not moved yet
	moved   []moveItem // moved, folder not recorded yet
	closed  bool
	err     error
	wake    chan struct{}
	stopped chan struct{}
}

func (d *Daemon) startMover(c *imapclient.Client, cancel context.CancelFunc) *mover {
	m := &mover{d: d, c: c, cancel: cancel, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go m.run()
	return m
}

// add hands over a committed chunk; it never waits for a move.
func (m *mover) add(w work) {
	var items []moveItem
	for f, uids := range w.seenUIDs {
		for i, u := range uids {
			items = append(items, moveItem{uid: u, id: w.seenIDs[f][i], folder: f})
		}
	}
	for _, it := range w.items {
		items = append(items, moveItem{uid: imap.UID(it.in.UID), id: it.done.ID, folder: it.done.Folder, done: it.done})
	}
	m.mu.Lock()
	m.pending = append(m.pending, items...)
	m.mu.Unlock()
	m.signal()
}

func (m *mover) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// finish moves what is left and waits for the mover to stop; it returns
// the first move that failed.
func (m *mover) finish() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.signal()
	<-m.stopped
	return m.err
}

// takeMoved returns the messages moved since the last call.
func (m *mover) takeMoved() []moveItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.moved
	m.moved = nil
	return out
}

func (m *mover) run() {
	defer close(m.stopped)
	for range m.wake {
		m.mu.Lock()
		closed := m.closed
		var batch []moveItem
		if len(m.pending) >= m.d.moveMin || closed {
			batch, m.pending = m.pending, nil
		}
		m.mu.Unlock()
		if len(batch) > 0 && m.err == nil {
			if err := m.move(batch); err != nil {
				m.err = err
				m.cancel()
			}
		}
		if closed {
			return
		}
	}
}

// move moves a batch, one UID MOVE per folder (or more, for a long UID
// set), and reports each message; a message is recorded as moved as soon
// as the command that moved it succeeded, so a later failure loses none.
func (m *mover) move(batch []moveItem) error {
	var folders []string
	uids := map[string][]imap.UID{}
	for _, it := range batch {
		if uids[it.folder] == nil {
			folders = append(folders, it.folder)
		}
		uids[it.folder] = append(uids[it.folder], it.uid)
	}
	for _, f := range folders {
		err := MoveOut(m.c, uids[f], f, func(set imap.UIDSet) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, it := range batch {
				if it.folder == f && set.Contains(it.uid) {
					m.moved = append(m.moved, it)
				}
			}
		})
		if err != nil {
			return err
		}
	}
	if m.d.OnProcessed != nil {
		for _, it := range batch {
			if it.done != nil {
				m.d.OnProcessed(*it.done)
			}
		}
	}
	return nil
}
