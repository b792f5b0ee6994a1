package runtime

import (
	"os"
	"runtime/debug"
)

// ServerGCPercent is the garbage collector's target a server runs with
// unless GOGC says otherwise.
//
// A verification node's live heap is small (a few MB plus its caches) and
// nearly everything a request allocates dies with it. At Go's default of
// 100 the collector then runs dozens of times a second under load, and on
// two cores its mark phase takes CPU straight from the requests: in `make
// bench`, 400 served about a third more verifications per second than 100.
// The price is a heap up to five times the live data, which GOMEMLIMIT
// caps when memory is tight. `keyline replay` runs with it too: it holds
// the whole read model while every decoded event dies once folded.
const ServerGCPercent = 400

// TuneGC applies ServerGCPercent when the operator has not chosen a GOGC,
// and reports the percentage in effect.
func TuneGC() int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(ServerGCPercent)
	return ServerGCPercent
}
