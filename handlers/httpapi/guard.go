package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/keyline/keyline/handlers"
)

// guard is the outermost handler, in front of the router. It exists because
// some failures happen before any route middleware runs:
//
//   - bunrouter indexes a finished route's (empty) child table with the next
//     byte of the path when that byte is NUL, and panics: "POST
//     /v2/liveness%00" crashed the request before keyline saw it. Net/http
//     already refuses raw control bytes in the request line, so they can
//     only arrive percent-encoded; guard answers any decoded control byte
//     with the plain 404 of an unknown path, since no route has one.
//   - a panic anywhere below, in the router or a use case, is answered with
//     the 500 envelope and logged once, with its request ID and stack.
//
// It also gives every request its ID and the slot withBody fills, so that
// even a panic in the router is answered with meta.requestId, at the cost of
// the one request copy the route middleware made before.
type guard struct {
	next   http.Handler
	logger *slog.Logger
	// unknown observes requests no route took; nil when requests are not
	// observed (see RequestObserver).
	unknown func(status int, d time.Duration)
}

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hasControlByte(r.URL.Path) {
		http.NotFound(w, r)
		if g.unknown != nil {
			g.unknown(http.StatusNotFound, 0)
		}
		return
	}
	var slot *bodySlot
	if g.unknown == nil {
		slot = &bodySlot{}
	} else {
		// The route's middleware replaces observe with its operation's.
		o := &observedSlot{observation: observation{observe: g.unknown,
			w: statusWriter{ResponseWriter: w, status: http.StatusOK}}}
		o.obs, slot = &o.observation, &o.bodySlot
		w = &o.w
		defer o.observation.report(time.Now())
	}
	slot.id = handlers.NewRequestID()
	r = r.WithContext(handlers.WithRequestScope(r.Context(), slot))
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p) // a deliberate abort: net/http closes the connection quietly
		}
		err := fmt.Errorf("panic: %v", p)
		g.logger.ErrorContext(r.Context(), "panic while serving request", "requestId", handlers.RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		renderError(w, r, handlers.Internal("panic", err))
	}()
	g.next.ServeHTTP(w, r)
}

// hasControlByte reports whether path holds an ASCII control byte (NUL
// included) or DEL.
func hasControlByte(path string) bool {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
