package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"
)

// target is one HTTP endpoint under load. It travels to the load process as
// JSON, so bodies are data rather than functions.
type target struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Body is sent as is, or, with Distinct > 0, with every "{i}" replaced
	// by the request's number modulo Distinct.
	Body     string `json:"body"`
	Distinct int    `json:"distinct,omitempty"`
	Auth     string `json:"auth,omitempty"`
	// Want, when set, must occur in every answer: verifyKey answers 200 for
	// a missing key too, so the status alone would not show that the phase
	// measured valid verifications.
	Want string `json:"want,omitempty"`
}

// loadSpec is one phase, as the parent hands it to a load process.
type loadSpec struct {
	Target   target        `json:"target"`
	Conns    int           `json:"conns"`
	Duration time.Duration `json:"duration"`
	// Rate 0 is a closed loop: each connection sends back to back.
	// Otherwise requests are scheduled at Rate per second in total.
	Rate float64 `json:"rate"`
}

// result is what a phase measured. In an open loop p50 and p99 count from
// each request's scheduled send time, so a stall of the server delays the
// requests queued behind it and is not hidden (coordinated omission);
// sendP99 counts from the moment the request actually left, and lateP99 is
// how late the pacer released requests: the harness's own share.
type result struct {
	Requests int           `json:"requests"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	SendP99  time.Duration `json:"sendP99"`
	LateP99  time.Duration `json:"lateP99"`
	Err      string        `json:"error,omitempty"`
}

// loadProcessFlag makes klbench a load process: spec on stdin, result on
// stdout.
const loadProcessFlag = "-load-process"

// load runs one phase in a separate load process, so that the load
// generator's goroutines, garbage and timers are not the server's: on two
// cores a same-process generator adds its own scheduling delays to every
// latency it reports.
func load(spec loadSpec) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	in, err := json.Marshal(spec)
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(exe, loadProcessFlag)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("load process: %w", err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("load process answered %q: %w", out, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("%s", r.Err)
	}
	return r, nil
}

// runLoadProcess is the load process's main.
func runLoadProcess() {
	var spec loadSpec
	r := result{}
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		r.Err = "reading the phase: " + err.Error()
	} else if r, err = generate(spec); err != nil {
		r.Err = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

// sample is one answered request.
type sample struct {
	fromSchedule, fromSend, late time.Duration
}

func generate(spec loadSpec) (result, error) {
	if spec.Conns < 1 || spec.Duration <= 0 {
		return result{}, fmt.Errorf("a phase needs connections and a duration")
	}
	bodies := newBodies(spec.Target)
	var (
		mu       sync.Mutex
		samples  []sample
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// work runs one connection: it sends request n at (or after) at for
	// every (n, at) next hands out, until next says stop.
	work := func(next func() (n int, at time.Time, ok bool)) {
		c, err := dial(spec.Target)
		if err != nil {
			fail(err)
			return
		}
		defer c.close()
		var local []sample
		for n, at, ok := next(); ok; n, at, ok = next() {
			sent := time.Now()
			if err := c.do(bodies.get(n)); err != nil {
				fail(err)
				return
			}
			done := time.Now()
			local = append(local, sample{fromSchedule: done.Sub(at), fromSend: done.Sub(sent), late: sent.Sub(at)})
		}
		mu.Lock()
		samples = append(samples, local...)
		mu.Unlock()
	}
	start := time.Now()
	deadline := start.Add(spec.Duration)
	if spec.Rate <= 0 {
		// Closed loop: each connection sends its next request as soon as
		// the previous one is answered.
		for w := range spec.Conns {
			i := w - spec.Conns
			wg.Go(func() {
				work(func() (int, time.Time, bool) {
					i += spec.Conns
					now := time.Now()
					return i, now, now.Before(deadline)
				})
			})
		}
	} else {
		total := int(spec.Rate * spec.Duration.Seconds())
		tickets := make(chan ticket, total+1)
		for range spec.Conns {
			wg.Go(func() {
				work(func() (int, time.Time, bool) {
					t, ok := <-tickets
					return t.n, t.at, ok
				})
			})
		}
		// The buffer holds every ticket, so the pacer never waits for a
		// connection that failed and stopped taking them.
		pace(tickets, start, spec.Rate, total)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	if len(samples) == 0 {
		return result{}, fmt.Errorf("no request completed")
	}
	pick := func(f func(sample) time.Duration, q int) time.Duration {
		ds := make([]time.Duration, len(samples))
		for i, s := range samples {
			ds[i] = f(s)
		}
		slices.Sort(ds)
		return ds[len(ds)*q/100]
	}
	return result{
		Requests: len(samples),
		RPS:      float64(len(samples)) / elapsed.Seconds(),
		P50:      pick(func(s sample) time.Duration { return s.fromSchedule }, 50),
		P99:      pick(func(s sample) time.Duration { return s.fromSchedule }, 99),
		SendP99:  pick(func(s sample) time.Duration { return s.fromSend }, 99),
		LateP99:  pick(func(s sample) time.Duration { return s.late }, 99),
	}, nil
}

// ticket is one scheduled request.
type ticket struct {
	n  int
	at time.Time
}

// bodies hands out request bodies without building one per request.
type bodies struct {
	fixed []byte
	byI   [][]byte
}

func newBodies(tg target) bodies {
	if tg.Distinct <= 0 {
		return bodies{fixed: []byte(tg.Body)}
	}
	b := bodies{byI: make([][]byte, tg.Distinct)}
	for i := range b.byI {
		b.byI[i] = bytes.ReplaceAll([]byte(tg.Body), []byte("{i}"), []byte(strconv.Itoa(i)))
	}
	return b
}

func (b bodies) get(i int) []byte {
	if b.byI == nil {
		return b.fixed
	}
	return b.byI[i%len(b.byI)]
}

// conn is one keep-alive HTTP/1.1 connection that sends a prepared request
// and reads the answer by hand. net/http's client costs about as much CPU
// per request as the server it measures; on two shared cores that would be
// taken from the server, so the generator does the least HTTP can.
type conn struct {
	tg  target
	url *url.URL
	c   net.Conn
	r   *bufio.Reader
	req []byte
}

func dial(tg target) (*conn, error) {
	u, err := url.Parse(tg.URL)
	if err != nil {
		return nil, err
	}
	return &conn{tg: tg, url: u}, nil
}

// do sends one request with body and checks the answer.
func (c *conn) do(body []byte) error {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.url.Host, 5*time.Second)
		if err != nil {
			return err
		}
		c.c, c.r = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	c.req = c.req[:0]
	c.req = fmt.Appendf(c.req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
		c.url.RequestURI(), c.url.Host, len(body))
	if c.tg.Auth != "" {
		c.req = fmt.Appendf(c.req, "Authorization: %s\r\n", c.tg.Auth)
	}
	c.req = append(c.req, "\r\n"...)
	c.req = append(c.req, body...)
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(c.req); err != nil {
		return c.fail(err)
	}
	status, answer, err := readResponse(c.r)
	if err != nil {
		return c.fail(err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: status %d: %s", c.tg.Name, status, answer)
	}
	if c.tg.Want != "" && !bytes.Contains(answer, []byte(c.tg.Want)) {
		return fmt.Errorf("%s: answer lacks %s: %s", c.tg.Name, c.tg.Want, answer)
	}
	return nil
}

func (c *conn) fail(err error) error {
	_ = c.c.Close()
	c.c = nil
	return fmt.Errorf("%s: %w", c.tg.Name, err)
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
	}
}

// readResponse reads one answer: a Content-Length body, as Go servers send
// small answers, or a chunked one.
func readResponse(r *bufio.Reader) (int, []byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		if bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", value)
			}
		}
		if bytes.EqualFold(name, []byte("Transfer-Encoding")) && bytes.EqualFold(bytes.TrimSpace(value), []byte("chunked")) {
			chunked = true
		}
	}
	if chunked {
		body, err := readChunked(r)
		return status, body, err
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("answer without Content-Length")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return status, body, nil
}

func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			// Trailers, if any, end with an empty line.
			for {
				t, err := r.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n+2)...) // the chunk and its CRLF
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			return nil, err
		}
		body = body[:len(body)-2]
	}
}

// paceWithSleep is pace's portable fallback.
func paceWithSleep(tickets chan<- ticket, start time.Time, rate float64, total int) {
	interval := float64(time.Second) / rate
	for n := range total {
		at := start.Add(time.Duration(float64(n) * interval))
		time.Sleep(time.Until(at))
		tickets <- ticket{n: n, at: at}
	}
}
