package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestHTTPObserverCountsPerOperationAndStatus(t *testing.T) {
	if (*HTTP)(nil).Operation("keys.verifyKey") != nil {
		t.Fatal("a nil HTTP must observe nothing")
	}
	reg := prometheus.NewRegistry()
	h := newHTTP(reg)
	verify, unknown := h.Operation("keys.verifyKey"), h.Operation("unknown")
	for range 3 {
		verify(200, time.Millisecond)
	}
	verify(400, 2*time.Millisecond)
	verify(418, time.Millisecond) // no slot: through the vector
	unknown(404, 0)
	for labels, want := range map[[2]string]float64{
		{"keys.verifyKey", "200"}: 3,
		{"keys.verifyKey", "400"}: 1,
		{"keys.verifyKey", "418"}: 1,
		{"unknown", "404"}:        1,
	} {
		var m dto.Metric
		if err := h.requests.WithLabelValues(labels[0], labels[1]).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != want {
			t.Errorf("requests%v = %v, want %v", labels, got, want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	if series["keyline_http_requests_total"] != 4 || series["keyline_http_request_duration_seconds"] != 2 {
		t.Errorf("series per family %v: want only the 4 request and 2 duration series that happened", series)
	}
	for code := range 600 {
		if i := statusSlot(code); i >= 0 && statuses[i] != code {
			t.Errorf("statusSlot(%d) = %d, which is %d", code, i, statuses[i])
		}
	}
	for i, code := range statuses {
		if statusSlot(code) != i {
			t.Errorf("statusSlot(%d) = %d, want %d", code, statusSlot(code), i)
		}
	}
}
