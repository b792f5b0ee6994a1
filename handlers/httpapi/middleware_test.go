package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	req := func(body string, contentLength int64) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader(body)))
		r.ContentLength = contentLength
		return r
	}
	tests := []struct {
		name          string
		body          string
		contentLength int64 // -1: unknown (chunked)
		limit         int64
		want          string
		wantErr       error
	}{
		{"announced, within the limit", `{"key":"a"}`, 11, 100, `{"key":"a"}`, nil},
		{"announced, no limit", `{"key":"a"}`, 11, 0, `{"key":"a"}`, nil},
		{"announced, empty", ``, 0, 100, ``, nil},
		{"announced, over the limit: limit+1 bytes tell the caller", `0123456789`, 10, 4, `01234`, nil},
		{"chunked, within the limit", `{"key":"a"}`, -1, 100, `{"key":"a"}`, nil},
		{"chunked, over the limit", `0123456789`, -1, 4, `01234`, nil},
		{"announced but cut short", `{"ke`, 11, 100, ``, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		got, err := readBody(req(tc.body, tc.contentLength), tc.limit)
		if !errors.Is(err, tc.wantErr) || (err == nil && string(got) != tc.want) {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
