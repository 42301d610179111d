package node

import (
	"context"
	"strconv"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/wal"
)

// Status is a point-in-time view of the node.
type Status struct {
	ID        uint64      `json:"id"`
	Term      uint64      `json:"term"`
	Role      engine.Role `json:"-"`
	RoleName  string      `json:"role"`
	Leader    uint64      `json:"leader"`
	Commit    uint64      `json:"commit"`
	Applied   uint64      `json:"applied"`
	LastIndex uint64      `json:"last_index"`
	// FirstIndex is the first log index the core still holds in memory.
	FirstIndex uint64 `json:"first_index"`
	Stopped    bool   `json:"stopped"`
	// Vote is the node's vote in Term, LastTerm the term of its last
	// entry.
	Vote     uint64 `json:"vote"`
	LastTerm uint64 `json:"last_term"`
	// Membership: the configuration in force in this node's log (both
	// halves when Joint), its learners and the addresses it carries.
	Voters         []uint64 `json:"voters"`
	VotersOutgoing []uint64 `json:"voters_outgoing,omitempty"`
	Learners       []uint64 `json:"learners,omitempty"`
	// LearnersNext: voters being demoted, learners once Joint ends.
	LearnersNext []uint64          `json:"learners_next,omitempty"`
	Joint        bool              `json:"joint"`
	AutoLeave    bool              `json:"auto_leave,omitempty"`
	Addrs        map[uint64]string `json:"addrs,omitempty"`
	// Progress is the leader's view of each follower (nil elsewhere).
	Progress map[uint64]PeerProgress `json:"progress,omitempty"`
	// SnapshotTransfer is the streaming of snapshots to and from this
	// node (counters since start, and what is in progress now).
	SnapshotTransfer SnapshotTransfer `json:"snapshot_transfer"`
}

// SnapshotTransfer reports snapshot streaming: as a leader (sends) and
// as a follower (receives).
type SnapshotTransfer struct {
	SendsInProgress int    `json:"sends_in_progress"`
	SendsStarted    uint64 `json:"sends_started"`
	SendsCompleted  uint64 `json:"sends_completed"`
	BytesSent       uint64 `json:"bytes_sent"`
	Resends         uint64 `json:"resends"`
	RecvInProgress  bool   `json:"recv_in_progress"`
	RecvBytes       uint64 `json:"recv_bytes"` // of the transfer in progress
	RecvTotal       uint64 `json:"recv_total"` // its size
	RecvsCompleted  uint64 `json:"recvs_completed"`
	BytesReceived   uint64 `json:"bytes_received"`
	ChunksRejected  uint64 `json:"chunks_rejected"`
}

func snapshotTransfer(x driver.TransferStats) SnapshotTransfer {
	return SnapshotTransfer{SendsInProgress: x.SendsInProgress, SendsStarted: x.SendsStarted,
		SendsCompleted: x.SendsCompleted, BytesSent: x.BytesSent, Resends: x.Resends,
		RecvInProgress: x.RecvInProgress, RecvBytes: x.RecvBytes, RecvTotal: x.RecvTotal,
		RecvsCompleted: x.RecvsCompleted, BytesReceived: x.BytesReceived, ChunksRejected: x.ChunksRejected}
}

// PeerProgress is one follower's replication state as the leader sees it.
type PeerProgress struct {
	Match         uint64 `json:"match"`
	Next          uint64 `json:"next"`
	State         string `json:"state"`
	InflightMsgs  int    `json:"inflight_msgs"`
	InflightBytes uint64 `json:"inflight_bytes"`
	RecentActive  bool   `json:"recent_active"`
}

// statusTimeout bounds how long Status waits for the loop.
const statusTimeout = time.Second

// Status asks the loop for the core's status; if the node is stopped or
// the loop does not answer in time, it returns the last published values.
func (n *Node) Status() Status {
	st := n.publishedStatus()
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	var cs engine.Status
	var xs driver.TransferStats
	if err := n.do(ctx, func() { cs, xs = n.core.Status(), n.drv.TransferStats() }); err != nil {
		st.Stopped = n.isStopped()
		confStatus(&st, n.AppliedConf())
		return st
	}
	st.Term, st.Role, st.Leader, st.Commit = cs.Term, cs.Role, cs.Lead, cs.Commit
	st.LastIndex, st.FirstIndex = cs.LastIndex, cs.FirstIndex
	st.Vote, st.LastTerm, st.Voters = cs.Vote, cs.LastTerm, cs.Voters
	st.RoleName = cs.Role.String()
	confStatus(&st, cs.Conf)
	st.SnapshotTransfer = snapshotTransfer(xs)
	if cs.Progress != nil {
		st.Progress = make(map[uint64]PeerProgress, len(cs.Progress))
		for id, p := range cs.Progress {
			st.Progress[id] = PeerProgress{Match: p.Match, Next: p.Next, State: p.State.String(),
				InflightMsgs: p.InflightMsgs, InflightBytes: p.InflightBytes, RecentActive: p.RecentActive}
		}
	}
	return st
}

func (n *Node) publishedStatus() Status {
	role := engine.Role(n.pub.role.Load())
	return Status{
		ID: n.cfg.ID, Term: n.pub.term.Load(), Role: role, RoleName: role.String(),
		Leader: n.pub.lead.Load(), Commit: n.pub.commit.Load(), Applied: n.pub.applied.Load(),
		LastIndex: n.pub.lastIndex.Load(),
	}
}

// Leader returns the leader this node knows of (0: none). Lock-free.
func (n *Node) Leader() uint64 { return n.pub.lead.Load() }

// IsLeader reports whether this node is the leader. Lock-free.
func (n *Node) IsLeader() bool { return engine.Role(n.pub.role.Load()) == engine.Leader }

// Term returns the node's current term. Lock-free.
func (n *Node) Term() uint64 { return n.pub.term.Load() }

// Applied returns the highest applied index. Lock-free.
func (n *Node) Applied() uint64 { return n.pub.applied.Load() }

// Stats returns cumulative counters.
func (n *Node) Stats() Stats {
	s := Stats{
		AppendMsgs: n.stats.appendMsgs.Load(), AppendEntries: n.stats.appendEntries.Load(),
		LeaderChanges: n.stats.leaderChanges.Load(), Proposals: n.stats.proposals.Load(),
		Rejected: n.stats.rejected.Load(), Busy: n.stats.busy.Load(), Duplicates: n.stats.duplicates.Load(),
		Dropped: n.stats.dropped.Load(), Snapshots: n.stats.snapshots.Load(),
		Settled: n.stats.settled.Load(), ApplyYields: n.stats.applyYields.Load(), LogDrops: n.stats.logDrops.Load(),
		ApplyLingerWaits: n.stats.applyLingerWaits.Load(),
		SnapshotSaving:   n.stats.snapshotSaving.Load(),
	}
	ws := n.walStats()
	s.Fsyncs, s.FsyncEntries, s.Flushes, s.FsyncNanos = ws.Fsyncs, ws.Entries, ws.Flushes, ws.FsyncNanos
	s.Lingers, s.LingersRunOut = ws.Lingers, ws.LingersRunOut
	s.WALIdleNanos, s.LingerNanos, s.WALWriteNanos = ws.IdleNanos, ws.LingerNanos, ws.WriteNanos
	return s
}

// updateProgressMetrics refreshes gauges that are cheap to read but not
// worth touching on every Ready (loop goroutine).
func (n *Node) updateProgressMetrics() {
	n.m.term.Set(float64(n.pub.term.Load()))
	n.m.commit.Set(float64(n.pub.commit.Load()))
	n.m.lastIndex.Set(float64(n.pub.lastIndex.Load()))
	if n.core.Role() != engine.Leader {
		return
	}
	for id, p := range n.core.Status().Progress {
		n.m.inflight.WithLabelValues(strconv.FormatUint(id, 10)).Set(float64(p.InflightMsgs))
	}
}

// walStats reads the WAL's group-commit counters when it exposes them.
func (n *Node) walStats() wal.Stats {
	if s, ok := n.log.(interface{ Stats() wal.Stats }); ok {
		return s.Stats()
	}
	return wal.Stats{}
}
