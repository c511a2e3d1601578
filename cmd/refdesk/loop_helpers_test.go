package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"refdesk/configs"
	"refdesk/store"
)

// loopConfig writes a config for loopback servers and returns its path. imap
// and smtp are the bodies of those tables (address, security, auth, ...);
// extra is appended (more keys or tables).
func loopConfig(t *testing.T, imapKeys, smtpKeys, intakeKeys, extra string) string {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`
[program]
name = "Eastside Financial Coaching"
reply_from = "Eastside Financial Coaching <referrals@eastside.example>"
phone = "555-0100"
timezone = "America/Chicago"
coaches = ["coach@eastside.example"]

[database]
path = "refdesk.db"

[imap]
%s

[smtp]
%s

[intake]
trusted_authserv_id = "mx.eastside.example"
%s

[[partners]]
id = "northside-housing"
name = "Northside Housing Authority"
domains = ["northside-housing.example"]

[[services]]
id = "emergency-desk"
name = "Emergency Assistance Desk"
contact = "555-0199"

[[rules]]
id = "crisis-words"
then = "redirect"
service = "emergency-desk"
reason = "The client seems to be in crisis."
keywords = ["eviction", "shut-off", "no food"]
%s
`, strings.TrimSpace(imapKeys), strings.TrimSpace(smtpKeys), strings.TrimSpace(intakeKeys), extra)
	path := filepath.Join(dir, "refdesk.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a log sink the daemon writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveInBackground loads the config, opens the store and runs the daemon
// (as `refdesk serve` does) until the test ends. It returns the store and
// the log the daemon writes (debug level, so everything it would say).
func serveInBackground(t *testing.T, cfgPath string) (*configs.Config, *store.Store, *syncBuffer) {
	t.Helper()
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, st, log, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s")
		}
		st.Close()
	})
	return cfg, st, logs
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// refMail is a referral email from a partner caseworker.
func refMail(from, subject, body string) []byte {
	id := fmt.Sprintf("%d.%s", time.Now().UnixNano(), strings.ReplaceAll(from, "@", "."))
	s := "From: " + from + "\r\nTo: referrals@eastside.example\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + id + "@test.example>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(strings.TrimLeft(body, "\n"), "\n", "\r\n")
	return []byte(s)
}

// countOf runs a count query.
func countOf(t *testing.T, st *store.Store, q string) int {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}
