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

	"github.com/spf13/cobra"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/httpserver"
)

func healthCommand(ctx context.Context, stdout, _ io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "health [--url URL] [--timeout D]",
		Short: "the container health check: exit 0 when the local node is live",
		Long: `The container health check: GET the local node's /v2/liveness
(http(s)://127.0.0.1:httpPort, https trusting exactly tls.certFile) and exit 0
when it answers 200, 1 otherwise, with a one-line reason. --timeout bounds the
wait.`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			rawURL, _ := cmd.Flags().GetString("url")
			timeout, _ := cmd.Flags().GetDuration("timeout")
			if timeout <= 0 {
				return usagef("--timeout must be positive, got %s", timeout)
			}
			if rawURL != "" {
				if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usagef("--url must be an absolute http(s) URL, got %q", rawURL)
				}
			}
			return checkHealth(ctx, configPath(cmd), rawURL, timeout, stdout)
		}),
	}
	c.Flags().String("url", "", "liveness URL to ask (default: http(s)://127.0.0.1:httpPort/v2/liveness from the config)")
	c.Flags().Duration("timeout", 5*time.Second, "give up after this long")
	return c
}

// checkHealth is the container health check: it asks the local node's
// liveness endpoint and fails unless it answers 200. It is a subcommand of
// the server binary, not curl, because the image is FROM scratch and has
// nothing else to run.
func checkHealth(ctx context.Context, config, target string, timeout time.Duration, stdout io.Writer) error {
	cfg, err := loadConfig(config)
	if err != nil {
		return err
	}
	if target == "" {
		target = livenessURL(cfg)
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
		Timeout:   timeout,
		// A redirect is not a live node answering: report it as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
