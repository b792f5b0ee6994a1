//go:build !linux

package main

import "time"

// pace releases total tickets at rate per second from start, then closes
// the channel. Off Linux it sleeps with time.Sleep, which the runtime may
// round up to a millisecond: late releases count against the server's p99
// there, so read p99s from Linux runs.
func pace(tickets chan<- ticket, start time.Time, rate float64, total int) {
	defer close(tickets)
	paceWithSleep(tickets, start, rate, total)
}
