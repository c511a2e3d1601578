package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"refdesk/store"
)

// fetchBytes caps the bytes of message bodies in one chunk (one
// transaction). At most four chunks are in memory at once: one being
// fetched, one being parsed, one waiting, one being stored.
const fetchBytes = 12 << 20

// headerBytes caps the header fetched of a message too large to fetch.
const headerBytes = 64 << 10

// work is one chunk of the mailbox on its way through intake: messages
// stored before and still in the inbox (only to be moved), and messages
// fetched and prepared, to be stored in one transaction and then moved.
type work struct {
	seenUIDs map[string][]imap.UID // folder -> UIDs committed before
	seenIDs  map[string][]int64
	items    []fetched
}

type fetched struct {
	in   Inbound
	done *Processed
}

// release gives back the spool files of the chunk's messages.
func (w work) release() {
	for i := range w.items {
		w.items[i].in.release()
	}
}

// drain takes in every message in the mailbox, in three stages that run
// side by side: while a chunk is stored, the next one is parsed (on every
// core) and the one after it fetched, so neither the IMAP server, the
// parser nor the database waits for the others; committed chunks are moved
// out of the inbox beside that (see mover). Exactly-once is kept: a message is moved only
// after its transaction committed.
func (d *Daemon) drain(ctx context.Context, c *imapclient.Client, uidValidity uint32) error {
	// Not our own done flag; not what another client deleted and awaits
	// expunge (its owner meant it gone).
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{doneFlag, imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap search: %w", err)
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetchedChunks := make(chan work)
	produced := make(chan error, 1)
	go func() {
		defer close(fetchedChunks)
		produced <- d.produce(pctx, c, uidValidity, uids, fetchedChunks)
	}()
	chunks := make(chan work, 1)
	go func() {
		defer close(chunks)
		for w := range fetchedChunks {
			if pctx.Err() == nil {
				d.prepareAll(w.items)
			}
			chunks <- w // the loop below takes every chunk
		}
	}()
	mv := d.startMover(c, cancel)
	var failed error
	for w := range chunks {
		if failed != nil || pctx.Err() != nil {
			w.release()
			continue // let the producer finish; it stops at pctx
		}
		// This goroutine is the only writer: the folders of the chunks
		// moved meanwhile are recorded here, between transactions,
		// never waiting for the database's lock.
		if err := d.markMoved(ctx, mv.takeMoved()); err != nil {
			w.release()
			failed = err
			cancel()
			continue
		}
		w.items = d.dropUnspooled(w.items)
		err := d.commit(ctx, w.items)
		w.release() // the spool files: committed, or to be fetched again
		if err != nil {
			failed = err
			cancel()
			continue
		}
		mv.add(w)
	}
	if err := mv.finish(); failed == nil {
		failed = err
	}
	if err := d.markMoved(ctx, mv.takeMoved()); failed == nil {
		failed = err
	}
	if err := <-produced; failed == nil && err != nil && ctx.Err() == nil {
		failed = err
	}
	return failed
}

// dropUnspooled takes out of a chunk the messages whose attachments could
// not be spooled (a full or unwritable spool_dir): they stay in the inbox,
// to be taken in again by a later drain, while the rest of the inbox goes
// on.
func (d *Daemon) dropUnspooled(items []fetched) []fetched {
	kept := items[:0]
	for _, it := range items {
		if it.in.prep != nil && it.in.prep.ioErr != nil {
			d.log.Error("message left in the inbox: it could not be spooled", "uid", it.in.UID, "err", it.in.prep.ioErr)
			it.in.release()
			continue
		}
		kept = append(kept, it)
	}
	return kept
}

// markMoved records where moved messages went.
func (d *Daemon) markMoved(ctx context.Context, moved []moveItem) error {
	ids := map[string][]int64{}
	var folders []string
	for _, m := range moved {
		if ids[m.folder] == nil {
			folders = append(folders, m.folder)
		}
		ids[m.folder] = append(ids[m.folder], m.id)
	}
	for _, f := range folders {
		if err := d.st.SetMoved(ctx, f, ids[f]); err != nil {
			return err
		}
	}
	return nil
}

// produce fetches the mailbox batch by batch (imap.batch_size UIDs): which
// UIDs are stored already, the sizes, then the bodies of those within the
// size limit (only the header of the others), prepared, in chunks.
func (d *Daemon) produce(ctx context.Context, c *imapclient.Client, uidValidity uint32, uids []imap.UID, out chan<- work) error {
	mailbox := d.cfg.IMAP.Mailbox
	// The first batches are small and double up to batch_size: the
	// parser and the database start on the first few messages while the
	// next are fetched, instead of waiting for a whole batch.
	ramp := 25
	for len(uids) > 0 && ctx.Err() == nil {
		n := min(len(uids), d.cfg.IMAP.BatchSize, ramp)
		ramp *= 2
		batch := uids[:n]
		uids = uids[n:]
		plain := make([]uint32, len(batch))
		for i, u := range batch {
			plain[i] = uint32(u)
		}
		seen, err := d.st.SeenUIDs(ctx, mailbox, uidValidity, plain)
		if err != nil {
			return err
		}
		w := work{seenUIDs: map[string][]imap.UID{}, seenIDs: map[string][]int64{}}
		var fresh []imap.UID
		for _, u := range batch {
			if s, ok := seen[uint32(u)]; ok {
				// Committed before but still here (a crash before the move).
				f := d.proc.folder(s.Disposition)
				w.seenUIDs[f] = append(w.seenUIDs[f], u)
				w.seenIDs[f] = append(w.seenIDs[f], s.ID)
				continue
			}
			fresh = append(fresh, u)
		}
		if len(fresh) == 0 {
			out <- w
			continue
		}
		var meta []*imapclient.FetchMessageBuffer
		for _, set := range uidSets(fresh, maxSetLen) {
			part, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true}).Collect()
			if err != nil {
				return fmt.Errorf("imap fetch sizes: %w", err)
			}
			meta = append(meta, part...)
		}
		slices.SortFunc(meta, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
		limit := int64(d.cfg.Intake.MaxMessageSize)
		var big, chunk []*imapclient.FetchMessageBuffer
		var chunkBytes int64
		for _, m := range meta {
			if m.RFC822Size > limit {
				big = append(big, m) // SPEC §9: checked from RFC822.SIZE, never fetched
				continue
			}
			if chunkBytes+m.RFC822Size > fetchBytes && len(chunk) > 0 {
				items, err := d.fetchBodies(c, chunk, uidValidity)
				if err != nil {
					w.release()
					return err
				}
				w.items = append(w.items, items...)
				out <- w
				w = work{}
				chunk, chunkBytes = nil, 0
			}
			chunk = append(chunk, m)
			chunkBytes += m.RFC822Size
		}
		if len(big) > 0 {
			items, err := d.fetchHeaders(c, big, uidValidity)
			if err != nil {
				w.release()
				return err
			}
			w.items = append(w.items, items...)
		}
		if len(chunk) > 0 {
			items, err := d.fetchBodies(c, chunk, uidValidity)
			if err != nil {
				w.release()
				return err
			}
			w.items = append(w.items, items...)
		}
		slices.SortFunc(w.items, func(a, b fetched) int { return int(a.in.UID) - int(b.in.UID) })
		select {
		case out <- w:
		case <-ctx.Done():
			w.release()
			return ctx.Err()
		}
	}
	return nil
}

// fetchBodies fetches BODY.PEEK[] (never setting \Seen) for a chunk; the
// next stage prepares each message (hash, parse, signature check).
func (d *Daemon) fetchBodies(c *imapclient.Client, chunk []*imapclient.FetchMessageBuffer, uidValidity uint32) ([]fetched, error) {
	return d.fetchSection(c, chunk, uidValidity, &imap.FetchItemBodySection{Peek: true}, int64(d.cfg.Intake.MaxMessageSize)+1)
}

// fetchHeaders fetches only BODY.PEEK[HEADER] of messages too large to take
// in: enough to tell who sent them, and to answer a partner.
func (d *Daemon) fetchHeaders(c *imapclient.Client, big []*imapclient.FetchMessageBuffer, uidValidity uint32) ([]fetched, error) {
	out, err := d.fetchSection(c, big, uidValidity, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}, headerBytes)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].in.Header, out[i].in.Raw = out[i].in.Raw, nil // (a header is never spooled)
	}
	return out, nil
}

func (d *Daemon) fetchSection(c *imapclient.Client, msgs []*imapclient.FetchMessageBuffer, uidValidity uint32, section *imap.FetchItemBodySection, max int64) ([]fetched, error) {
	uids := make([]imap.UID, len(msgs))
	byUID := map[imap.UID]*imapclient.FetchMessageBuffer{}
	for i, m := range msgs {
		uids[i] = m.UID
		byUID[m.UID] = m
	}
	var out []fetched
	for _, set := range uidSets(uids, maxSetLen) {
		var err error
		if out, err = d.fetchSet(c, set, byUID, uidValidity, section, max, out); err != nil {
			work{items: out}.release()
			return nil, err
		}
	}
	return out, nil
}

// fetchSet is fetchSection's one FETCH command, of the UIDs of set; it
// appends what it took to out.
func (d *Daemon) fetchSet(c *imapclient.Client, set imap.UIDSet, byUID map[imap.UID]*imapclient.FetchMessageBuffer, uidValidity uint32,
	section *imap.FetchItemBodySection, max int64, out []fetched) ([]fetched, error) {
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer cmd.Close()
	whole := section.Specifier == imap.PartSpecifierNone && len(section.Part) == 0 // the message, not its header
	fail := func(err error) ([]fetched, error) { return out, err }
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		in := Inbound{Mailbox: d.cfg.IMAP.Mailbox, UIDValidity: uidValidity}
		var uid imap.UID
		var spoolErr error
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if err := d.readBody(&in, it.Literal, max, whole); err != nil {
					in.release()
					var se *spoolError
					if !errors.As(err, &se) {
						return fail(fmt.Errorf("imap fetch body: %w", err))
					}
					// The rest of its literal is discarded; the message
					// stays in the inbox and the fetch goes on.
					spoolErr = err
				}
			}
		}
		if spoolErr != nil {
			d.log.Error("message left in the inbox: it could not be spooled", "uid", uid, "err", spoolErr)
			continue
		}
		meta, ok := byUID[uid]
		if !ok || !(in.fetched() || in.oversize) {
			in.release()
			continue // a message expunged meanwhile: nothing to take in
		}
		in.UID, in.Received = uint32(uid), meta.InternalDate
		if !in.oversize || in.Size < meta.RFC822Size { // (an oversize literal's size is kept)
			in.Size = meta.RFC822Size
		}
		out = append(out, fetched{in: in})
	}
	if err := cmd.Close(); err != nil {
		return fail(fmt.Errorf("imap fetch: %w", err))
	}
	return out, nil
}

// readBody reads a fetched literal (at most max bytes): into one buffer of
// its size, or, for a whole message above spoolAbove (1 MB), into a spool
// file, hashed on the way.
func (d *Daemon) readBody(in *Inbound, lit imap.LiteralReader, max int64, whole bool) error {
	if in.spooled != nil { // a server that sent the section twice: the last one counts
		in.spooled.Close()
		in.spooled = nil
	}
	n := lit.Size()
	switch {
	case whole && n > d.proc.spoolAbove && n < max:
		f, err := d.proc.spool.create()
		if err != nil {
			return err
		}
		h := sha256.New()
		buf := make([]byte, 64<<10)
		// A failed write is the spool's (*spoolError), a failed read the
		// server's.
		copied, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(lit, n), buf)
		if err == nil && copied < n {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			f.Close()
			return err
		}
		in.spooled = f
		h.Sum(in.sum[:0])
	case n >= 0 && n < max:
		// The literal's size is known: one allocation of it, not a
		// doubling series.
		b := make([]byte, n)
		if _, err := io.ReadFull(lit, b); err != nil {
			return err
		}
		in.Raw = b
	case whole && n >= max:
		// Larger than the limit although RFC822.SIZE said otherwise: a
		// truncated message is never stored; it is taken as too large,
		// from its header (the rest of the literal is discarded unread).
		b, err := io.ReadAll(io.LimitReader(lit, headerBytes))
		if err != nil {
			return err
		}
		in.Header, in.oversize, in.Size = headerOf(b), true, n
	case whole:
		// A literal of no stated size: the same, found by reading.
		b, err := io.ReadAll(io.LimitReader(lit, max))
		if err != nil {
			return err
		}
		if int64(len(b)) < max {
			in.Raw = b
			break
		}
		in.Header, in.oversize, in.Size = headerOf(b), true, int64(len(b))
	default:
		b, err := io.ReadAll(io.LimitReader(lit, max))
		if err != nil {
			return err
		}
		in.Raw = b
	}
	return nil
}

// headerOf returns the header of a message's first bytes, at most
// headerBytes of it.
func headerOf(b []byte) []byte {
	b = b[:min(len(b), headerBytes)]
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(b, []byte(sep)); i >= 0 {
			return bytes.Clone(b[:i+len(sep)])
		}
	}
	return bytes.Clone(b)
}

// prepareAll prepares messages in parallel, one worker per core.
func (d *Daemon) prepareAll(items []fetched) {
	workers := min(runtime.GOMAXPROCS(0), len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d.proc.Prepare(&items[i].in)
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
}

// commit stores a chunk in one transaction.
func (d *Daemon) commit(ctx context.Context, items []fetched) error {
	if len(items) == 0 {
		return nil
	}
	ins := make([]Inbound, len(items))
	for i := range items {
		ins[i] = items[i].in
	}
	err := d.st.InTx(ctx, func(tx *store.Tx) error {
		done, err := d.proc.ProcessAll(tx, ins)
		for i := range items {
			items[i].in.prep = ins[i].prep // its attachment sinks, to release
		}
		if err != nil {
			return err
		}
		for i := range items {
			items[i].done = &done[i]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("intake: %w (the messages stay in the inbox)", err)
	}
	for _, it := range items {
		p := it.done
		d.log.Info("message processed", "uid", it.in.UID, "msg", fmt.Sprintf("M-%d", p.ID), "disposition", p.Disposition,
			"refs", strings.Join(p.Refs, ","), "decisions", strings.Join(p.Decisions, ","), "reply", p.Reply, "reason", logReason(p))
	}
	if d.OnCommit != nil {
		d.OnCommit()
	}
	return nil
}
