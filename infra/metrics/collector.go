package metrics

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/cluster"
	"github.com/keyline/keyline/infra/ratelimit"
)

// collector reads the components' own counters when Prometheus scrapes.
// Every family is always present (zero when its component is not
// configured), so dashboards and alerts need no "absent" special case.
type collector struct {
	src    Sources
	logger *slog.Logger
}

var (
	descVerifications = prometheus.NewDesc("keyline_key_verifications_total",
		"keys.verifyKey answers by outcome (the response's code).", []string{"outcome"}, nil)
	descRatelimit = prometheus.NewDesc("keyline_ratelimit_decisions_total",
		"Checks decided by ratelimit.limit and ratelimit.multiLimit, by outcome (passed, denied).", []string{"outcome"}, nil)
	descDropped = prometheus.NewDesc("keyline_analytics_records_dropped_total",
		"Analytics records dropped by this node (buffer full, or no analytics stream).", nil, nil)
	descPublished = prometheus.NewDesc("keyline_analytics_records_published_total",
		"Analytics records this node wrote to the Redis stream.", nil, nil)
	descEmitted = prometheus.NewDesc("keyline_analytics_records_emitted_total",
		"Analytics records this node produced (verifications and rate-limit decisions); emitted - published - dropped are buffered.", nil, nil)
	descLag = prometheus.NewDesc("keyline_projection_lag_events",
		"Events in the log this node's tailer has not applied to its caches yet (log head minus its position).", nil, nil)
	descMembers = prometheus.NewDesc("keyline_cluster_members",
		"Cluster members by state as this node sees them (alive, failed, left); a node without a cluster counts itself alive.", []string{"state"}, nil)
	descFallback = prometheus.NewDesc("keyline_ratelimit_fallback",
		"1 while rate limits are decided on this node's memory because Redis failed and has not answered since, else 0.", nil, nil)
	descFallbacks = prometheus.NewDesc("keyline_ratelimit_fallbacks_total",
		"Rate-limit batches decided on this node's memory because Redis failed.", nil, nil)
	descFailOpens = prometheus.NewDesc("keyline_ratelimit_cluster_fail_opens_total",
		"Forwarded rate-limit batches decided locally because the counter's owner did not answer (cluster failMode open).", nil, nil)
	descFailCloses = prometheus.NewDesc("keyline_ratelimit_cluster_fail_closes_total",
		"Forwarded rate-limit batches denied because the counter's owner did not answer (cluster failMode closed).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVerifications, descRatelimit, descDropped, descPublished, descEmitted, descLag,
		descMembers, descFallback, descFallbacks, descFailOpens, descFailCloses} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var verified [len(handlers.VerifyOutcomes)]uint64
	var passed, denied uint64
	if n := c.src.Counters; n != nil {
		verified = n.Verifications()
		passed, denied = n.RatelimitDecisions()
	}
	for i, outcome := range handlers.VerifyOutcomes {
		counter(descVerifications, float64(verified[i]), outcome)
	}
	counter(descRatelimit, float64(passed), "passed")
	counter(descRatelimit, float64(denied), "denied")

	var dropped, published, emitted int64
	if p := c.src.Pipeline; p != nil && p.Sink != nil {
		// Emitted last: read after the others, it is never below their sum
		// while the sink runs.
		dropped, published = p.Sink.Dropped(), p.Sink.Published()
		emitted = p.Sink.Emitted()
	}
	counter(descDropped, float64(dropped))
	counter(descPublished, float64(published))
	counter(descEmitted, float64(emitted))

	if t := c.src.Tailer; t != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		lag, err := t.Lag(ctx)
		cancel()
		if err != nil {
			// No sample rather than a made-up one: the scrape still
			// succeeds and an alert on absent() can fire.
			c.logger.Warn("metrics: reading the log head for the projection lag failed", "error", err)
		} else {
			gauge(descLag, float64(lag))
		}
	}

	states := map[string]int{cluster.StateAlive: 0, cluster.StateFailed: 0, cluster.StateLeft: 0}
	if cl := c.src.Cluster; cl != nil {
		for _, m := range cl.Members() {
			states[m.State]++
		}
	} else {
		states[cluster.StateAlive] = 1
	}
	for state, n := range states {
		gauge(descMembers, float64(n), state)
	}

	var fallback, fallbacks, opens, closes float64
	switch l := c.src.Limiter.(type) {
	case *ratelimit.Redis:
		if l.FallingBack() {
			fallback = 1
		}
		fallbacks = float64(l.Fallbacks())
	case *cluster.Limiter:
		opens, closes = float64(l.FailOpens()), float64(l.FailCloses())
	}
	gauge(descFallback, fallback)
	counter(descFallbacks, fallbacks)
	counter(descFailOpens, opens)
	counter(descFailCloses, closes)
}
