package parse

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// realmailDir holds real messages from other projects' test fixtures (see its
// README). They are not part of this repository: the test skips without them.
var realmailDir = filepath.Join("..", "..", "shared", "realmail")

// TestRealmail calibrates the auto-generated detection against real mail:
// auto-replies, bounces and list mail must be recognised, person-to-person
// mail must not be, and broken mail must never panic or hang.
func TestRealmail(t *testing.T) {
	dir := realmailDir
	if d := os.Getenv("REFDESK_REALMAIL"); d != "" {
		dir = d
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no real mail corpus at %s", dir)
	}
	parseFile := func(t *testing.T, path string) (*Message, error) {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			m   *Message
			err error
		}
		done := make(chan result, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- result{err: fmt.Errorf("panic: %v", p)}
				}
			}()
			m, err := Parse(bytes.NewReader(raw), Options{})
			done <- result{m, err}
		}()
		select {
		case r := <-done:
			if r.err != nil && len(r.err.Error()) > 7 && r.err.Error()[:6] == "panic:" {
				t.Fatalf("%s: %v", filepath.Base(path), r.err)
			}
			return r.m, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Parse did not return within 10s", filepath.Base(path))
		}
		return nil, nil
	}
	files := func(category string) []string {
		fs, _ := filepath.Glob(filepath.Join(dir, category, "*.eml"))
		sort.Strings(fs)
		return fs
	}

	for _, category := range []string{"autoreply", "bounce", "list"} {
		t.Run(category, func(t *testing.T) {
			fs := files(category)
			var misses []string
			for _, f := range fs {
				m, err := parseFile(t, f)
				if err != nil {
					misses = append(misses, filepath.Base(f)+" (error: "+err.Error()+")")
					continue
				}
				if m.Auto == "" {
					misses = append(misses, filepath.Base(f))
				}
			}
			if len(fs) == 0 {
				t.Skip("no files")
			}
			pct := 100 * float64(len(fs)-len(misses)) / float64(len(fs))
			t.Logf("%s: %d/%d recognised as auto-generated (%.1f%%)", category, len(fs)-len(misses), len(fs), pct)
			for _, m := range misses {
				t.Logf("  missed: %s", m)
			}
			if pct < 95 {
				t.Errorf("%s: only %.1f%% recognised, want at least 95%%", category, pct)
			}
		})
	}

	t.Run("bounce-flag", func(t *testing.T) {
		fs := files("bounce")
		n := 0
		for _, f := range fs {
			if m, err := parseFile(t, f); err == nil && m.Bounce {
				n++
			}
		}
		if len(fs) > 0 {
			t.Logf("bounce: %d/%d flagged Bounce (%.1f%%)", n, len(fs), 100*float64(n)/float64(len(fs)))
		}
	})

	t.Run("human", func(t *testing.T) {
		fs := files("human")
		flagged := 0
		for _, f := range fs {
			m, err := parseFile(t, f)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			if m.Auto != "" {
				flagged++
				t.Errorf("%s: person-to-person mail flagged as automatic: %s", filepath.Base(f), m.Auto)
			}
		}
		t.Logf("human: %d/%d flagged as auto-generated", flagged, len(fs))
	})

	t.Run("malformed", func(t *testing.T) {
		fs := files("malformed")
		parsed, failed := 0, 0
		for _, f := range fs {
			_, err := parseFile(t, f)
			var le *LimitError
			switch {
			case err == nil:
				parsed++
			case errors.As(err, &le):
				failed++
				t.Logf("  %s: over a limit: %v", filepath.Base(f), err)
			default:
				failed++
				t.Logf("  %s: unusable: %v", filepath.Base(f), err)
			}
		}
		t.Logf("malformed: %d parsed, %d returned an error, none panicked or hung", parsed, failed)
	})
}
