package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pace releases total tickets at rate per second from start, then closes
// the channel.
//
// It waits on a timerfd read through the runtime's poller rather than with
// time.Sleep or nanosleep. The runtime rounds an idle wait for a timer up
// to a whole millisecond, and a goroutine sleeping in a syscall keeps its P
// while the workers it just woke queue behind it until sysmon notices;
// either way requests would leave in late bursts and the harness, not the
// server, would set the p99. A timerfd wakes the poller on the nanosecond
// and leaves the P to the workers meanwhile.
func pace(tickets chan<- ticket, start time.Time, rate float64, total int) {
	defer close(tickets)
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		paceWithSleep(tickets, start, rate, total)
		return
	}
	timer := os.NewFile(uintptr(fd), "pacer")
	defer timer.Close()
	var expirations [8]byte
	interval := float64(time.Second) / rate
	for n := 0; n < total; {
		now := time.Now()
		for ; n < total; n++ {
			at := start.Add(time.Duration(float64(n) * interval))
			if wait := at.Sub(now); wait > 0 {
				spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(wait))}
				if unix.TimerfdSettime(fd, 0, &spec, nil) != nil {
					time.Sleep(wait)
				} else if _, err := timer.Read(expirations[:]); err != nil {
					time.Sleep(wait)
				}
				break
			}
			tickets <- ticket{n: n, at: at}
		}
	}
}
