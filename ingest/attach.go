package ingest

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync/atomic"
	"time"

	"refdesk/parse"
	"refdesk/store"
)

// defaultParseTimeout applies when the config gives none.
const defaultParseTimeout = 10 * time.Second

// safeParse parses the message r reads within timeout (config intake.parse_timeout). Parse
// itself checks the deadline between parts, rows and pages and stops with a
// *parse.LimitError; should a library call inside it not come back, the
// message is given up here a second after the deadline, so intake never
// hangs (the parse goroutine then ends on its own: every reader is bounded
// by the size limits, and its result channel is buffered). A panic (a parser
// bug) becomes an error, so one bad message is quarantined instead of
// stopping intake.
func safeParse(r io.Reader, opt parse.Options, timeout time.Duration) (*parse.Message, error) {
	if timeout <= 0 {
		timeout = defaultParseTimeout
	}
	opt.Deadline = time.Now().Add(timeout)
	done := make(chan parseResult, 1)
	job := parseJob{r: r, opt: opt, done: done}
	select {
	case parseJobs <- job: // a parser was idle
	default:
		go parser(job)
	}
	t := time.NewTimer(timeout + time.Second)
	defer t.Stop()
	select {
	case r := <-done:
		return r.msg, r.err
	case <-t.C:
		return nil, &parse.LimitError{Reason: fmt.Sprintf("parsing took longer than %s", timeout)}
	}
}

// The parses run on goroutines of their own (see safeParse), which are kept
// between messages: a new goroutine's stack grows to what the parser needs
// copy by copy, and that was 2 % of intake's processor time. A parser idle
// for parserIdle ends; one that never comes back is simply never idle again.
type parseJob struct {
	r    io.Reader
	opt  parse.Options
	done chan<- parseResult // buffered: a parser never waits on it
	stop bool
}

type parseResult struct {
	msg *parse.Message
	err error
}

var parseJobs = make(chan parseJob)

// parserIdle is how long a parser waits for the next message, in
// nanoseconds (set by tests).
var parserIdle atomic.Int64

func init() { parserIdle.Store(int64(5 * time.Second)) }

// liveParsers counts the parsers running or idle (for tests).
var liveParsers atomic.Int64

// parser parses job, then the jobs that come while it is idle. A stop job
// ends it (tests: stopIdleParsers).
func parser(job parseJob) {
	liveParsers.Add(1)
	defer liveParsers.Add(-1)
	idle := time.NewTimer(time.Duration(parserIdle.Load()))
	defer idle.Stop()
	for !job.stop {
		job.done <- parseRecovered(job.r, job.opt)
		job = parseJob{} // an idle parser keeps no message
		idle.Reset(time.Duration(parserIdle.Load()))
		select {
		case job = <-parseJobs:
		case <-idle.C:
			return
		}
	}
}

// parseRecovered is parse.Parse with a panic returned as an error.
func parseRecovered(r io.Reader, opt parse.Options) (res parseResult) {
	defer func() {
		if p := recover(); p != nil {
			res = parseResult{err: fmt.Errorf("parser failure: %v", p)}
		}
	}()
	msg, err := parse.Parse(r, opt)
	return parseResult{msg, err}
}

// quarantineReason says why a message could not be parsed.
func quarantineReason(err error) string {
	var le *parse.LimitError
	if errors.As(err, &le) {
		return "over a limit: " + le.Reason
	}
	return "unparseable: " + err.Error()
}

// storeAttachments keeps msg's attachments with stored message m, in the
// intake transaction, copying each from the sink parse wrote it to, a
// chunk at a time. referral is the one referral the message made or
// followed up, or nil for a batch (each of its referrals finds them through
// the message).
func storeAttachments(tx *store.Tx, m *store.Message, msg *parse.Message, referral *int64) error {
	for i := range msg.Attachments {
		a := &msg.Attachments[i]
		sa := &store.Attachment{MessageID: m.ID, ReferralID: referral, Filename: a.Filename, ContentType: a.ContentType,
			Candidates: a.Candidates, Problem: a.Problem}
		if err := tx.InsertAttachment(sa, attachmentData(a)); err != nil {
			return err
		}
	}
	return nil
}

var rowSource = regexp.MustCompile(`\b(?:row|item) \d+$`)

// replySource is what a reply may say about where a referral came from:
// "row 3" of a batch file, so the caseworker can find it. The file and
// sheet names are left out: caseworkers name files after clients
// ("Whitfield, Dana.pdf") and a reply names no one in full (SPEC §6).
func replySource(source string) string {
	return rowSource.FindString(source)
}
