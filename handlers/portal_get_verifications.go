package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyline/keyline/events"
)

// PortalGetVerificationsInput is portal.getVerifications' body: a window
// in unix ms, start inclusive, end exclusive, and optionally one key.
type PortalGetVerificationsInput struct {
	StartTime int64  `json:"startTime"`
	EndTime   int64  `json:"endTime"`
	KeyID     string `json:"keyId"`
}

// VerificationPoint is Unkey's V2PortalGetVerificationsDataPoint: one
// bucket of the series, by outcome.
type VerificationPoint struct {
	Time                    int64 `json:"time"`
	Total                   int64 `json:"total"`
	Valid                   int64 `json:"valid"`
	RateLimited             int64 `json:"rateLimited"`
	InsufficientPermissions int64 `json:"insufficientPermissions"`
	Forbidden               int64 `json:"forbidden"`
	Disabled                int64 `json:"disabled"`
	Expired                 int64 `json:"expired"`
	UsageExceeded           int64 `json:"usageExceeded"`
}

// Bucket sizes of the series, chosen from the window: at most 360 minutes,
// 168 hours or 90 days. A longer window is refused rather than answered
// with millions of empty buckets; 90 days is also how long ClickHouse
// keeps raw verifications.
const (
	portalMinuteWindow = 6 * time.Hour
	portalHourWindow   = 7 * 24 * time.Hour
	portalMaxWindow    = 90 * 24 * time.Hour
)

// PortalGetVerifications answers the end user's verification series from
// the ClickHouse rollups, confined to the session's workspace, the
// portal's key spaces and the end user's external ID.
type PortalGetVerifications struct {
	Reader  PortalReader
	Querier AnalyticsQuerier
}

// NewPortalGetVerifications builds the use case.
func NewPortalGetVerifications(r PortalReader, q AnalyticsQuerier) *PortalGetVerifications {
	return &PortalGetVerifications{Reader: r, Querier: q}
}

// PortalGetVerificationsResult is the zero-filled series, oldest first.
type PortalGetVerificationsResult = []VerificationPoint

// Handle needs the analytics:read scope (403); a keyId the end user does
// not own is a 404. Without clickhouse.url it is the same 412 as
// analytics.getVerifications: keyline answers no series it cannot count.
// Every bucket of the window is present, zero-filled, oldest first.
func (h *PortalGetVerifications) Handle(ctx context.Context, p *Principal, in PortalGetVerificationsInput) (PortalGetVerificationsResult, error) {
	scope, err := portalOnly(p, events.PortalScopeAnalyticsRead)
	if err != nil {
		return nil, err
	}
	step, err := portalBucket(in.StartTime, in.EndTime)
	if err != nil {
		return nil, err
	}
	if in.KeyID != "" {
		if _, err := ownedKey(ctx, h.Reader, p, in.KeyID); err != nil {
			return nil, err
		}
	}
	// The series is ClickHouse SQL over its rollups; the local store's
	// query subset is for analytics.getVerifications, so without ClickHouse
	// the portal has no chart rather than a wrong one.
	if local, ok := h.Querier.(localAnalytics); h.Querier == nil || !h.Querier.Configured() || (ok && local.LocalDialect() != "") {
		return nil, Fail(CodeAnalyticsNotConfigured, "Analytics is not configured on this server: set clickhouse.url.")
	}
	stepMs := step.Milliseconds()
	first := in.StartTime - in.StartTime%stepMs
	points := make([]VerificationPoint, 0, (in.EndTime-first+stepMs-1)/stepMs)
	index := map[int64]int{}
	for t := first; t < in.EndTime; t += stepMs {
		index[t] = len(points)
		points = append(points, VerificationPoint{Time: t})
	}
	rows, err := h.Querier.Query(ctx, portalSeriesSQL(p.WorkspaceID, scope, in.KeyID, step, first, in.EndTime), AnalyticsMaxRows)
	if err != nil {
		var f analyticsFailure
		if errors.As(err, &f) && f.AnalyticsFailure() == "connection" {
			return nil, &Error{Code: CodeAnalyticsConnectionFailed, Detail: "The analytics database could not be reached. Please try again later.", Err: err}
		}
		// The query is keyline's own and bounded by the window, so any
		// other failure is the server's, not the end user's.
		return nil, Internal("querying the portal series", err)
	}
	for _, r := range rows {
		bucket, _ := r["bucket"].(int64)
		n, _ := r["n"].(int64)
		outcome, _ := r["outcome"].(string)
		i, ok := index[bucket*1000]
		if !ok {
			continue
		}
		pt := &points[i]
		pt.Total += n
		switch outcome {
		case "VALID":
			pt.Valid += n
		case "RATE_LIMITED":
			pt.RateLimited += n
		case "INSUFFICIENT_PERMISSIONS":
			pt.InsufficientPermissions += n
		case "FORBIDDEN":
			pt.Forbidden += n
		case "DISABLED":
			pt.Disabled += n
		case "EXPIRED":
			pt.Expired += n
		case "USAGE_EXCEEDED":
			pt.UsageExceeded += n
		}
	}
	return points, nil
}

// portalBucket validates the window and picks the bucket size.
func portalBucket(start, end int64) (time.Duration, error) {
	bad := func(msg string) error {
		return &Error{Code: CodeInvalidInput, Detail: msg,
			Fields: []FieldError{{Location: "/properties/endTime", Message: msg}}}
	}
	if start < 0 {
		return 0, bad("startTime must not be negative.")
	}
	if end <= start {
		return 0, bad("endTime must be after startTime.")
	}
	// Both are non-negative, so the difference cannot overflow.
	switch window := end - start; {
	case window <= portalMinuteWindow.Milliseconds():
		return time.Minute, nil
	case window <= portalHourWindow.Milliseconds():
		return time.Hour, nil
	case window <= portalMaxWindow.Milliseconds():
		return 24 * time.Hour, nil
	}
	return 0, bad("The window from startTime to endTime may span at most 90 days.")
}

// portalSeriesSQL prints the series query. Day buckets are summed from the
// hour rollup in UTC, so they do not depend on the ClickHouse server's time
// zone (its day rollup buckets by the server's). Every value spliced in is
// either an ID keyline generated or a string quoted by chQuote.
func portalSeriesSQL(workspaceID string, s *PortalScope, keyID string, step time.Duration, from, to int64) string {
	table := "key_verifications_per_hour_v1"
	if step == time.Minute {
		table = "key_verifications_per_minute_v1"
	}
	spaces := make([]string, len(s.KeySpaceIDs))
	for i, ks := range s.KeySpaceIDs {
		spaces[i] = chQuote(ks)
	}
	secs := int64(step / time.Second)
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT intDiv(toInt64(toUnixTimestamp(time)), %d) * %d AS bucket, outcome, toInt64(sum(count)) AS n FROM %s", secs, secs, table)
	fmt.Fprintf(&b, " WHERE batch_marker = '' AND workspace_id = %s AND key_space_id IN (%s) AND external_id = %s",
		chQuote(workspaceID), strings.Join(spaces, ", "), chQuote(s.ExternalID))
	if keyID != "" {
		fmt.Fprintf(&b, " AND key_id = %s", chQuote(keyID))
	}
	fmt.Fprintf(&b, " AND time >= toDateTime(%d) AND time < toDateTime(%d)", from/1000, (to+999)/1000)
	b.WriteString(" GROUP BY bucket, outcome ORDER BY bucket, outcome")
	return b.String()
}

// chQuote is a ClickHouse string literal of s: backslash and quote escaped.
// The schema refuses NUL in request strings, and external IDs never hold
// one, so no other character needs escaping.
func chQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
