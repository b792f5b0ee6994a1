package credits

import (
	"testing"
	"time"
)

func TestRefillDue(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		interval string
		day      int
		date     string
		want     bool
	}{
		{"daily", 0, "2026-11-26", true},
		{"monthly", 26, "2026-11-26", true},
		{"monthly", 25, "2026-11-26", false},
		{"monthly", 31, "2026-11-30", true}, // last day of a 30-day month catches up day 31
		{"monthly", 31, "2026-11-29", false},
		{"monthly", 30, "2026-02-28", true},  // and February catches up 29..31
		{"monthly", 29, "2028-02-29", true},  // leap year: the day itself
		{"monthly", 30, "2028-02-28", false}, // not the last day in a leap year
		{"monthly", 1, "2026-12-31", false},
	}
	for _, tc := range cases {
		if got := due(tc.interval, tc.day, d(tc.date)); got != tc.want {
			t.Errorf("%s day %d on %s: due = %v, want %v", tc.interval, tc.day, tc.date, got, tc.want)
		}
	}
}
