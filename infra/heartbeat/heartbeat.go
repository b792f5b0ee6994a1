// Package heartbeat pings an external monitor (heartbeat.url) every
// heartbeat.interval seconds, so an uptime service notices a node that
// stopped. The monitor is the least important thing a node talks to: the
// ping runs on its own goroutine with a short timeout, and a failing or
// hanging monitor only costs a log line, never a request.
package heartbeat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/cluster"
)

// MaxTimeout caps one ping; an interval shorter than that caps it instead,
// so pings never overlap.
const MaxTimeout = 5 * time.Second

// Beat is the JSON body of a ping.
type Beat struct {
	NodeID        string `json:"nodeId"`
	Region        string `json:"region"`
	Platform      string `json:"platform"`
	Image         string `json:"image"`
	Version       string `json:"version"`
	UptimeSeconds int64  `json:"uptimeSeconds"`
	MemberCount   int    `json:"memberCount"`
	At            string `json:"at"`
}

// Monitor sends the pings.
type Monitor struct {
	url      string
	interval time.Duration
	timeout  time.Duration
	client   *http.Client
	logger   *slog.Logger
	started  time.Time
	base     Beat
	members  func() int
}

// New is the provider: nil when no heartbeat is configured. c may be nil
// (a single node reports one member).
func New(cfg *configs.Config, logger *slog.Logger, c *cluster.Cluster) *Monitor {
	if cfg.Heartbeat == nil {
		return nil
	}
	interval := time.Duration(cfg.Heartbeat.Interval) * time.Second
	timeout := min(MaxTimeout, interval)
	nodeID := ""
	if c != nil {
		nodeID = c.NodeID()
	} else if h, err := os.Hostname(); err == nil {
		nodeID = h
	}
	return &Monitor{
		url: cfg.Heartbeat.URL, interval: interval, timeout: timeout,
		client:  &http.Client{Timeout: timeout},
		logger:  logger.With("component", "heartbeat"),
		started: time.Now(),
		base: Beat{NodeID: nodeID, Region: cfg.Region, Platform: cfg.Platform, Image: cfg.Image,
			Version: version()},
		members: c.MemberCount,
	}
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}

// Run pings at once and then every interval until ctx ends. After a
// failure the next attempt waits twice as long (up to a minute, or the
// interval if that is longer), so a dead monitor is neither hammered nor
// allowed to flood the log; the first success restores the interval.
func (m *Monitor) Run(ctx context.Context) error {
	if m == nil {
		<-ctx.Done()
		return nil
	}
	wait, failures := m.interval, 0
	for {
		err := m.ping(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = min(wait*2, max(m.interval, time.Minute))
			if failures == 1 {
				wait = m.interval
			}
			m.logger.Warn("heartbeat failed", "url", m.url, "error", err, "failures", failures, "next in", wait)
		default:
			if failures > 0 {
				m.logger.Info("heartbeat recovered", "after failures", failures)
			}
			wait, failures = m.interval, 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (m *Monitor) ping(ctx context.Context) error {
	b := m.base
	b.UptimeSeconds = int64(time.Since(m.started).Seconds())
	b.MemberCount = m.members()
	b.At = time.Now().UTC().Format(time.RFC3339Nano)
	body, _ := json.Marshal(b)
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("monitor answered %s", resp.Status)
	}
	return nil
}
