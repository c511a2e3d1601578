package ingest

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's setting.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneGCSetsIntakesTarget(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("GOGC", "") // restored after the test…
		os.Unsetenv("GOGC")  // …and none at all meanwhile, as in a plain start
		before := gcPercent()
		restore := TuneGC()
		if got := gcPercent(); got != GCPercent {
			t.Errorf("after TuneGC: GOGC %d, want %d", got, GCPercent)
		}
		restore()
		if got := gcPercent(); got != before {
			t.Errorf("after restore: GOGC %d, want %d", got, before)
		}
	})
	t.Run("set by the environment", func(t *testing.T) {
		t.Setenv("GOGC", "50")
		defer debug.SetGCPercent(debug.SetGCPercent(50)) // 50: what the runtime read from it at start
		defer TuneGC()()
		if got := gcPercent(); got != 50 {
			t.Errorf("with GOGC=50 in the environment: %d, want it left at 50", got)
		}
	})
}
