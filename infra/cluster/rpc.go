package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SecretHeader carries cluster.secret on every RPC request.
const SecretHeader = "X-Keyline-Cluster-Secret"

// RPC paths.
const (
	PathMembers = "/v1/cluster/members"
	PathEvents  = "/v1/cluster/events"
	PathDecide  = "/v1/ratelimit/decide"
	PathLeaving = "/v1/cluster/leaving"
)

type leavingNotice struct {
	NodeID string `json:"nodeId"`
}

// MembersResponse is the body of GET /v1/cluster/members.
type MembersResponse struct {
	NodeID  string `json:"nodeId"`
	Members []Peer `json:"members"`
}

// EventsResponse is the body of GET /v1/cluster/events.
type EventsResponse struct {
	NodeID string  `json:"nodeId"`
	Events []Event `json:"events"`
}

func (c *Cluster) routes() {
	c.mux.HandleFunc("GET "+PathMembers, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, MembersResponse{NodeID: c.cfg.NodeID, Members: c.Members()})
	})
	c.mux.HandleFunc("GET "+PathEvents, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, EventsResponse{NodeID: c.cfg.NodeID, Events: c.Recent()})
	})
	c.mux.HandleFunc("POST "+PathLeaving, func(w http.ResponseWriter, r *http.Request) {
		var n leavingNotice
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&n); err != nil || n.NodeID == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {nodeId}"})
			return
		}
		c.mu.Lock()
		c.leaving[n.NodeID] = time.Now()
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	c.rpc = &http.Server{
		Handler:           c.authenticate(c.mux),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// authenticate admits only requests carrying the cluster secret. Both sides
// are hashed first so the constant-time comparison does not leak the
// secret's length either.
func (c *Cluster) authenticate(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(c.cfg.Secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get(SecretHeader)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.logger.Warn("refused a cluster rpc request without the cluster secret",
				"remote", r.RemoteAddr, "path", r.URL.Path, "secretSent", r.Header.Get(SecretHeader) != "")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong " + SecretHeader})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Client calls a node's RPC port. `keyline cluster members` uses it, and so
// does the forwarding limiter.
type Client struct {
	secret string
	scheme string
	http   *http.Client
}

// NewClient builds a client that sends secret on every call, over plain
// HTTP (NewClientFor follows cluster.tls).
func NewClient(secret string, timeout time.Duration) *Client {
	return newClient(secret, timeout, nil)
}

// newClient calls peers over TLS with tlsCfg when it is not nil.
func newClient(secret string, timeout time.Duration, tlsCfg *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Forwarded decisions go to a handful of owners at a high rate: keep
	// enough idle connections that bursts reuse them instead of dialing.
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	scheme := "http://"
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
		scheme = "https://"
	}
	return &Client{secret: secret, scheme: scheme, http: &http.Client{Timeout: timeout, Transport: tr}}
}

// Do sends a request to addr (host:port) and decodes a 200 answer into out.
func (cl *Client) Do(ctx context.Context, method, addr, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.scheme+addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(SecretHeader, cl.secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, addr+path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Members asks the node at addr for its member table.
func (cl *Client) Members(ctx context.Context, addr string) (MembersResponse, error) {
	var r MembersResponse
	err := cl.Do(ctx, http.MethodGet, addr, PathMembers, nil, &r)
	return r, err
}

// Events asks the node at addr for the membership records it holds.
func (cl *Client) Events(ctx context.Context, addr string) (EventsResponse, error) {
	var r EventsResponse
	err := cl.Do(ctx, http.MethodGet, addr, PathEvents, nil, &r)
	return r, err
}
