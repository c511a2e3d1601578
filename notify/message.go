package notify

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
)

// autoSubmitted is the RFC 3834 §5 value for each kind: replies to a message
// are auto-replied; reports and digests are auto-generated.
func autoSubmitted(kind string) string {
	switch kind {
	case "monthly-report", "coach-digest":
		return "auto-generated"
	}
	return "auto-replied"
}

// LoopValue is what refdesk writes in its loop header: the reply address.
func LoopValue(cfg *configs.Config) string {
	if a := cfg.Program.ReplyAddress(); a != "" {
		return a
	}
	return "refdesk"
}

// Compose builds the MIME message for an outbox row: threaded (In-Reply-To,
// References), marked automatic (Auto-Submitted, X-Auto-Response-Suppress,
// the loop header), text plus HTML, and the attachments of its kind (a
// report's CSV).
func (r *Renderer) Compose(o *store.OutMsg) (*gomail.Msg, error) {
	content, err := r.Render(o)
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg()
	if err := m.From(r.cfg.Program.ReplyFrom); err != nil {
		return nil, fmt.Errorf("notify: from: %w", err)
	}
	// Replies have one recipient; a report or digest may have several
	// (a partner's report contacts, the coaches): one message to all.
	to, err := mail.ParseAddressList(o.To)
	if err != nil {
		return nil, fmt.Errorf("notify: %s: recipient: %w", o.Ref(), err)
	}
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	if err := m.To(rcpts...); err != nil {
		return nil, fmt.Errorf("notify: %s: recipient: %w", o.Ref(), err)
	}
	m.Subject(content.Subject)
	m.SetMessageIDWithValue(o.MessageID)
	m.SetDate()
	if o.InReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+o.InReplyTo+">")
	}
	if refs := strings.Fields(o.References); len(refs) > 0 {
		for i, id := range refs {
			refs[i] = "<" + id + ">"
		}
		// One space-joined value: go-mail would otherwise write one header per id.
		m.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	m.SetGenHeader("Auto-Submitted", autoSubmitted(o.Kind))
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader(parse.LoopHeader, LoopValue(r.cfg))
	m.SetBodyString(gomail.TypeTextPlain, content.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, content.HTML)
	for _, a := range content.Attachments {
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("notify: %s: attach %s: %w", o.Ref(), a.Name, err)
		}
	}
	return m, nil
}
