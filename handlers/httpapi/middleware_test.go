package httpapi

import (
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	req := func(body string, contentLength int64) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader(body)))
		r.ContentLength = contentLength
		return r
	}
	big := strings.Repeat("x", 3*bodyBufferStart+17) // read in several growing steps
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
		{"announced over the limit: refused unread", `0123456789`, 10, 4, ``, errBodyTooLarge},
		{"announced large, within the limit", big, int64(len(big)), 1 << 20, big, nil},
		{"announced large, no limit", big, int64(len(big)), 0, big, nil},
		{"chunked, within the limit", `{"key":"a"}`, -1, 100, `{"key":"a"}`, nil},
		{"chunked, large", big, -1, 1 << 20, big, nil},
		{"chunked, exactly the limit", `0123`, -1, 4, `0123`, nil},
		{"chunked, over the limit", `0123456789`, -1, 4, ``, errBodyTooLarge},
		{"chunked large, over the limit", big, -1, int64(len(big)) - 1, ``, errBodyTooLarge},
		{"announced but cut short", `{"ke`, 11, 100, ``, io.ErrUnexpectedEOF},
		{"announced large but cut short", big, int64(len(big)) + 1, 1 << 20, ``, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		got, err := readBody(req(tc.body, tc.contentLength), tc.limit)
		if !errors.Is(err, tc.wantErr) || (err == nil && string(got) != tc.want) || (err != nil && got != nil) {
			t.Errorf("%s: got %d bytes, %v; want %d bytes, %v", tc.name, len(got), err, len(tc.want), tc.wantErr)
		}
	}
}

// trickle hands out one byte per Read and counts the Reads.
type trickle struct{ reads, left int }

func (r *trickle) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	r.reads++
	r.left--
	p[0] = 'x'
	return 1, nil
}

// A client announcing the limit (10 MiB) but sending little must cost what
// it sent, not what it announced: the buffer starts at bodyBufferStart and
// grows with the bytes received.
func TestReadBodyBufferFollowsReceivedBytes(t *testing.T) {
	const announced = 10 << 20
	allocatedBy := func(sent int, contentLength int64) (uint64, []byte, error) {
		r, _ := http.NewRequest(http.MethodPost, "/", io.NopCloser(&trickle{left: sent}))
		r.ContentLength = contentLength
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := readBody(r, announced)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, got, err
	}

	bytes, _, err := allocatedBy(100, announced)
	if !errors.Is(err, io.ErrUnexpectedEOF) || bytes > 2*bodyBufferStart {
		t.Fatalf("100 bytes of an announced %d: %v, %d bytes allocated; want ErrUnexpectedEOF and at most %d",
			announced, err, bytes, 2*bodyBufferStart)
	}

	// A body that really is large grows to its size by doubling: the
	// buffers add up to less than twice the body.
	bytes, got, err := allocatedBy(1<<20, 1<<20)
	if err != nil || len(got) != 1<<20 || cap(got) != 1<<20 || bytes > 2<<20 {
		t.Fatalf("1 MiB body: %d bytes, capacity %d, %d allocated, %v", len(got), cap(got), bytes, err)
	}
}
