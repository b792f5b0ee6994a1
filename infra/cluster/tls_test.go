package cluster

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/testenv"
)

// Two nodes sharing one certificate (cluster.tls without caFile): decisions
// are forwarded to the key's owner over TLS and stay exact; the RPC port
// speaks nothing but TLS and trusts only the cluster's certificate.
func TestRPCOverTLSForwardsDecisions(t *testing.T) {
	cert := testenv.SelfSignedCert(t, "cluster")
	nodes := startClusterWith(t, 2, func(c *configs.Cluster) {
		c.FailureTimeoutMs = 20_000 // about who decides, not failure detection
		c.TLS = &configs.ClusterTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	})
	for _, n := range nodes {
		n.l.client = n.c.client(30 * time.Second)
	}
	const limit = 5
	now := time.Now()
	admitted := 0
	for i := range 4 * limit {
		ds, err := nodes[i%2].l.Decide(context.Background(), now,
			[]events.RatelimitCheck{{Key: "ns:tls", Limit: limit, Duration: time.Minute, Cost: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Passed {
			admitted++
		}
	}
	forwarded := nodes[0].c.forwarded.Load() + nodes[1].c.forwarded.Load()
	if admitted != limit || forwarded != 2*limit {
		t.Fatalf("admitted %d (want %d), forwarded %d (want %d: every other call reaches the owner over RPC)",
			admitted, limit, forwarded, 2*limit)
	}
	for _, n := range nodes {
		if n.l.FailOpens() != 0 {
			t.Fatalf("%s failed open %d times: the TLS RPC failed", n.c.NodeID(), n.l.FailOpens())
		}
	}

	addr := "127.0.0.1:" + nodes[0].cfg.Cluster.RPCPort
	// Plain HTTP is not served.
	if err := NewClient(testSecret, 5*time.Second).Do(context.Background(), http.MethodGet, addr, PathMembers, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "400") {
		t.Fatalf("plain HTTP to the TLS RPC port: %v, want net/http's 400", err)
	}
	// A peer with another certificate is not trusted, and does not trust.
	stranger := testenv.SelfSignedCert(t, "stranger")
	_, strangerTLS, err := rpcTLS(&configs.ClusterTLS{CertFile: stranger.CertFile, KeyFile: stranger.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(testSecret, 5*time.Second, strangerTLS).Members(context.Background(), addr); err == nil ||
		!strings.Contains(err.Error(), "not this cluster's") {
		t.Fatalf("client pinned to another certificate: %v, want a refusal", err)
	}
	// The CLI's client follows the config.
	client, err := NewClientFor(nodes[1].cfg.Cluster, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.Members(context.Background(), addr)
	if err != nil || r.NodeID != nodes[0].c.NodeID() || len(r.Members) != 2 {
		t.Fatalf("members over TLS: %+v, %v", r, err)
	}
}

// With caFile, peers are verified as any TLS server: chain and name.
func TestRPCOverTLSWithCA(t *testing.T) {
	ca := testenv.SelfSignedCert(t, "ca")
	leaf := testenv.SignedCert(t, "node", ca)
	tlsCfg := &configs.ClusterTLS{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile, CAFile: ca.CertFile}
	nodes := startClusterWith(t, 2, func(c *configs.Cluster) { c.TLS = tlsCfg })
	addr := "127.0.0.1:" + nodes[1].cfg.Cluster.RPCPort

	r, err := nodes[0].c.client(5*time.Second).Members(context.Background(), addr)
	if err != nil || r.NodeID != nodes[1].c.NodeID() {
		t.Fatalf("members over TLS with a CA: %+v, %v", r, err)
	}
	// A client trusting another authority refuses the node.
	other := testenv.SelfSignedCert(t, "other-ca")
	wrong := newClient(testSecret, 5*time.Second, &tls.Config{RootCAs: other.Pool(), MinVersion: tls.VersionTLS12})
	if _, err := wrong.Members(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client trusting another CA: %v, want a certificate error", err)
	}
	// The secret is still required over TLS.
	noSecret := newClient("", 5*time.Second, nodes[0].c.clientTLS)
	if err := noSecret.Do(context.Background(), http.MethodGet, addr, PathMembers, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Fatalf("TLS without the secret: %v, want 401", err)
	}
}

func TestRPCTLSBadFilesFailAtStart(t *testing.T) {
	cfg := nodeConfig(t, "n1", []string{"127.0.0.1:1"})
	cfg.Cluster.TLS = &configs.ClusterTLS{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}
	if _, _, err := New(cfg, quiet); err == nil || !strings.Contains(err.Error(), "cluster tls") {
		t.Fatalf("New with missing certificate files: %v", err)
	}
	cert := testenv.SelfSignedCert(t, "c")
	empty := t.TempDir() + "/empty.pem"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Cluster.TLS = &configs.ClusterTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, CAFile: empty}
	if _, _, err := New(cfg, quiet); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("New with an empty CA file: %v", err)
	}
}
