//go:build race

package parse

// The race detector slows parsing about twentyfold; TestPathological uses
// smaller inputs under it.
const raceEnabled = true
