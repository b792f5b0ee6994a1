package analytics

import (
	"encoding/json"

	"github.com/keyline/keyline/events"
)

// decodeRecord decodes one analytics record (the JSON of
// events.AnalyticsEvent, docs/EVENTS.md) into ev, which must be zero.
func decodeRecord(payload string, ev *events.AnalyticsEvent) error {
	return json.Unmarshal([]byte(payload), ev)
}
