package configs

import (
	"slices"
	"testing"
)

// Every setting that cannot take effect next to the rest of the file is
// refused, naming the field and why; the same setting where it works, or
// at its default value, is accepted.
func TestSilentNoOpsAreRefused(t *testing.T) {
	const static = `"discovery":{"static":{"addrs":["a:1"]}}`
	for _, tc := range []struct {
		name, doc string
		want      []string // nil: accepted
	}{
		{"sqlite replica", `{"database":{"primary":"sqlite:k.db","readonlyReplica":"sqlite:r.db"}}`,
			[]string{"/database/readonlyReplica: needs a PostgreSQL primary: SQLite has no replication, so reads would go to a file nothing writes"}},
		{"postgres replica", `{"database":{"primary":"postgres://h/db","readonlyReplica":"postgres://r/db"}}`, nil},
		{"forwarding settings with redis", `{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis://h:6379"},
			"cluster":{"forwardTimeoutMs":500,"failMode":"closed",` + static + `}}`,
			[]string{
				"/cluster/failMode: has no effect with redis.url: rate-limit decisions are made in Redis, never forwarded (a Redis outage fails open); remove it or redis.url",
				"/cluster/forwardTimeoutMs: has no effect with redis.url: rate-limit decisions are made in Redis, never forwarded; remove it or redis.url",
			}},
		{"forwarding settings without redis", `{"database":{"primary":"sqlite:k.db"},"cluster":{"forwardTimeoutMs":500,"failMode":"closed",` + static + `}}`, nil},
		{"forwarding defaults with redis", `{"database":{"primary":"sqlite:k.db"},"redis":{"url":"redis://h:6379"},
			"cluster":{"forwardTimeoutMs":2000,"failMode":"open",` + static + `}}`, nil},
		{"insert settings without clickhouse", `{"database":{"primary":"sqlite:k.db"},"analytics":{"insertBatchSize":1000,"insertFlushIntervalMs":200}}`,
			[]string{
				"/analytics/insertBatchSize: has no effect without clickhouse.url: it sizes the ClickHouse projector's inserts",
				"/analytics/insertFlushIntervalMs: has no effect without clickhouse.url: it paces the ClickHouse projector's inserts",
			}},
		{"insert settings with clickhouse, no redis", `{"database":{"primary":"sqlite:k.db"},"clickhouse":{"url":"clickhouse://h:9000"},
			"analytics":{"insertBatchSize":1000,"insertFlushIntervalMs":200}}`, nil},
		{"color with json logs", `{"database":{"primary":"sqlite:k.db"},"logs":{"format":"json","color":true}}`,
			[]string{`/logs/color: has no effect with logs.format "json" (colors apply to text logs only)`}},
		{"color with text logs", `{"database":{"primary":"sqlite:k.db"},"logs":{"format":"text","color":true}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), noEnv)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if got := problemsOf(t, err); !slices.Equal(got, tc.want) {
				t.Fatalf("problems = %q\nwant %q", got, tc.want)
			}
		})
	}
}
