package ingest

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target for a process that runs
// intake (GOGC): the heap may grow to three times what is live before the
// collector runs again, instead of Go's twice. A burst keeps a few chunks of
// parsed messages live (10–22 MB in BenchmarkIntakeDovecot), so at Go's
// default the collector ran every 400–500 messages; at 200 it runs half as
// often, and refdesk spends about 5 % less processor time a message
// (BENCHMARKS.md, step 27). The price is memory: the peak resident set of
// a 25 MB PDF referral grew from 52 to 55–57 MB (goal 64). A soft memory
// limit (GOMEMLIMIT) on top did not lower that peak, so none is set.
const GCPercent = 200

// TuneGC sets the garbage collector for a process that runs intake, unless
// the environment sets GOGC itself; restore puts back what was before.
func TuneGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	old := debug.SetGCPercent(GCPercent)
	return func() { debug.SetGCPercent(old) }
}
