package signaling

import (
	"context"
	"errors"
)

// Backplane connects a Server to the other nodes of a cluster: a shared,
// strongly consistent key/value store with compare-and-set, an ordered
// feed of its changes, and messages addressed to a node. Package cluster
// implements it over NATS (JetStream KV and core subjects); a Server with
// a nil Config.Backplane keeps everything in memory.
//
// Keys are made of the characters [-_=.a-zA-Z0-9] and the Server uses
// these prefixes (docs/operations.md and package cluster's doc list the
// records):
//
//	key.token          the cluster's HMAC key for resume tokens and rejoin tickets
//	room.<hex name>    a room: capacity, members (id, node, away), seats
//	open.<hex name>.N  the next=N group of a name that is still filling
//	sess.<id>          a session: its node, resume nonce, subject, room
//	lead.<service>     the node leading a cluster-wide service (Server.Service)
//	svc.<service>.<k>  the records of a cluster-wide service
//
// Every method is safe for concurrent use.
type Backplane interface {
	// Node is this node's name, unique in the cluster.
	Node() string
	// Get returns the latest value of key, or ErrBackplaneNotFound.
	Get(ctx context.Context, key string) (BackplaneEntry, error)
	// Create stores a new key and returns its revision; it fails with
	// ErrBackplaneConflict when the key exists.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update replaces key's value if its revision is still rev; it fails
	// with ErrBackplaneConflict otherwise.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Delete removes key if its revision is still rev (any revision when
	// rev is 0); it fails with ErrBackplaneConflict otherwise.
	Delete(ctx context.Context, key string, rev uint64) error
	// Keys lists the keys that start with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Watch calls fn with the current value of every key under prefix and
	// then with every change (a deletion has Deleted set), one call at a
	// time in revision order, until ctx ends. It returns once the current
	// values have been delivered.
	Watch(ctx context.Context, prefix string, fn func(BackplaneEntry)) error
	// Send delivers msg to node's Receive handler, at most once, in order
	// per sender.
	Send(node string, msg []byte) error
	// Broadcast delivers msg to every node's Receive handler (this one's
	// included), at most once.
	Broadcast(msg []byte) error
	// Receive sets the handler of the messages sent to this node; it runs
	// on one goroutine, one message at a time.
	Receive(fn func(msg []byte))
	// OnNode sets the handler of node liveness changes: up is false once
	// a node has been silent for the failure-detection delay.
	OnNode(fn func(node string, up bool))
}

// BackplaneEntry is one value of the backplane's store.
type BackplaneEntry struct {
	Key     string
	Value   []byte
	Rev     uint64
	Deleted bool
}

// Backplane errors.
var (
	ErrBackplaneNotFound = errors.New("signaling: backplane: key not found")
	ErrBackplaneConflict = errors.New("signaling: backplane: revision conflict")
)
