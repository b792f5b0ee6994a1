package httpapi

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/keyline/keyline/handlers"
)

type meta struct {
	RequestID string `json:"requestId"`
}

type pagination struct {
	HasMore bool   `json:"hasMore"`
	Cursor  string `json:"cursor,omitempty"`
}

type envelope struct {
	Meta       meta        `json:"meta"`
	Data       any         `json:"data"`
	Pagination *pagination `json:"pagination,omitempty"`
}

// empty is Unkey's EmptyResponse: mutations without a payload answer "data": {}.
type empty struct{}

// metaOnly is a response without any data member (identities.deleteIdentity).
type metaOnly struct{}

func writeData(w http.ResponseWriter, r *http.Request, data any) error {
	if a, ok := data.(jsonAppender); ok {
		return writeAppended(w, handlers.RequestID(r.Context()), a)
	}
	return writeEnvelope(w, envelope{Meta: meta{RequestID: handlers.RequestID(r.Context())}, Data: data})
}

// writeAppended is writeEnvelope for data that encodes itself, into a
// pooled buffer: the answers of the hot paths (verifyKey, ratelimit.limit).
func writeAppended(w http.ResponseWriter, requestID string, data jsonAppender) error {
	buf := answerBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledAnswer {
			answerBuffers.Put(buf)
		}
	}()
	body := append((*buf)[:0], `{"meta":{"requestId":`...)
	body = appendString(body, requestID)
	body = append(body, `},"data":`...)
	body, err := data.appendJSON(body)
	if err == nil {
		body = append(body, '}')
	}
	*buf = body // the pool keeps what it grew to
	if err != nil {
		return handlers.Internal("encoding response", err)
	}
	// Write copies: net/http into its connection buffer, a recorder into
	// its own; the buffer is free again once Write returns.
	return writeBody(w, body)
}

// answerBuffers holds writeAppended's buffers. One starts at 256 bytes (a
// verifyKey answer without meta or identity is about 170); one that grew
// past maxPooledAnswer for a large answer is left to the collector, so the
// pool does not keep large buffers alive.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

const maxPooledAnswer = 4 << 10

func writePage(w http.ResponseWriter, r *http.Request, data any, hasMore bool, cursor string) error {
	if !hasMore {
		cursor = ""
	}
	return writeEnvelope(w, envelope{Meta: meta{RequestID: handlers.RequestID(r.Context())}, Data: data,
		Pagination: &pagination{HasMore: hasMore, Cursor: cursor}})
}

func writeEnvelope(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return handlers.Internal("encoding response", err)
	}
	return writeBody(w, body)
}

// jsonContentType is shared by every answer: Header.Set would allocate a
// fresh slice per request. net/http only reads it, and an Add elsewhere
// would append to a full slice, which copies.
var jsonContentType = []string{"application/json"}

func writeBody(w http.ResponseWriter, body []byte) error {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
