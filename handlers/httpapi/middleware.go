package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/uptrace/bunrouter"

	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/handlers/httpapi/openapi"
)

// BodyValidator checks a request body against the operation's schema. The
// schemas are compiled once at start-up; validating must be cheap.
type BodyValidator interface {
	ValidateBody(path string, body []byte) *openapi.Failure
}

// withErrors renders any error a route returns, and turns a panic into a
// 500 envelope instead of a dropped connection.
func withErrors(logger *slog.Logger) bunrouter.MiddlewareFunc {
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) (err error) {
			defer func() {
				if p := recover(); p != nil {
					logger.Error("panic while serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					writeError(w, req.Request, logger, handlers.Internal("panic", fmt.Errorf("%v", p)))
					err = nil
				}
			}()
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

// withRequestID gives every request its ID before anything can fail, so that
// every response, error or not, carries meta.requestId. It also makes the
// slot withBody fills: a second req.WithContext would copy the request again.
func withRequestID(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
	return func(w http.ResponseWriter, req bunrouter.Request) error {
		ctx := handlers.WithRequestID(req.Context(), handlers.NewRequestID())
		ctx = context.WithValue(ctx, bodyKey{}, &bodySlot{})
		return next(w, req.WithContext(ctx))
	}
}

type bodyKey struct{}

// bodySlot holds the validated request body for the route.
type bodySlot struct{ body []byte }

// withBody reads the whole body under the size limit and validates it against
// the operation's schema before any authentication happens, as Unkey does.
func withBody(limit int64, validator BodyValidator) bunrouter.MiddlewareFunc {
	return func(next bunrouter.HandlerFunc) bunrouter.HandlerFunc {
		return func(w http.ResponseWriter, req bunrouter.Request) error {
			if req.Method != http.MethodPost {
				return next(w, req)
			}
			body, err := readBody(req.Request, limit)
			if err != nil {
				return &handlers.Error{Code: handlers.CodeRequestBodyUnreadable, Detail: "The request body could not be read.", Err: err}
			}
			if limit > 0 && int64(len(body)) > limit {
				return handlers.Fail(handlers.CodeRequestBodyTooLarge,
					fmt.Sprintf("The request body exceeds the maximum allowed size of %d bytes.", limit))
			}
			if f := validator.ValidateBody(req.URL.Path, body); f != nil {
				fields := make([]handlers.FieldError, len(f.Errors))
				for i, e := range f.Errors {
					fields[i] = handlers.FieldError{Location: e.Location, Message: e.Message, Fix: e.Fix}
				}
				return &handlers.Error{Code: handlers.CodeInvalidInput, Detail: f.Detail, Fields: fields}
			}
			if slot, ok := req.Context().Value(bodyKey{}).(*bodySlot); ok {
				slot.body = body
				return next(w, req)
			}
			return next(w, req.WithContext(context.WithValue(req.Context(), bodyKey{}, &bodySlot{body: body})))
		}
	}
}

// readBody reads at most limit+1 bytes (limit 0: no limit), so that the
// caller can tell an oversized body. A body of announced length is read
// into a buffer of exactly that size: io.ReadAll would start at 512 bytes
// whatever the size.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && (limit <= 0 || n <= limit) {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	var reader io.Reader = r.Body
	if limit > 0 {
		reader = io.LimitReader(r.Body, limit+1)
	}
	return io.ReadAll(reader)
}

// body returns the validated request body.
func body(req bunrouter.Request) []byte {
	if slot, ok := req.Context().Value(bodyKey{}).(*bodySlot); ok {
		return slot.body
	}
	return nil
}
