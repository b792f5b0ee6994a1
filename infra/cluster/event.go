package cluster

import "time"

// Names of the membership records. They are part of the keyline.cluster
// stream's contract: consumers switch on Name and Version, so a change of
// shape gets a new version rather than a silent edit.
const (
	EventNodeJoined    = "cluster.node_joined"
	EventNodeLeft      = "cluster.node_left"
	EventNodeFailed    = "cluster.node_failed"
	EventNodeHeartbeat = "cluster.node_heartbeat"
	// EventVersion is the version of every record above.
	EventVersion = 1
)

// StreamTopic is the Redis stream carrying the membership records.
const StreamTopic = "keyline.cluster"

// Event is one membership record (cluster.node_joined v1 and its
// siblings). Every node reports what it observes, so a failure seen by
// three nodes is three records with three Observers; ID is unique per
// record, which is what gossip de-duplicates on.
type Event struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"v"`
	// NodeID is the node the record is about.
	NodeID string `json:"nodeId"`
	// Observer is the node that saw the change (for a heartbeat, NodeID).
	Observer string    `json:"observer"`
	Addr     string    `json:"addr,omitempty"`
	Region   string    `json:"region,omitempty"`
	At       time.Time `json:"at"`
	// Load is set on heartbeats only.
	Load *Load `json:"load,omitempty"`
}

// Load is what a heartbeat says about the node's work.
type Load struct {
	Goroutines int `json:"goroutines"`
	// Members is how many live members the node sees, itself included.
	Members int `json:"members"`
	// ForwardedDecisions counts rate-limit decisions this node took for
	// other members since it started.
	ForwardedDecisions uint64 `json:"forwardedDecisions"`
}
