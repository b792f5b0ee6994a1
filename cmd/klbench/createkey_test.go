package main

import "testing"

// pgbench's report, as PostgreSQL 15's pgbench prints it.
func TestParsePgbenchTPS(t *testing.T) {
	report := `transaction type: /tmp/insert.sql
scaling factor: 1
query mode: simple
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 26876
number of failed transactions: 0 (0.000%)
latency average = 2.976 ms
initial connection time = 21.502 ms
tps = 5375.123456 (without initial connection time)
`
	tps, err := parsePgbenchTPS(report)
	if err != nil || tps != 5375.123456 {
		t.Fatalf("tps = %v, %v; want 5375.123456", tps, err)
	}
	if _, err := parsePgbenchTPS("pgbench: error: connection refused\n"); err == nil {
		t.Fatal("a report without a tps line parsed")
	}
	old := "tps = 100.5 (including connections establishing)\ntps = 101.25 (excluding connections establishing)\n"
	if tps, err := parsePgbenchTPS(old); err != nil || tps != 101.25 {
		t.Fatalf("older report: tps = %v, %v; want 101.25", tps, err)
	}
}
