package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyline/keyline/handlers"
	"github.com/uptrace/bunrouter"
)

// RequestObserver counts and times requests (the Prometheus metrics
// implement it). Operation is called once per route when the router is
// built, so that whatever it needs per operation (metric children) is
// resolved then and not per request; the function it returns is called
// once per request with the status answered and the time taken. It returns
// nil when nothing is observed, and the router then adds no work at all.
type RequestObserver interface {
	Operation(name string) func(status int, d time.Duration)
}

// unknownOperation is the one operation name of every request no route
// took: the path never becomes a label value.
const unknownOperation = "unknown"

// observers hands each route its observing function.
type observers struct {
	o       RequestObserver
	unknown func(int, time.Duration)
}

func newObservers(o RequestObserver) observers {
	if o == nil {
		return observers{}
	}
	unknown := o.Operation(unknownOperation)
	if unknown == nil {
		return observers{}
	}
	return observers{o: o, unknown: unknown}
}

// middleware records op as the request's operation in the slot guard made;
// guard reports the request when it is answered.
func (o observers) middleware(op string) bunrouter.MiddlewareFunc {
	if o.o == nil {
		return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc { return next }
	}
	fn := o.o.Operation(op)
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) error {
			if slot, ok := handlers.Scope(req.Context()).(*bodySlot); ok && slot.obs != nil {
				slot.obs.observe = fn
			}
			return next(w, req)
		}
	}
}

func (o observers) wrap(op string, h bunrouter.HandlerFunc) bunrouter.HandlerFunc {
	return o.middleware(op)(h)
}

// statusWriter remembers the status answered. It lives inside the request's
// observedSlot, which guard allocates anyway, so observing costs no
// allocation.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Readiness tells whether this node can serve: GET /readyz answers 503
// with the error's text while Ready fails. The text is shown to callers,
// so implementations keep internals (addresses, credentials) out of it.
type Readiness interface {
	Ready(ctx context.Context) error
}

// readyStatus is GET /readyz's body.
type readyStatus struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func readyz(r Readiness) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		status, body := http.StatusOK, readyStatus{Status: "ready"}
		if r != nil {
			if err := r.Ready(req.Context()); err != nil {
				status, body = http.StatusServiceUnavailable, readyStatus{Status: "not ready", Reason: err.Error()}
			}
		}
		b, _ := json.Marshal(body)
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
		return nil
	}
}
