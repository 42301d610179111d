package node

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Stats are cumulative counters since Start (the load generator takes
// differences between samples), and SnapshotSaving, a state.
type Stats struct {
	Fsyncs        uint64 // fsync calls by this node's WAL
	FsyncEntries  uint64 // entries written by this node's WAL
	Flushes       uint64 // WAL group commits (one write, at most one fsync)
	FsyncNanos    uint64 // wall time spent in those fsyncs
	Lingers       uint64 // WAL group commits held back for more records (wal.Options.MaxCommitDelay)
	LingersRunOut uint64 // of those, the ones whose wait reached its limit (wal.LingerLimit)
	LingerNanos   uint64 // wall time the WAL's flusher spent in those lingers
	WALIdleNanos  uint64 // wall time it waited with nothing queued (fsync on only)
	WALWriteNanos uint64 // wall time it spent writing segments (fsync on only)
	AppendMsgs    uint64 // MsgApp messages sent
	AppendEntries uint64 // entries carried by them
	LeaderChanges uint64 // leader changes observed
	Proposals     uint64 // proposals handed to the core
	Rejected      uint64 // proposals the core refused (not leader, backpressure)
	Busy          uint64 // requests refused with ErrBusy
	Duplicates    uint64 // committed requests not applied again (session dedup)
	Dropped       uint64 // inbound messages dropped (inbox full)
	Snapshots     uint64 // snapshots taken
	Settled       uint64 // blind commands answered at their batch's start, before applying (driver.SettleHooks)
	ApplyYields   uint64 // batches applied with nobody to answer, after yielding the P (Config.NoFollowerApplyYield)
	// ApplyLingerWaits: batches applied with nobody to answer after
	// waiting for the node's log to end a linger (Config.NoFollowerApplyAfterLinger).
	ApplyLingerWaits uint64
	LogDrops         uint64 // drops of applied entries from the core's memory (Config.ResidentLogRatio)
	// SnapshotSaving: a snapshot of this node's state is being written
	// to its file now (from the capture until it is installed or
	// dropped), so timelines can show the whole window, not only its end.
	SnapshotSaving bool
}

type statCounters struct {
	appendMsgs, appendEntries, leaderChanges, proposals, rejected atomic.Uint64
	busy, duplicates, dropped, snapshots, stepErrors, malformed   atomic.Uint64
	entriesSubmitted, settled, applyYields, logDrops              atomic.Uint64
	applyLingerWaits                                              atomic.Uint64
	// snapshotSaving: a snapshot save is in flight (the applier starts
	// no other meanwhile; Stats reports it).
	snapshotSaving atomic.Bool
}

// msgIdx maps a message type to a small array index (0 for invalid).
func msgIdx(t raftpb.MessageType) int {
	if !t.Valid() {
		return 0
	}
	return int(t)
}

const numMsgIdx = 32

// metrics holds the node's Prometheus collectors (label node=<id>). The
// per-type message counters are resolved once so the hot path only adds.
type metrics struct {
	reg                                            prometheus.Registerer
	cs                                             []prometheus.Collector
	term, role, leader, commit, applied, lastIndex prometheus.Gauge
	leaderChanges, proposals, dropped              prometheus.Counter
	readyEntries, appEntries, appBytes             prometheus.Histogram
	proposeToCommit, proposeToApply, commitToApply prometheus.Histogram
	inflight                                       *prometheus.GaugeVec
	sent, recv                                     [numMsgIdx]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, id uint64) (*metrics, error) {
	m := &metrics{reg: reg}
	labels := prometheus.Labels{"node": strconv.FormatUint(id, 10)}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "raftbench", Subsystem: "node", Name: name, Help: help, ConstLabels: labels})
		m.cs = append(m.cs, g)
		return g
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "raftbench", Subsystem: "node", Name: name, Help: help, ConstLabels: labels})
		m.cs = append(m.cs, c)
		return c
	}
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "raftbench", Subsystem: "node", Name: name, Help: help, ConstLabels: labels, Buckets: buckets})
		m.cs = append(m.cs, h)
		return h
	}
	lat := prometheus.ExponentialBuckets(50e-6, 2, 16) // 50 µs .. 1.6 s
	cnt := prometheus.ExponentialBuckets(1, 2, 14)     // 1 .. 8192
	m.term = gauge("term", "Current Raft term.")
	m.role = gauge("role", "Role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader.")
	m.leader = gauge("leader", "ID of the known leader (0 none).")
	m.commit = gauge("commit_index", "Commit index.")
	m.applied = gauge("applied_index", "Applied index.")
	m.lastIndex = gauge("last_index", "Last log index handed to the WAL.")
	m.leaderChanges = counter("leader_changes_total", "Leader changes observed.")
	m.proposals = counter("proposals_total", "Proposals handed to the core.")
	m.dropped = counter("dropped_messages_total", "Inbound messages dropped because the inbox was full.")
	m.readyEntries = hist("entries_per_ready", "Entries to persist per Ready.", cnt)
	m.appEntries = hist("append_entries_per_msg", "Entries per AppendEntries (MsgApp) sent.", cnt)
	m.appBytes = hist("append_bytes_per_msg", "Payload bytes per AppendEntries (MsgApp) sent.", prometheus.ExponentialBuckets(64, 4, 10))
	m.proposeToCommit = hist("propose_to_commit_seconds", "Time from Propose to the entry being committed.", lat)
	m.proposeToApply = hist("propose_to_apply_seconds", "Time from Propose to the result being applied.", lat)
	m.commitToApply = hist("commit_to_apply_seconds", "Time from commit to apply, per apply batch.", lat)
	m.inflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "raftbench", Subsystem: "node", Name: "inflight_msgs",
		Help: "Leader: unacknowledged MsgApps per follower (pipelining window use).", ConstLabels: labels}, []string{"peer"})
	m.cs = append(m.cs, m.inflight)
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "raftbench", Subsystem: "node", Name: "messages_sent_total",
		Help: "Raft messages sent, by type.", ConstLabels: labels}, []string{"type"})
	recv := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "raftbench", Subsystem: "node", Name: "messages_received_total",
		Help: "Raft messages received, by type.", ConstLabels: labels}, []string{"type"})
	m.cs = append(m.cs, sent, recv)
	for i := range m.sent {
		name := "invalid"
		if t := raftpb.MessageType(i); t.Valid() {
			name = t.String()
		} else if i != 0 {
			m.sent[i], m.recv[i] = m.sent[0], m.recv[0]
			continue
		}
		m.sent[i], m.recv[i] = sent.WithLabelValues(name), recv.WithLabelValues(name)
	}
	if reg != nil {
		for i, c := range m.cs {
			if err := reg.Register(c); err != nil {
				for _, done := range m.cs[:i] {
					reg.Unregister(done)
				}
				return nil, err
			}
		}
	}
	return m, nil
}

// unregister removes the collectors, so a restarted node can register
// again on the same registerer.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
}
