package events

// Analytics records are not part of the event log: a verification or a
// rate-limit decision changes no state, and there are orders of magnitude
// more of them than management events. They travel on their own stream
// (keyline.analytics) to ClickHouse and to `keyline consume`, with at-least-
// once delivery; the unique ID is what turns that into "each counts once".
//
// Like log events they have a stable name and version; fields may only be
// added, a breaking change gets a new version. docs/EVENTS.md documents them.

// Names of the analytics records.
const (
	KeyVerifiedName      = "key.verified"
	RatelimitDecidedName = "ratelimit.decided"
)

// AnalyticsEvent is the envelope of every analytics record: exactly one of
// Verification and Ratelimit is set, matching Name.
type AnalyticsEvent struct {
	// ID is unique per record ("aev_" + 32 hex digits); consumers
	// deduplicate by it. The sink assigns one when the producer left it empty.
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Time is when the decision was made, in Unix milliseconds.
	Time        int64  `json:"time"`
	RequestID   string `json:"requestId"`
	WorkspaceID string `json:"workspaceId"`
	Region      string `json:"region"`

	Verification *KeyVerified      `json:"verification,omitempty"`
	Ratelimit    *RatelimitDecided `json:"ratelimit,omitempty"`
}

// KeyVerified is the outcome of one keys.verifyKey call (key.verified v1).
type KeyVerified struct {
	KeySpaceID string `json:"keySpaceId"`
	KeyID      string `json:"keyId"`
	IdentityID string `json:"identityId,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
	// Outcome is verifyKey's code: VALID, NOT_FOUND, FORBIDDEN,
	// USAGE_EXCEEDED, RATE_LIMITED, DISABLED, INSUFFICIENT_PERMISSIONS,
	// EXPIRED.
	Outcome      string   `json:"outcome"`
	Tags         []string `json:"tags,omitempty"`
	SpentCredits int64    `json:"spentCredits"`
	// LatencyMs is how long the verification took on the server.
	LatencyMs float64 `json:"latencyMs"`
}

// RatelimitDecided is one ratelimit.limit decision (ratelimit.decided v1).
type RatelimitDecided struct {
	NamespaceID string  `json:"namespaceId"`
	Identifier  string  `json:"identifier"`
	Passed      bool    `json:"passed"`
	Limit       int64   `json:"limit"`
	Remaining   int64   `json:"remaining"`
	Cost        int64   `json:"cost"`
	LatencyMs   float64 `json:"latencyMs"`
}

// NewKeyVerified wraps v in its envelope; the sink assigns the ID.
func NewKeyVerified(timeMs int64, requestID, workspaceID, region string, v KeyVerified) AnalyticsEvent {
	return AnalyticsEvent{Name: KeyVerifiedName, Version: 1, Time: timeMs, RequestID: requestID,
		WorkspaceID: workspaceID, Region: region, Verification: &v}
}

// NewRatelimitDecided wraps d in its envelope; the sink assigns the ID.
func NewRatelimitDecided(timeMs int64, requestID, workspaceID, region string, d RatelimitDecided) AnalyticsEvent {
	return AnalyticsEvent{Name: RatelimitDecidedName, Version: 1, Time: timeMs, RequestID: requestID,
		WorkspaceID: workspaceID, Region: region, Ratelimit: &d}
}

// KnownAnalytics lists the analytics records as "name.vN", like Known does
// for log events; docs/EVENTS.md is checked against both.
func KnownAnalytics() []string {
	return []string{KeyVerifiedName + ".v1", RatelimitDecidedName + ".v1"}
}
