// Package metrics serves Prometheus metrics on a listener of their own
// (config "metrics"). Almost every family is read at scrape time from
// counters the components already keep (custom collectors), so the request
// paths pay nothing for them; only the per-operation HTTP counters and
// histograms are updated per request, through children resolved once per
// route (see httpapi.RequestObserver).
//
// No label holds a key, a root key, an identifier or a workspace ID: the
// labels are operation names, status codes, outcomes and member states.
package metrics
