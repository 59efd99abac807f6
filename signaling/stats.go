package signaling

import (
	"sort"
	"sync"
	"sync/atomic"
)

// RelayBucketsMicros are the upper bounds, in microseconds, of the relay
// latency histogram in Stats: the time from reading a signal off the
// sender's socket to writing it to the target's.
var RelayBucketsMicros = []float64{25, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 25000, 100000}

// Stats is a snapshot of a Server's counters, for metrics exporters.
type Stats struct {
	Sessions       int               // sessions now, live or waiting to resume
	Connections    int               // open WebSocket connections now
	Rooms          int               // rooms now
	SessionsOpened uint64            // sessions created since start
	ConnsOpened    uint64            // connections accepted since start
	Resumes        uint64            // successful resumes since start
	Rejoins        uint64            // seats taken back with a rejoin ticket since start
	MessagesIn     uint64            // accepted messages since start
	Relayed        uint64            // signals relayed since start
	Errors         map[string]uint64 // error replies and refusals by code

	// RelayCounts[i] counts relays that took at most RelayBucketsMicros[i];
	// the last element counts the rest. RelaySumMicros is their total.
	RelayCounts    []uint64
	RelaySumMicros float64

	// Cluster nodes only (NewClusterServer): signals sent to a peer on
	// another node and received from another node for a peer here, and
	// the round trip of the sent ones (this node reads the signal, the
	// target's node queues it and its ack comes back), in the buckets of
	// RelayBucketsMicros like RelayCounts. The round trip is timed on this
	// node's clock alone.
	ClusterSent, ClusterReceived uint64
	ClusterRTTCounts             []uint64
	ClusterRTTSumMicros          float64
}

type serverStats struct {
	sessionsOpened, connsOpened, resumes, rejoins, msgsIn, relayed atomic.Uint64

	errMu  sync.Mutex
	errors map[string]uint64

	relayBuckets []atomic.Uint64
	relaySumNs   atomic.Uint64

	clusterSent, clusterRecv atomic.Uint64
	rttBuckets               []atomic.Uint64
	rttSumNs                 atomic.Uint64
}

func (st *serverStats) init() {
	st.errors = make(map[string]uint64)
	st.relayBuckets = make([]atomic.Uint64, len(RelayBucketsMicros)+1)
	st.rttBuckets = make([]atomic.Uint64, len(RelayBucketsMicros)+1)
}

func (st *serverStats) observeRelay(ns int64) { observe(st.relayBuckets, &st.relaySumNs, ns) }

// observeClusterRTT records the round trip of a signal sent to another node.
func (st *serverStats) observeClusterRTT(ns int64) { observe(st.rttBuckets, &st.rttSumNs, ns) }

func observe(buckets []atomic.Uint64, sum *atomic.Uint64, ns int64) {
	if ns < 0 {
		ns = 0
	}
	us := float64(ns) / 1e3
	i := sort.SearchFloat64s(RelayBucketsMicros, us)
	buckets[i].Add(1)
	sum.Add(uint64(ns))
}

func (s *Server) countError(code string) {
	s.stats.errMu.Lock()
	s.stats.errors[code]++
	s.stats.errMu.Unlock()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	out := Stats{Sessions: len(s.sessions), Connections: len(s.conns), Rooms: len(s.rooms)}
	s.mu.RUnlock()
	st := &s.stats
	out.SessionsOpened = st.sessionsOpened.Load()
	out.ConnsOpened = st.connsOpened.Load()
	out.Resumes = st.resumes.Load()
	out.Rejoins = st.rejoins.Load()
	out.MessagesIn = st.msgsIn.Load()
	out.Relayed = st.relayed.Load()
	st.errMu.Lock()
	out.Errors = make(map[string]uint64, len(st.errors))
	for k, v := range st.errors {
		out.Errors[k] = v
	}
	st.errMu.Unlock()
	out.RelayCounts = make([]uint64, len(st.relayBuckets))
	for i := range st.relayBuckets {
		out.RelayCounts[i] = st.relayBuckets[i].Load()
	}
	out.RelaySumMicros = float64(st.relaySumNs.Load()) / 1e3
	if s.cl != nil {
		out.ClusterSent = st.clusterSent.Load()
		out.ClusterReceived = st.clusterRecv.Load()
		out.ClusterRTTCounts = make([]uint64, len(st.rttBuckets))
		for i := range st.rttBuckets {
			out.ClusterRTTCounts[i] = st.rttBuckets[i].Load()
		}
		out.ClusterRTTSumMicros = float64(st.rttSumNs.Load()) / 1e3
	}
	return out
}
