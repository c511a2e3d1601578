package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"refdesk/configs"
	"refdesk/parse"
	"refdesk/store"
	"refdesk/templates"
)

// Kinds of automatic replies; their templates must exist. They are the
// kinds the per-sender reply cap counts.
var Kinds = store.CapKinds

// ScheduledKinds are the kinds the scheduler sends (a report to a partner,
// the digest to coaches); their templates must exist too.
var ScheduledKinds = []string{"monthly-report", "coach-digest"}

// Renderer turns outbox rows into subjects and bodies.
type Renderer struct {
	cfg  *configs.Config
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Rendered is one message's content.
type Rendered struct {
	Subject, Text, HTML string
	Attachments         []Attachment
}

// Attachment is a file sent with a message.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// View is what a template sees.
type View struct {
	Program configs.Program
	// Subject is the subject being answered, already cleared of personal
	// data by intake, or "Referral".
	Subject string
	Items   []store.ReplyItem
	Item    store.ReplyItem // the first item
	// ContactBy is the promised first-contact date, in words.
	ContactBy string
	// Form is the copy-ready referral template.
	Form string
	// NeedsInfo is true when an item needs more information (a batch reply
	// then carries the template too).
	NeedsInfo bool
	// Report is the monthly partner report (kind monthly-report).
	Report *Report
	// Digest is the daily coach digest (kind coach-digest).
	Digest *Digest
	// MaxMessageSize is the intake size limit in words: "25 MB".
	MaxMessageSize string
}

// NewRenderer loads the embedded templates, then files of the same name from
// cfg.Templates.Dir, and checks every kind renders with sample data, so a
// broken override stops start-up.
func NewRenderer(cfg *configs.Config) (*Renderer, error) {
	files := map[string]string{}
	err := fs.WalkDir(templates.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmpl") {
			return err
		}
		b, err := fs.ReadFile(templates.FS, p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("notify: templates: %w", err)
	}
	if dir := cfg.Templates.Dir; dir != "" {
		over, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
		if err != nil {
			return nil, fmt.Errorf("notify: templates dir: %w", err)
		}
		for _, p := range over {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
			files[filepath.Base(p)] = string(b)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	funcs := map[string]any{
		"label":    fieldLabel,
		"help":     fieldHelp,
		"decision": decisionWords,
		"inc":      func(i int) int { return i + 1 },
		"pad":      pad,
		"money":    store.FormatCents,
	}
	r := &Renderer{
		cfg:  cfg,
		text: texttemplate.New("").Funcs(funcs).Option("missingkey=error"),
		html: htmltemplate.New("").Funcs(funcs).Option("missingkey=error"),
	}
	for _, n := range names {
		if _, err := r.text.New(n).Parse(files[n]); err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", n, err)
		}
		if _, err := r.html.New(n).Parse(files[n]); err != nil {
			return nil, fmt.Errorf("notify: template %s: %w", n, err)
		}
	}
	// Each kind's file must define all three parts; say which file when an
	// override leaves one out (the self-check below would only name the part).
	for _, kind := range append(slices.Clone(Kinds), ScheduledKinds...) {
		for _, part := range []string{"subject", "text", "html"} {
			if r.text.Lookup(kind+"."+part) == nil {
				file := kind + ".tmpl"
				if cfg.Templates.Dir != "" {
					if _, err := os.Stat(filepath.Join(cfg.Templates.Dir, file)); err == nil {
						file = filepath.Join(cfg.Templates.Dir, file)
					}
				}
				return nil, fmt.Errorf("notify: template %s: does not define %q", file, kind+"."+part)
			}
		}
	}
	if err := r.selfCheck(); err != nil {
		return nil, err
	}
	return r, nil
}

// selfCheck renders every reply kind with sample data.
func (r *Renderer) selfCheck() error {
	svc := &store.ServiceInfo{ID: "svc", Name: "Service", Contact: "555-0000"}
	item := store.ReplyItem{Ref: "R-1001", Decision: "accepted", CaseID: "C-1", Client: "Dana W.",
		Reason: "reason", Missing: []string{"consent", "contact"}, Service: svc}
	for _, kind := range Kinds {
		it := item
		it.Decision = kind
		data, _ := json.Marshal(store.Reply{Items: []store.ReplyItem{it, it}})
		o := &store.OutMsg{Kind: kind, Subject: "Referral", Data: data, CreatedAt: time.Now()}
		if _, err := r.Render(o); err != nil {
			return err
		}
	}
	for kind, v := range map[string]any{"monthly-report": sampleReport(), "coach-digest": sampleDigest()} {
		data, _ := json.Marshal(v)
		if _, err := r.Render(&store.OutMsg{Kind: kind, Data: data, CreatedAt: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}

// Render renders one outbox row.
func (r *Renderer) Render(o *store.OutMsg) (*Rendered, error) {
	v := View{
		Program:   r.cfg.Program,
		Subject:   o.Subject,
		ContactBy: contactBy(o.CreatedAt, r.cfg.Program.FirstContactDays, r.cfg.Location),
		Form:      BlankForm(r.cfg.Intake.Required),

		MaxMessageSize: sizeWords(int64(r.cfg.Intake.MaxMessageSize)),
	}
	var out Rendered
	var err error
	switch o.Kind {
	case "monthly-report":
		v.Report = &Report{}
		err = unmarshalData(o, v.Report)
		if err == nil {
			out.Attachments = []Attachment{{Name: ReportCSVName(v.Report), ContentType: "text/csv", Data: ReportCSV(v.Report)}}
		}
	case "coach-digest":
		v.Digest = &Digest{}
		err = unmarshalData(o, v.Digest)
	default:
		var reply store.Reply
		err = unmarshalData(o, &reply)
		v.Items = reply.Items
		if len(reply.Items) > 0 {
			v.Item = reply.Items[0]
		}
		for _, it := range reply.Items {
			v.NeedsInfo = v.NeedsInfo || it.Decision == "needs-info"
		}
	}
	if err != nil {
		return nil, err
	}
	if v.Subject == "" {
		v.Subject = "Referral"
	}
	if v.Item.Service == nil {
		v.Item.Service = &store.ServiceInfo{}
	}
	for _, part := range []struct {
		dst  *string
		name string
		html bool
	}{{&out.Subject, o.Kind + ".subject", false}, {&out.Text, o.Kind + ".text", false}, {&out.HTML, o.Kind + ".html", true}} {
		var buf bytes.Buffer
		var err error
		if part.html {
			err = r.html.ExecuteTemplate(&buf, part.name, v)
		} else {
			err = r.text.ExecuteTemplate(&buf, part.name, v)
		}
		if err != nil {
			return nil, fmt.Errorf("notify: render %s: %w", part.name, err)
		}
		*part.dst = buf.String()
	}
	// A subject is one line: nothing from a template or a field value may
	// start a new header.
	out.Subject = strings.Join(strings.Fields(out.Subject), " ")
	out.Text = strings.TrimLeft(out.Text, "\n")
	return &out, nil
}

func unmarshalData(o *store.OutMsg, v any) error {
	if len(o.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(o.Data, v); err != nil {
		return fmt.Errorf("notify: %s data: %w", o.Ref(), err)
	}
	return nil
}

// pad writes s left-aligned in a column n runes wide (text templates).
func pad(n int, s string) string {
	if k := utf8.RuneCountInString(s); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

// sizeWords writes a byte count for people: "25 MB", "512 KB".
func sizeWords(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.4g MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.4g KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// contactBy is the date first contact is promised: days business days
// after received, in the program's time zone.
func contactBy(received time.Time, days int, loc *time.Location) string {
	return promisedDay(received, days, loc).Format("Monday, January 2")
}

// promisedDay is the day (its first instant, in loc) by which first contact
// is promised: days business days after t.
func promisedDay(t time.Time, days int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	for n := 0; n < days; {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// fieldLabel is how a field is named to people: "client_name" -> "Client
// name"; "contact" -> "Phone or email for the client".
func fieldLabel(name string) string {
	if name == "contact" {
		return "Phone or email for the client"
	}
	if f, ok := parse.FieldByName(name); ok {
		return f.Label
	}
	return strings.ReplaceAll(name, "_", " ")
}

func fieldHelp(name string) string {
	if name == "contact" {
		return "a phone number or an email address where we can reach the client"
	}
	f, _ := parse.FieldByName(name)
	return f.Help
}

func decisionWords(d string) string {
	switch d {
	case "accepted":
		return "accepted"
	case "redirected":
		return "better fit elsewhere"
	case "needs-info":
		return "we need more information"
	case "waitlisted":
		return "waiting list"
	case "duplicate":
		return "already referred"
	}
	return d
}

// BlankForm is the referral template caseworkers copy: every canonical field
// as "Label: ", the required ones first.
func BlankForm(required []string) string {
	var b strings.Builder
	done := map[string]bool{}
	line := func(name string) {
		if done[name] {
			return
		}
		done[name] = true
		fmt.Fprintf(&b, "%s: \n", fieldLabel(name))
	}
	for _, r := range required {
		if r == "contact" {
			line("client_phone")
			line("client_email")
			continue
		}
		line(r)
	}
	for _, f := range parse.Fields {
		if f.Name == "referrer_name" || f.Name == "referrer_phone" {
			continue // taken from the sender when absent
		}
		line(f.Name)
	}
	return b.String()
}
