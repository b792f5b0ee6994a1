package cluster

import (
	"encoding/json"
	"fmt"
	"time"
)

// metaVersion is the version of the node meta this build writes. Readers
// accept any version >= 1 and use the v1 fields, which later versions must
// keep.
const metaVersion = 1

// meta is what a node tells the others about itself through memberlist.
// memberlist caps it at 512 bytes; these fields stay far below.
type meta struct {
	V        int    `json:"v"`
	RPCAddr  string `json:"rpcAddr"`
	HTTPPort int    `json:"httpPort"`
	Region   string `json:"region"`
}

func decodeMeta(b []byte) (meta, error) {
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, fmt.Errorf("node meta: %w", err)
	}
	if m.V < 1 {
		return meta{}, fmt.Errorf("node meta: unsupported version %d", m.V)
	}
	return m, nil
}

// Peer is one member as this node sees it.
type Peer struct {
	NodeID     string `json:"nodeId"`
	GossipAddr string `json:"gossipAddr"`
	RPCAddr    string `json:"rpcAddr"`
	HTTPPort   int    `json:"httpPort"`
	Region     string `json:"region"`
	// State is alive, failed or left (a suspected member stays alive until
	// memberlist declares it dead).
	State string `json:"state"`
	// LastHeartbeat is when this node last heard the member's
	// cluster.node_heartbeat (zero if never).
	LastHeartbeat time.Time `json:"lastHeartbeat,omitzero"`
	Load          *Load     `json:"load,omitempty"`
	// Self marks the node that answered.
	Self bool `json:"self,omitempty"`
}

// Peer states.
const (
	StateAlive  = "alive"
	StateFailed = "failed"
	StateLeft   = "left"
)
