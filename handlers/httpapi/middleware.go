package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/openapi"
)

// BodyValidator checks a request body against the operation's schema. The
// schemas are compiled once at start-up; validating must be cheap.
type BodyValidator interface {
	ValidateBody(path string, body []byte) *openapi.Failure
}

// withErrors renders any error a route returns. Panics are left to guard,
// which wraps the router too.
func withErrors(logger *slog.Logger) bunrouter.MiddlewareFunc {
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) error {
			if err := next(w, req); err != nil {
				if errors.Is(req.Context().Err(), context.Canceled) {
					err = &handlers.Error{Code: handlers.CodeClientClosedRequest, Detail: "The client closed the request.", Err: err}
				}
				writeError(w, req.Request, logger, err)
			}
			return nil
		}
	}
}

// bodySlot is the request's scope (handlers.RequestScope): its ID, the
// validated request body for the route and, when requests are observed, a
// pointer to the observation (see observedSlot).
type bodySlot struct {
	id   string
	body []byte
	obs  *observation
}

func (s *bodySlot) RequestID() string { return s.id }

// observation is what observing a request needs: its operation's observer
// and the writer that remembers the status.
type observation struct {
	observe func(status int, d time.Duration)
	w       statusWriter
}

// observedSlot puts the slot and its observation in one allocation, so that
// observing adds none, and not observing keeps the slot small.
type observedSlot struct {
	bodySlot
	observation
}

// report hands the answered request to its operation's observer; guard
// defers it, so a panic answered with 500 is reported too.
func (o *observation) report(started time.Time) {
	o.observe(o.w.status, time.Since(started))
}

// withBody reads the whole body under the size limit and validates it against
// the operation's schema before any authentication happens, as Unkey does.
// The body slot comes from guard, which made it with the request ID.
func withBody(limit int64, validator BodyValidator) bunrouter.MiddlewareFunc {
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) error {
			if req.Method != http.MethodPost {
				return next(w, req)
			}
			body, err := readBody(req.Request, limit)
			if errors.Is(err, errBodyTooLarge) {
				return handlers.Fail(handlers.CodeRequestBodyTooLarge,
					fmt.Sprintf("The request body exceeds the maximum allowed size of %d bytes.", limit))
			}
			if err != nil {
				return &handlers.Error{Code: handlers.CodeRequestBodyUnreadable, Detail: "The request body could not be read.", Err: err}
			}
			if f := validator.ValidateBody(req.URL.Path, body); f != nil {
				fields := make([]handlers.FieldError, len(f.Errors))
				for i, e := range f.Errors {
					fields[i] = handlers.FieldError{Location: e.Location, Message: e.Message, Fix: e.Fix}
				}
				return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: f.Detail, Fields: fields}
			}
			if slot, ok := handlers.Scope(req.Context()).(*bodySlot); ok {
				slot.body = body
				return next(w, req)
			}
			// Served without guard (a test's router): the scope starts here.
			slot := &bodySlot{id: handlers.RequestID(req.Context()), body: body}
			return next(w, req.WithContext(handlers.WithRequestScope(req.Context(), slot)))
		}
	}
}

// errBodyTooLarge is readBody's answer to a body over the limit.
var errBodyTooLarge = errors.New("request body over the size limit")

// bodyBufferStart is the most readBody allocates before bytes arrive. A
// client may announce up to the limit (10 MiB) and then send nothing; the
// buffer grows with what it actually sends, and the server's read timeout
// ends the connection of one that sends too slowly.
const bodyBufferStart = 64 << 10

// readBody reads the body under limit (0: no limit). An announced length
// over the limit fails at once, without reading. A small body of announced
// length, the hot paths' case, is read into a buffer of exactly that size:
// one allocation.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	n := r.ContentLength
	if limit > 0 && n > limit {
		return nil, errBodyTooLarge
	}
	if n >= 0 && n <= bodyBufferStart {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	// Past bodyBufferStart the buffer doubles as bytes arrive, up to the
	// announced length or the limit: the copies add up to less than the body.
	ceiling := int64(math.MaxInt)
	switch {
	case n >= 0:
		ceiling = n
	case limit > 0:
		ceiling = limit + 1 // one byte over tells an oversized chunked body
	}
	start := int64(bodyBufferStart)
	if n < 0 {
		start = 512 // chunked: nothing tells the size, start as io.ReadAll does
	}
	body := make([]byte, 0, min(start, ceiling))
	for {
		if len(body) == cap(body) {
			if int64(len(body)) == ceiling {
				if n >= 0 {
					return body, nil // net/http's body ends at the announced length
				}
				return nil, errBodyTooLarge
			}
			grown := make([]byte, len(body), min(2*int64(cap(body)), ceiling))
			copy(grown, body)
			body = grown
		}
		m, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+m]
		if errors.Is(err, io.EOF) {
			if n >= 0 && int64(len(body)) < n {
				return nil, io.ErrUnexpectedEOF
			}
			if limit > 0 && int64(len(body)) > limit {
				return nil, errBodyTooLarge
			}
			return body, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// body returns the validated request body.
func body(req bunrouter.Request) []byte {
	if slot, ok := handlers.Scope(req.Context()).(*bodySlot); ok {
		return slot.body
	}
	return nil
}
