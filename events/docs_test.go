package events

import (
	"os"
	"strings"
	"testing"
)

// docs/EVENTS.md is the contract for downstream consumers: an event that
// exists in code but not there is an undocumented wire format.
func TestEveryEventIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	all := append(Known(), KnownAnalytics()...)
	if len(all) < 6 {
		t.Fatalf("only %d events known: %v", len(all), all)
	}
	for _, name := range all {
		if !strings.Contains(string(doc), "\n### "+name+"\n") {
			t.Errorf("docs/EVENTS.md has no section \"### %s\"", name)
		}
	}
}
