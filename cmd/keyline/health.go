package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/httpserver"
)

const healthSynopsis = "keyline health [--config FILE] [--url URL]"

// healthCmd is the container health check: it asks the local node's
// liveness endpoint and fails unless it answers 200. It is a subcommand of
// the server binary, not curl, because the image is FROM scratch and has
// nothing else to run.
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, config := newFlags("health", healthSynopsis+
		": exit 0 when the local node's GET /v2/liveness answers 200, 1 otherwise (with the reason).", stderr)
	rawURL := fs.String("url", "", "liveness URL to ask (default: http(s)://127.0.0.1:httpPort/v2/liveness from the config)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s)", fs.Arg(0), healthSynopsis)
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", *timeout)
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	target := *rawURL
	if target == "" {
		target = livenessURL(cfg)
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an absolute http(s) URL, got %q", target)
	}
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if cfg.TLS != nil {
		// The node serves its own certificate; trust exactly that one,
		// whatever name it carries.
		if transport.TLSClientConfig, err = httpserver.PinnedClientTLS(cfg.TLS); err != nil {
			return err
		}
	} else {
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   *timeout,
		// A redirect is not a live node answering: report it as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	started := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("unhealthy: GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: GET %s answered %s", target, resp.Status)
	}
	_, err = fmt.Fprintf(stdout, "healthy: GET %s answered 200 in %s\n", target, time.Since(started).Round(time.Millisecond))
	return err
}

// livenessURL is where the node of cfg answers liveness on this machine. A
// wildcard bind is reached through loopback of the same family; a specific
// host is dialed as configured since that is all the node listens on.
func livenessURL(cfg *configs.Config) string {
	host := cfg.HTTPHost
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(cfg.HTTPPort)) + "/v2/liveness"
}
