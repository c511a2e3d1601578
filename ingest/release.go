package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"refdesk/store"
)

// ErrUnknownSender is Release's error for a message from no partner: say
// which partner it is from (Options.Partner).
var ErrUnknownSender = errors.New("unknown sender: not a registered partner")

// Release processes a held or quarantined message again on a coach's word,
// with triage options that lift what held it.
func (p *Processor) Release(ctx context.Context, st *store.Store, id int64, opt Options, by string) (Processed, error) {
	var res Processed
	err := st.InTx(ctx, func(tx *store.Tx) error {
		m, err := st.Message(ctx, id)
		if err != nil {
			return err
		}
		in, err := p.loadStored(ctx, st, m)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s has no stored copy (%s); it cannot be processed again", m.Ref(), m.Reason)
		}
		if err != nil {
			return err
		}
		defer in.release()
		if err := tx.Resolve(id, "released", by); err != nil {
			return err
		}
		c := newChunk(tx)
		p.parseInto(&in)
		if in.prep.ioErr != nil {
			return in.prep.ioErr
		}
		msg, err := in.prep.msg, in.prep.err
		if err != nil {
			return fmt.Errorf("%s still cannot be parsed: %w", m.Ref(), err)
		}
		opt.SkipCap = true
		out, err := p.triager.Triage(msg, c, m.ReceivedAt, opt)
		if err != nil {
			return err
		}
		if out.Disposition == store.DispHeld || out.Disposition == store.DispQuarantined {
			if out.Partner == nil {
				return fmt.Errorf("%s would be %s again: %w", m.Ref(), out.Disposition, ErrUnknownSender)
			}
			return fmt.Errorf("%s would be %s again: %s", m.Ref(), out.Disposition, out.Reason)
		}
		partner := ""
		if out.Partner != nil {
			partner = out.Partner.ID
		}
		if err := tx.SetDisposition(id, out.Disposition, "released by "+by, partner); err != nil {
			return err
		}
		m.Disposition, m.PartnerID = out.Disposition, partner
		res, err = p.apply(c, m, msg, out)
		return err
	})
	return res, err
}

// loadStored reads the stored copy of message m as intake fetched it: into
// memory, or above p.spoolAbove into a spool file.
func (p *Processor) loadStored(ctx context.Context, st *store.Store, m *store.Message) (Inbound, error) {
	in := Inbound{Mailbox: m.Mailbox, UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size, Received: m.ReceivedAt}
	if m.Size > p.spoolAbove {
		f, err := p.spool.create()
		if err != nil {
			return in, err
		}
		if _, err := st.WriteRaw(ctx, m.ID, f); err != nil {
			f.Close()
			return in, err
		}
		in.spooled = f
		return in, nil
	}
	var b bytes.Buffer
	b.Grow(int(max(m.Size, 0)))
	if _, err := st.WriteRaw(ctx, m.ID, &b); err != nil {
		return in, err
	}
	in.Raw = b.Bytes()
	return in, nil
}
