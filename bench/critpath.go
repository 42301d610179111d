package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// Critical-path attribution of the inproc target (options critical-path,
// critical-path-after, critical-path-floor): every node reports when each
// log index reached each node.Stage (node.Probe); after the run the
// recorder pairs the leader's stages with its followers' and splits one
// write's latency into hops between goroutines and replicas, along the
// path that actually completed its quorum.

// critPathWindow is how many consecutive log indexes are recorded (from
// the first proposed after the warm-up delay); about 9 MB per node.
const critPathWindow = 100_000

// critPathNodes bounds the node IDs the recorder keeps (IDs 1..N).
const critPathNodes = 8

// critPathRecorder is a node.Probe that keeps, for a window of log
// indexes, the first time each (node, stage) saw each index.
type critPathRecorder struct {
	base   time.Time
	armAt  time.Time
	lo     atomic.Uint64 // first recorded index; 0 until armed
	stages [critPathNodes + 1][node.NumStages]critPathSlots

	// ReadIndex rounds (node.ReadProbe), by node and round, issued after
	// armAt; at most critPathWindow of them.
	readMu sync.Mutex
	reads  map[critPathRound]*[node.NumReadStages]int64
}

type critPathRound struct{ node, round uint64 }

// MarkRead implements node.ReadProbe.
func (r *critPathRecorder) MarkRead(id, round uint64, stage node.ReadStage, at time.Time) {
	if stage >= node.NumReadStages {
		return
	}
	ns := max(int64(at.Sub(r.base)), 1)
	k := critPathRound{id, round}
	r.readMu.Lock()
	defer r.readMu.Unlock()
	st := r.reads[k]
	if st == nil {
		// A round is recorded from its first stage (queued), once the
		// warm-up delay has passed.
		if stage != node.ReadQueued || at.Before(r.armAt) || len(r.reads) >= critPathWindow {
			return
		}
		if r.reads == nil {
			r.reads = make(map[critPathRound]*[node.NumReadStages]int64)
		}
		st = new([node.NumReadStages]int64)
		r.reads[k] = st
	}
	if st[stage] == 0 {
		st[stage] = ns
	}
}

// critPathReadHops names the hops of a ReadIndex round, in path order.
var critPathReadHops = []struct{ name, what string }{
	{"read queue", "Read called → the loop drained it into a ReadIndex (waiting for a loop turn)"},
	{"heartbeat round", "ReadIndex → the loop took the Ready with its read state (heartbeats out in that turn's Ready, the followers' loops answer, the leader's loop steps a quorum's answers)"},
	{"apply wait", "read state handed to the apply goroutine → reads answered (its wake-up; applied >= the read index)"},
	{"read reply", "answered → Read returned (client wake-up)"},
}

// readReport attributes the recorded rounds of the node that served the
// most of them (the leader); nil when no round was complete.
func (r *critPathRecorder) readReport() *CritPathReads {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	perNode := map[uint64]int{}
	for k, st := range r.reads {
		if complete(st[:]) {
			perNode[k.node]++
		}
	}
	var best uint64
	for id, c := range perNode {
		if best == 0 || c > perNode[best] {
			best = id
		}
	}
	if best == 0 {
		return nil
	}
	vals := make([][]float64, len(critPathReadHops))
	var totals []float64
	out := &CritPathReads{Node: best}
	for k, st := range r.reads {
		if k.node != best || !complete(st[:]) {
			continue
		}
		out.Rounds++
		for h := range critPathReadHops {
			vals[h] = append(vals[h], float64(st[h+1]-st[h])/1e3)
		}
		totals = append(totals, float64(st[node.ReadReturned]-st[node.ReadQueued])/1e3)
	}
	for h, x := range critPathReadHops {
		hop := summarizeHop(x.name, x.what, vals[h])
		hop.OnPathMeanUs = hop.MeanUs
		out.Hops = append(out.Hops, hop)
	}
	out.Total = summarizeHop("total", "Read called → returned", totals)
	out.Total.OnPathMeanUs = out.Total.MeanUs
	return out
}

func complete(st []int64) bool {
	for _, t := range st {
		if t == 0 {
			return false
		}
	}
	return true
}

// CritPathReads is the attribution of the ReadIndex rounds one node
// served: every round's hops are on its path.
type CritPathReads struct {
	Node   uint64        `json:"node"`
	Rounds int           `json:"rounds"`
	Hops   []CritPathHop `json:"hops"`
	Total  CritPathHop   `json:"total"`
}

type critPathSlots struct {
	mu  sync.Mutex
	hwm uint64  // highest index marked (cumulative stages)
	t   []int64 // ns since base, 0 = not seen; index lo+i at t[i]
}

func newCritPathRecorder(after time.Duration) *critPathRecorder {
	now := time.Now()
	return &critPathRecorder{base: now, armAt: now.Add(after)}
}

// Mark implements node.Probe.
func (r *critPathRecorder) Mark(id uint64, stage node.Stage, first, last uint64, at time.Time) {
	if id == 0 || id > critPathNodes || stage >= node.NumStages || last == 0 {
		return
	}
	lo := r.lo.Load()
	if lo == 0 {
		if stage != node.StageProposed || at.Before(r.armAt) {
			return
		}
		// The window starts after the indexes of this batch, so every
		// recorded index has all its stages from the start.
		r.lo.CompareAndSwap(0, last+1)
		return
	}
	hi := lo + critPathWindow
	s := &r.stages[id][stage]
	ns := int64(at.Sub(r.base))
	if ns <= 0 {
		ns = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if first == 0 {
		first = s.hwm + 1
	}
	if last > s.hwm {
		s.hwm = last
	}
	first, last = max(first, lo), min(last, hi-1)
	if first > last {
		return
	}
	if s.t == nil {
		s.t = make([]int64, critPathWindow)
	}
	for i := first; i <= last; i++ {
		if p := &s.t[i-lo]; *p == 0 {
			*p = ns
		}
	}
}

// at returns the time (ns since base) node id's stage saw index lo+i, 0
// when not seen.
func (r *critPathRecorder) at(id uint64, stage node.Stage, i int) int64 {
	s := &r.stages[id][stage]
	if s.t == nil {
		return 0
	}
	return s.t[i]
}

// CritPathHop is one hop's latency distribution over the recorded writes.
type CritPathHop struct {
	Name   string  `json:"name"`
	What   string  `json:"what"`
	Count  int     `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	// OnPathMeanUs is the hop's mean over the writes whose critical path
	// runs through it, divided over all writes (so the on-path column sums
	// to the total's mean).
	OnPathMeanUs float64 `json:"on_path_mean_us"`
}

// CritPathReport is the attribution of one run.
type CritPathReport struct {
	Leader  uint64        `json:"leader"`
	Writes  int           `json:"writes"`
	Hops    []CritPathHop `json:"hops"`
	Total   CritPathHop   `json:"total"`
	Quorum  QuorumMakers  `json:"quorum"`
	Batches BatchShape    `json:"batches"`
	Floor   *DiskFloor    `json:"floor,omitempty"`
	// WAL is each node's log fsyncs over the whole run (warm-up
	// included), from its WAL's counters.
	WAL []NodeFsyncs `json:"wal,omitempty"`
	// Reads is the attribution of the ReadIndex rounds (nil: no read).
	Reads *CritPathReads `json:"reads,omitempty"`
}

// NodeFsyncs is one node's WAL fsync count and mean fsync time.
type NodeFsyncs struct {
	Node        uint64  `json:"node"`
	Flushes     uint64  `json:"flushes"`
	Fsyncs      uint64  `json:"fsyncs"`
	FsyncMeanUs float64 `json:"fsync_mean_us"`
	// Lingers is how many group commits waited for more records,
	// LingersRunOut how many of those waits reached the WAL's limit.
	Lingers       uint64 `json:"lingers"`
	LingersRunOut uint64 `json:"lingers_run_out"`
	// The mean group commit's cycle besides its fsync (FsyncMeanUs is
	// per fsync): the flusher waiting with nothing queued, lingering,
	// and writing the segments, each per flush.
	IdleMeanUs   float64 `json:"idle_mean_us"`
	LingerMeanUs float64 `json:"linger_mean_us"`
	WriteMeanUs  float64 `json:"write_mean_us"`
}

// QuorumMakers counts which replica's report completed each write's
// quorum (the second of three: leader's own persisted write or a
// follower's ack) and how often both followers had acked before the
// leader's own write was reported.
type QuorumMakers struct {
	Leader             int `json:"leader"`
	Follower           int `json:"follower"`
	FollowersBeforeOwn int `json:"followers_before_own"`
}

// BatchShape is the mean number of recorded indexes per leader proposal
// batch, per leader WAL write and per follower WAL write.
type BatchShape struct {
	PerProposal       float64 `json:"per_proposal"`
	PerLeaderWrite    float64 `json:"per_leader_write"`
	PerFollowerWrite  float64 `json:"per_follower_write"`
	LeaderWriteUs     float64 `json:"leader_write_interval_us"`
	FollowerWriteUs   float64 `json:"follower_write_interval_us"`
	LeaderFsyncMeanUs float64 `json:"leader_fsync_mean_us"`
}

// critPathHops names the hops in path order. Follower hops are pooled
// over both followers in the distribution columns; on-path counts only
// the follower whose ack completed the quorum.
var critPathHops = []struct{ name, what string }{
	{"queue", "Propose called → the leader's loop proposed it (waiting for a loop turn)"},
	{"leader ready", "proposed → the Ready handed to the driver (MsgApps sent, WAL write submitted)"},
	{"leader wal wait", "handed → the leader's flusher began the write holding it (waiting for the write before)"},
	{"leader wal write", "that write began → durable (write + fsync)"},
	{"leader release", "durable → the leader's loop reported it to the core"},
	{"to follower", "handed → a follower's inbox has the MsgApp"},
	{"follower loop", "MsgApp in the inbox → stepped by the follower's loop"},
	{"follower ready", "stepped → the follower's Ready handed to its driver (WAL write submitted)"},
	{"follower wal wait", "handed → the follower's flusher began the write holding it (waiting for the write before)"},
	{"follower wal write", "that write began → durable (write + fsync); the ack leaves here"},
	{"ack to leader", "durable → the ack in the leader's inbox"},
	{"ack loop", "ack in the inbox → stepped by the leader's loop"},
	{"commit", "the quorum's second report (leader released or ack stepped) → a Ready carries the commit"},
	{"apply", "committed → the apply goroutine answered it (the hand-over to the apply goroutine, its wake-up, the batch's work before this answer)"},
	{"reply", "answered → Propose returned (the client goroutine's wake-up)"},
}

const (
	hopQueue = iota
	hopLeaderReady
	hopLeaderWALWait
	hopLeaderWALWrite
	hopLeaderRelease
	hopToFollower
	hopFollowerLoop
	hopFollowerReady
	hopFollowerWALWait
	hopFollowerWALWrite
	hopAckToLeader
	hopAckLoop
	hopCommit
	hopApply
	hopReply
)

// flushGap: done callbacks of one WAL flush run back to back on its
// flusher (each sends its acks), so completions closer than this to the
// previous one are taken as the same flush.
const flushGap = 30 * time.Microsecond

// writeStarts returns, for node id's durable stage, when the flush
// holding each index began: the later of the hand-over of its last index
// and the previous flush's completion (one flush in flight per WAL).
// 0: unknown.
func (r *critPathRecorder) writeStarts(id uint64, n int) (starts []int64, writes int) {
	starts = make([]int64, n)
	prevDone := int64(0)
	for i := 0; i < n; {
		d := r.at(id, node.StageDurable, i)
		if d == 0 {
			i++
			continue
		}
		j, end := i, d
		for j < n {
			dj := r.at(id, node.StageDurable, j)
			if dj == 0 || dj-end >= int64(flushGap) {
				break
			}
			end = max(end, dj)
			j++
		}
		// The write covering i..j-1 was submitted when its last index was handed.
		h := r.at(id, node.StageHanded, j-1)
		s := max(h, prevDone) // the window's first flush: from its hand-over
		if h == 0 {
			s = 0
		}
		for k := i; k < j; k++ {
			starts[k] = s
		}
		writes++
		prevDone, i = end, j
	}
	return starts, writes
}

// report builds the attribution from what was recorded.
func (r *critPathRecorder) report() (*CritPathReport, error) {
	lo := r.lo.Load()
	if lo == 0 {
		return nil, fmt.Errorf("critical path: nothing was proposed after the warm-up delay")
	}
	var leader uint64
	for id := uint64(1); id <= critPathNodes; id++ {
		if r.stages[id][node.StageProposed].t != nil {
			if leader != 0 {
				return nil, fmt.Errorf("critical path: nodes %d and %d both proposed in the window (leader change)", leader, id)
			}
			leader = id
		}
	}
	var followers []uint64
	for id := uint64(1); id <= critPathNodes; id++ {
		if id != leader && r.stages[id][node.StageDurable].t != nil {
			followers = append(followers, id)
		}
	}
	if leader == 0 || len(followers) != 2 {
		return nil, fmt.Errorf("critical path: want one leader and two followers with writes, got leader %d, followers %v", leader, followers)
	}
	n := critPathWindow
	vals := make([][]float64, len(critPathHops))
	onPath := make([]float64, len(critPathHops))
	var totals []float64
	rep := &CritPathReport{Leader: leader}
	lStart, lWrites := r.writeStarts(leader, n)
	fStart := map[uint64][]int64{}
	fWrites := 0
	for _, f := range followers {
		s, w := r.writeStarts(f, n)
		fStart[f], fWrites = s, fWrites+w
	}
	us := func(a, b int64) float64 { return float64(b-a) / 1e3 }
	proposals := map[int64]bool{}
	for i := 0; i < n; i++ {
		g := func(id uint64, s node.Stage) int64 { return r.at(id, s, i) }
		q, p, h := g(leader, node.StageQueued), g(leader, node.StageProposed), g(leader, node.StageHanded)
		ld, lr, c, ret := g(leader, node.StageDurable), g(leader, node.StageReleased), g(leader, node.StageCommitted), g(leader, node.StageReturned)
		ans := g(leader, node.StageAnswered)
		if q == 0 || p == 0 || h == 0 || ld == 0 || lr == 0 || c == 0 || ans == 0 || ret == 0 || lStart[i] == 0 {
			continue
		}
		complete := true
		type fol struct{ rcv, st, h, start, d, ar, as int64 }
		fs := make([]fol, 2)
		for k, f := range followers {
			fs[k] = fol{g(f, node.StageReceived), g(f, node.StageStepped), g(f, node.StageHanded), fStart[f][i],
				g(f, node.StageDurable), g(f, node.StageAckReceived), g(f, node.StageAckStepped)}
			x := fs[k]
			if x.rcv == 0 || x.st == 0 || x.h == 0 || x.start == 0 || x.d == 0 || x.ar == 0 || x.as == 0 {
				complete = false
			}
		}
		if !complete {
			continue
		}
		rep.Writes++
		proposals[p] = true
		add := func(hop int, a, b int64) { vals[hop] = append(vals[hop], us(a, b)) }
		add(hopQueue, q, p)
		add(hopLeaderReady, p, h)
		add(hopLeaderWALWait, h, lStart[i])
		add(hopLeaderWALWrite, lStart[i], ld)
		add(hopLeaderRelease, ld, lr)
		for _, x := range fs {
			add(hopToFollower, h, x.rcv)
			add(hopFollowerLoop, x.rcv, x.st)
			add(hopFollowerReady, x.st, x.h)
			add(hopFollowerWALWait, x.h, x.start)
			add(hopFollowerWALWrite, x.start, x.d)
			add(hopAckToLeader, x.d, x.ar)
			add(hopAckLoop, x.ar, x.as)
		}
		// The quorum (2 of 3) is complete at the second of the three reports.
		reports := []int64{lr, fs[0].as, fs[1].as}
		slices.Sort(reports)
		qt := reports[1]
		add(hopCommit, qt, c)
		add(hopApply, c, ans)
		add(hopReply, ans, ret)
		totals = append(totals, us(q, ret))
		if fs[0].as < lr && fs[1].as < lr {
			rep.Quorum.FollowersBeforeOwn++
		}
		onPath[hopQueue] += us(q, p)
		onPath[hopLeaderReady] += us(p, h)
		if qt == lr {
			rep.Quorum.Leader++
			onPath[hopLeaderWALWait] += us(h, lStart[i])
			onPath[hopLeaderWALWrite] += us(lStart[i], ld)
			onPath[hopLeaderRelease] += us(ld, lr)
		} else {
			rep.Quorum.Follower++
			x := fs[0]
			if fs[1].as == qt {
				x = fs[1]
			}
			onPath[hopToFollower] += us(h, x.rcv)
			onPath[hopFollowerLoop] += us(x.rcv, x.st)
			onPath[hopFollowerReady] += us(x.st, x.h)
			onPath[hopFollowerWALWait] += us(x.h, x.start)
			onPath[hopFollowerWALWrite] += us(x.start, x.d)
			onPath[hopAckToLeader] += us(x.d, x.ar)
			onPath[hopAckLoop] += us(x.ar, x.as)
		}
		onPath[hopCommit] += us(qt, c)
		onPath[hopApply] += us(c, ans)
		onPath[hopReply] += us(ans, ret)
	}
	if rep.Writes == 0 {
		return nil, fmt.Errorf("critical path: no write in the window was seen at every stage")
	}
	for k, h := range critPathHops {
		hop := summarizeHop(h.name, h.what, vals[k])
		hop.OnPathMeanUs = onPath[k] / float64(rep.Writes)
		rep.Hops = append(rep.Hops, hop)
	}
	rep.Total = summarizeHop("total", "Propose called → returned", totals)
	rep.Total.OnPathMeanUs = rep.Total.MeanUs
	rep.Batches.PerProposal = float64(rep.Writes) / float64(len(proposals))
	span := func(id uint64) (int, int64) { // recorded indexes and their durable time span
		first, last, k := int64(0), int64(0), 0
		for i := 0; i < n; i++ {
			if d := r.at(id, node.StageDurable, i); d != 0 {
				if first == 0 {
					first = d
				}
				last, k = d, k+1
			}
		}
		return k, last - first
	}
	if k, d := span(leader); lWrites > 1 {
		rep.Batches.PerLeaderWrite = float64(k) / float64(lWrites)
		rep.Batches.LeaderWriteUs = float64(d) / 1e3 / float64(lWrites-1)
	}
	if fWrites > 2 {
		k0, d0 := span(followers[0])
		k1, d1 := span(followers[1])
		rep.Batches.PerFollowerWrite = float64(k0+k1) / float64(fWrites)
		rep.Batches.FollowerWriteUs = float64(d0+d1) / 1e3 / float64(fWrites-2)
	}
	rep.Batches.LeaderFsyncMeanUs = rep.Hops[hopLeaderWALWrite].MeanUs
	rep.Reads = r.readReport()
	return rep, nil
}

func summarizeHop(name, what string, v []float64) CritPathHop {
	h := CritPathHop{Name: name, What: what, Count: len(v)}
	if len(v) == 0 {
		return h
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	q := func(p float64) float64 { return v[min(len(v)-1, int(math.Ceil(p*float64(len(v))))-1)] }
	h.MeanUs, h.P50Us, h.P90Us, h.P99Us = sum/float64(len(v)), q(0.50), q(0.90), q(0.99)
	return h
}

// WriteMarkdown writes the report as a table.
func (rep *CritPathReport) WriteMarkdown(w io.Writer, title string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", title)
	fmt.Fprintf(&b, "%d writes (leader %d). Quorum completed by the leader's own persisted write in %d, by a follower's ack in %d; both followers' acks stepped before the leader's own write was reported in %d.\n",
		rep.Writes, rep.Leader, rep.Quorum.Leader, rep.Quorum.Follower, rep.Quorum.FollowersBeforeOwn)
	bs := rep.Batches
	fmt.Fprintf(&b, "Indexes per proposal batch %.1f, per leader WAL write %.1f (one every %.0f µs), per follower WAL write %.1f (one every %.0f µs per follower).\n\n",
		bs.PerProposal, bs.PerLeaderWrite, bs.LeaderWriteUs, bs.PerFollowerWrite, bs.FollowerWriteUs)
	b.WriteString("| hop | mean µs | p50 µs | p90 µs | p99 µs | on the critical path, mean µs | share | what |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, h := range append(slices.Clone(rep.Hops), rep.Total) {
		share := 0.0
		if rep.Total.MeanUs > 0 {
			share = 100 * h.OnPathMeanUs / rep.Total.MeanUs
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f%% | %s |\n", h.Name, h.MeanUs, h.P50Us, h.P90Us, h.P99Us, h.OnPathMeanUs, share, h.What)
	}
	if len(rep.WAL) > 0 {
		b.WriteString("\nEach WAL's own fsync time (the syscall alone, whole run): ")
		for k, w := range rep.WAL {
			if k > 0 {
				b.WriteString(", ")
			}
			role := "follower"
			if w.Node == rep.Leader {
				role = "leader"
			}
			fmt.Fprintf(&b, "node %d (%s) %d fsyncs, mean %.0f µs, %d lingers of which %d ran out; per group commit %.0f µs idle, %.0f µs lingering, %.0f µs writing",
				w.Node, role, w.Fsyncs, w.FsyncMeanUs, w.Lingers, w.LingersRunOut, w.IdleMeanUs, w.LingerMeanUs, w.WriteMeanUs)
		}
		b.WriteString(". The \"wal write\" hops above also hold the flusher's wake-up, its linger and the write; a linger holds a group commit until as many records are queued as the last one carried, and runs out at the WAL's limit. A group commit's cycle is its idle wait (nothing queued), its linger, its write and its fsync: a log that waits for records longer than it fsyncs is held by the round trip of its writers, not by the disk.\n")
	}
	if rd := rep.Reads; rd != nil {
		fmt.Fprintf(&b, "\nReads: %d ReadIndex rounds served by node %d (a round is every read one loop turn drained).\n\n", rd.Rounds, rd.Node)
		b.WriteString("| hop | mean µs | p50 µs | p90 µs | p99 µs | share of the mean | what |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, h := range append(slices.Clone(rd.Hops), rd.Total) {
			share := 0.0
			if rd.Total.MeanUs > 0 {
				share = 100 * h.MeanUs / rd.Total.MeanUs
			}
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f%% | %s |\n", h.Name, h.MeanUs, h.P50Us, h.P90Us, h.P99Us, share, h.What)
		}
	}
	if f := rep.Floor; f != nil {
		fmt.Fprintf(&b, "\nDisk floor, same directory, right after the run (%d writers, every replica's log, %d B records, %s: the faster of the two ways of writing a log): mean %.0f µs, p50 %.0f µs, p99 %.0f µs, %.0f writes/s. Our mean write %.0f µs = %.2fx the floor's.\n",
			f.Writers, f.RecordBytes, f.Way(), f.MeanUs, f.P50Us, f.P99Us, f.WritesPerSec, rep.Total.MeanUs, rep.Total.MeanUs/f.MeanUs)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// critPathOutput is the inproc target's critical-path setup.
type critPathOutput struct {
	rec        *critPathRecorder
	file       string
	floorUsers int
	floorDir   string
	nodes      int
	valueBytes int
	wal        []NodeFsyncs // taken before the cluster stops
}

// takeWALStats records each node's fsync counters (call before Stop).
func (o *critPathOutput) takeWALStats(c interface {
	IDs() []uint64
	Node(uint64) *node.Node
}) {
	for _, id := range c.IDs() {
		n := c.Node(id)
		if n == nil {
			continue
		}
		s := n.Stats()
		w := NodeFsyncs{Node: id, Flushes: s.Flushes, Fsyncs: s.Fsyncs, Lingers: s.Lingers, LingersRunOut: s.LingersRunOut}
		if s.Fsyncs > 0 {
			w.FsyncMeanUs = float64(s.FsyncNanos) / 1e3 / float64(s.Fsyncs)
		}
		if s.Flushes > 0 {
			c := nodeLogCycle(s).perFlushUs()
			w.IdleMeanUs, w.LingerMeanUs, w.WriteMeanUs = c.Idle, c.Linger, c.Write
		}
		o.wal = append(o.wal, w)
	}
}

// finish writes FILE.md and FILE.json; with floorUsers it first measures
// the every-replica disk floor for 2 s (the cluster has stopped).
func (o *critPathOutput) finish() error {
	rep, err := o.rec.report()
	if err != nil {
		return err
	}
	rep.WAL = o.wal
	if o.floorUsers > 0 {
		f, _, err := MeasureBetterFloor(context.Background(), o.floorDir, FloorConfig{
			Nodes: o.nodes, RecordBytes: o.valueBytes + 48, Writers: o.floorUsers, EveryReplica: true, Duration: 2 * time.Second,
		}, MoreWrites)
		if err != nil {
			return err
		}
		rep.Floor = f
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.file+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(o.file + ".md")
	if err != nil {
		return err
	}
	title := strings.TrimSuffix(o.file[strings.LastIndex(o.file, "/")+1:], ".md")
	if err := rep.WriteMarkdown(f, title); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
