package runtime

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCRespectsGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	if got := TuneGC(); got != ServerGCPercent {
		t.Fatalf("without GOGC: TuneGC() = %d, want %d", got, ServerGCPercent)
	}
	if got := debug.SetGCPercent(ServerGCPercent); got != ServerGCPercent {
		t.Fatalf("without GOGC the collector runs at %d, want %d", got, ServerGCPercent)
	}

	// The runtime read GOGC at start-up; an operator's value is whatever
	// the collector runs at, and TuneGC must leave it alone.
	debug.SetGCPercent(50)
	t.Setenv("GOGC", "50")
	if got := TuneGC(); got != 50 {
		t.Fatalf("with GOGC=50: TuneGC() = %d, want 50", got)
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Fatalf("with GOGC=50 the collector runs at %d, want 50", got)
	}
}
