package cluster

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/keyline/keyline/configs"
)

// rpcTLS loads cluster.tls: the server side of the RPC port and what a
// node trusts when it calls a peer. With a CA file, peers are verified as
// any TLS server is (chain and name). Without one every node serves the same
// certificate and a peer is trusted only when it presents exactly that
// certificate, byte for byte: the exact pin makes a name check unnecessary,
// so one certificate works whatever addresses the nodes advertise.
func rpcTLS(cfg *configs.ClusterTLS) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster tls: loading %s and %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("cluster tls: %s holds no PEM certificate", cfg.CAFile)
		}
		return server, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
	}
	own := cert.Certificate[0]
	client = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard verification is replaced, not skipped: VerifyConnection
		// accepts only this node's own certificate.
		InsecureSkipVerify: true, //nolint:gosec // pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own) {
				return errors.New("cluster tls: the peer's certificate is not this cluster's (cluster.tls.certFile)")
			}
			if now := time.Now(); now.After(cs.PeerCertificates[0].NotAfter) {
				return errors.New("cluster tls: the cluster certificate has expired")
			}
			return nil
		},
	}
	return server, client, nil
}

// NewClientFor builds the RPC client the config calls for: plain HTTP, or
// HTTPS trusting what cluster.tls says.
func NewClientFor(cl *configs.Cluster, timeout time.Duration) (*Client, error) {
	if cl.TLS == nil {
		return NewClient(cl.Secret, timeout), nil
	}
	_, client, err := rpcTLS(cl.TLS)
	if err != nil {
		return nil, err
	}
	return newClient(cl.Secret, timeout, client), nil
}

// client is an RPC client for this node's peers, over TLS when the cluster
// uses it.
func (c *Cluster) client(timeout time.Duration) *Client {
	return newClient(c.cfg.Secret, timeout, c.clientTLS)
}
