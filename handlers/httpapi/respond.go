package httpapi

import (
	"encoding/json"
	"net/http"

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

// writeAppended is writeEnvelope for data that encodes itself.
func writeAppended(w http.ResponseWriter, requestID string, data jsonAppender) error {
	body := make([]byte, 0, 256) // a verifyKey answer without meta or identity is about 170 bytes
	body = append(body, `{"meta":{"requestId":`...)
	body = appendString(body, requestID)
	body = append(body, `},"data":`...)
	body, err := data.appendJSON(body)
	if err != nil {
		return handlers.Internal("encoding response", err)
	}
	return writeBody(w, append(body, '}'))
}

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

func writeBody(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
