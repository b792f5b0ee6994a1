package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP counts and times the API's requests per operation. It implements
// httpapi.RequestObserver; a nil *HTTP (metrics off) observes nothing.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// durationBuckets reach down to 100 µs: a cached verification answers in
// well under a millisecond, which the default buckets (5 ms and up) would
// lump together.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newHTTP(reg prometheus.Registerer) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyline_http_requests_total",
			Help: "HTTP requests answered by the API port, by operation and status code.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyline_http_request_duration_seconds",
			Help:    "Time from the request reaching keyline to its answer being written, by operation.",
			Buckets: durationBuckets,
		}, []string{"operation"}),
	}
	reg.MustRegister(h.requests, h.duration)
	return h
}

// statuses are the codes the API answers; each operation keeps a slot per
// code so that a request finds its counter without a map lookup. Other
// codes (none expected) go through the vector.
var statuses = [...]int{200, 400, 401, 403, 404, 405, 409, 410, 412, 413, 429, 499, 500, 503}

func statusSlot(code int) int {
	switch code {
	case 200:
		return 0
	case 400:
		return 1
	case 401:
		return 2
	case 403:
		return 3
	case 404:
		return 4
	case 405:
		return 5
	case 409:
		return 6
	case 410:
		return 7
	case 412:
		return 8
	case 413:
		return 9
	case 429:
		return 10
	case 499:
		return 11
	case 500:
		return 12
	case 503:
		return 13
	}
	return -1
}

// operation is one route's pre-resolved metrics. Counter children are
// created on first use, so /metrics lists only the pairs that happened.
type operation struct {
	name     string
	vec      *prometheus.CounterVec
	duration prometheus.Observer
	byStatus [len(statuses)]atomic.Pointer[prometheus.Counter]
}

// Operation implements httpapi.RequestObserver.
func (h *HTTP) Operation(name string) func(status int, d time.Duration) {
	if h == nil {
		return nil
	}
	op := &operation{name: name, vec: h.requests, duration: h.duration.WithLabelValues(name)}
	return op.observe
}

func (o *operation) observe(status int, d time.Duration) {
	o.duration.Observe(d.Seconds())
	i := statusSlot(status)
	if i < 0 {
		o.vec.WithLabelValues(o.name, strconv.Itoa(status)).Inc()
		return
	}
	if c := o.byStatus[i].Load(); c != nil {
		(*c).Inc()
		return
	}
	c := o.vec.WithLabelValues(o.name, strconv.Itoa(status))
	o.byStatus[i].Store(&c) // a racing first use stores the same child
	c.Inc()
}

// RequestObserver is the API's observer: nil (observe nothing) when
// metrics are off.
func RequestObserver(s *Server) *HTTP {
	if s == nil {
		return nil
	}
	return s.HTTP
}
