package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests (TestE2E*) drive the real refdesk binary against a
// real Dovecot and a real SMTP server. The binary is built once per test run,
// on first use, and removed when the run ends.

var e2eBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBin.dir != "" {
		os.RemoveAll(e2eBin.dir)
	}
	os.Exit(code)
}

// refdeskBinary returns the path of a freshly built refdesk binary.
func refdeskBinary(t testing.TB) string {
	t.Helper()
	e2eBin.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			e2eBin.err = err
			return
		}
		dir, err := os.MkdirTemp("", "refdesk-e2e-bin-")
		if err != nil {
			e2eBin.err = err
			return
		}
		e2eBin.dir = dir
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		bin := filepath.Join(dir, "refdesk")
		start := time.Now()
		cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/refdesk")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eBin.err = fmt.Errorf("go build ./cmd/refdesk in %s: %v\n%s", root, err, out)
			return
		}
		e2eBin.path = bin
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", bin, time.Since(start).Round(time.Millisecond))
	})
	if e2eBin.err != nil {
		t.Fatalf("e2e: %v", e2eBin.err)
	}
	return e2eBin.path
}

// moduleRoot finds the directory holding go.mod, from the test's working
// directory (cmd/refdesk) upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}
