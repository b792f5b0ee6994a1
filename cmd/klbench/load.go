package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// target is one HTTP endpoint under load.
type target struct {
	name string
	url  string
	body func(i int) []byte
	auth string
	// want, when set, must occur in every answer: verifyKey answers 200 for
	// a missing key too, so the status alone would not show that the phase
	// measured valid verifications.
	want []byte
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

// load runs tg for d over conns connections. With rate 0 each connection
// sends back to back; otherwise requests are scheduled at rate per second in
// total and latency counts from the scheduled time.
func load(client *http.Client, tg target, conns int, d time.Duration, rate float64) (result, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			var interval time.Duration
			next := start
			if rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(conns) / rate)
				next = start.Add(time.Duration(w) * interval / time.Duration(conns))
			}
			for i := w; ; i += conns {
				if rate > 0 {
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
				}
				sent := time.Now()
				if rate > 0 {
					sent = next
					next = next.Add(interval)
				}
				if sent.After(deadline) {
					break
				}
				if err := post(client, tg, tg.body(i)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				local = append(local, time.Since(sent))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no request completed")
	}
	slices.Sort(latencies)
	elapsed := time.Since(start)
	return result{
		rps: float64(len(latencies)) / elapsed.Seconds(),
		p50: latencies[len(latencies)/2],
		p99: latencies[len(latencies)*99/100],
	}, nil
}

func post(client *http.Client, tg target, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, tg.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tg.auth != "" {
		req.Header.Set("Authorization", tg.auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if tg.want != nil && !bytes.Contains(b, tg.want) {
		return fmt.Errorf("answer lacks %s: %s", tg.want, b)
	}
	return nil
}
