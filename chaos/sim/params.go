package sim

import (
	"fmt"
	"strings"
)

// Params is everything a seed decides about a run. Every field is drawn
// by drawParams from the run's PRNG; nothing else is random. Durations
// are virtual microseconds, probabilities are per mille (units last).
type Params struct {
	Seed  uint64
	Nodes int
	// Spares are further nodes (Nodes+1..Nodes+Spares) drawn with
	// membership changes, so that even a 3-node cluster can shrink. They
	// start as non-voters and join when a membership change adds them
	// (until 869edf4 they were voters from the start: the core refused
	// messages from senders outside the receiver's configuration, seed
	// 2257; results/sim.md, core findings).
	Spares int

	PreVote        bool
	CheckQuorum    bool
	ElectionTicks  int
	HeartbeatTicks int
	TickUs         int64
	// TickSkewPermille[i] stretches node i's tick interval by that much
	// (one per node, spares included)
	// (positive or negative): clocks that run at different rates.
	TickSkewPermille []int

	// Network: one-way latency is uniform in [LatMinUs, LatMaxUs]; with
	// LatTailPermille a message is slowed by LatTailMult (a tail that
	// reorders messages); DropPermille / DupPermille lose or duplicate a
	// message; ReorderPermille adds up to ReorderMaxUs extra delay.
	LatMinUs        int64
	LatMaxUs        int64
	LatTailPermille int
	LatTailMult     int64
	DropPermille    int
	DupPermille     int
	ReorderPermille int
	ReorderMaxUs    int64
	// ClientDropPermille loses a client request or reply.
	ClientDropPermille int

	// Partitions: a new partition every PartGap (mean) lasting PartDur.
	PartGapUs int64
	PartDurUs int64

	// Crashes: one every CrashGapUs (mean) while fewer than MaxDown nodes
	// are down; restart after RestartMin..RestartMax. A crash loses
	// unsynced writes with LoseUnsyncedPermille and additionally tears
	// the last record with TearPermille. TargetLeaderPermille aims the
	// crash at the current leader.
	CrashGapUs           int64
	RestartMinUs         int64
	RestartMaxUs         int64
	MaxDown              int
	LoseUnsyncedPermille int
	TearPermille         int
	TargetLeaderPermille int
	// FlipPermille corrupts a synced record in a crash (wal.FlipSynced);
	// the node's log must refuse to open and the node stays down.
	FlipPermille int
	// Buggify (FoundationDB style): crash a voter right after its vote
	// grant leaves, or a new leader right after its election, and
	// restart it quickly.
	BuggifyVotePermille   int
	BuggifyLeaderPermille int

	// Disk: fsync latency uniform in [FsyncMinUs, FsyncMaxUs]; with
	// FsyncSlowPermille it takes FsyncSlowMult times longer; with
	// FsyncFailPermille it fails (the node then crashes, as a real node
	// must after a failed fsync).
	FsyncMinUs        int64
	FsyncMaxUs        int64
	FsyncSlowPermille int
	FsyncSlowMult     int64
	FsyncFailPermille int

	// Clients.
	Clients         int
	Keys            int
	ThinkMaxUs      int64
	ClientTimeoutUs int64
	MaxAttempts     int
	ReadPermille    int
	CasPermille     int

	// Log compaction: a node snapshots its state machine and compacts its
	// log every SnapEvery applied entries (0: never).
	SnapEvery int
	// LongOutagePermille of crashes keep the node down for
	// LongOutageMinUs..2x that, so it falls behind the leader's snapshot
	// and must be caught up by MsgSnap.
	LongOutagePermille int
	LongOutageMinUs    int64
	// Streamed snapshots: chunks of at most SnapChunkBytes, at most
	// SnapChunksInFlight unacknowledged; under faults SnapCutPermille of
	// chunks (and their answers) are lost on top of DropPermille, and
	// SnapCrashPermille of chunks crash the sender or the receiver as
	// the chunk leaves.
	SnapChunkBytes     int
	SnapChunksInFlight int
	SnapCutPermille    int
	SnapCrashPermille  int
	// The resident log (driver.SetResidentLogBytes): once ResidentBytes
	// of entry data were applied, a node drops all but its last
	// KeepApplied applied entries from memory (0: never), so followers
	// that fall further behind need a snapshot, fresh or not.
	ResidentBytes int
	KeepApplied   int
	// LazyCommit (engine.Config.LazyCommit, the runtime's default): a
	// follower learns a commit index with the next entries or heartbeat
	// unless it waits for it.
	LazyCommit bool
	// Leadership transfer (thesis §3.10): every TransferGapUs (mean) the
	// leader is asked to hand over to a random voter (0: never).
	TransferGapUs int64
	// Membership changes (thesis §4.1, one voter at a time): every
	// ConfGapUs (mean) the leader is asked to add a non-voter or remove a
	// voter, never below MinVoters voters (0: never).
	ConfGapUs int64
	// RichConfPermille of membership events are a learner added or
	// promoted, a voter replaced through joint consensus, an explicit
	// joint configuration left, or the leader removed (0: only single
	// voter changes).
	RichConfPermille int

	// Phases.
	FaultPhaseUs  int64
	LivenessTicks int
	DrainUs       int64
	MaxOpsPerKey  int
	// MaxUnsurePerKey caps writes per key that are pending or ended
	// indeterminate; beyond it the key only gets reads.
	MaxUnsurePerKey int

	// LeaseReads turns on the core's lease reads (thesis §6.4.1), drawn
	// for half the seeds with CheckQuorum from a side stream of the seed
	// (so the other parameters keep their meaning). MaxClockDrift is the
	// bound the nodes are configured with: exactly the largest ratio of
	// two nodes' tick intervals minus one, i.e. the skew drawn above is
	// within it (Options.LeaseDriftUnderstated breaks that on purpose).
	LeaseReads    bool
	MaxClockDrift float64
}

// leaseStream is mixed into the seed for the lease-read draw.
const leaseStream = 0x1ea5e0ead5

// drawLease decides lease reads from a side stream of the seed and sets
// the drift bound the drawn tick skews need. A seed whose bound leaves no
// usable lease (engine.Config.Validate: more ticks than a heartbeat
// interval) runs without lease reads.
func drawLease(p *Params, force bool) {
	r := newRNG(p.Seed ^ leaseStream)
	p.LeaseReads = force || (p.CheckQuorum && r.Permille(500))
	if !p.LeaseReads {
		return
	}
	p.CheckQuorum = true
	lo, hi := p.TickSkewPermille[0], p.TickSkewPermille[0]
	for _, sk := range p.TickSkewPermille {
		lo, hi = min(lo, sk), max(hi, sk)
	}
	p.MaxClockDrift = float64(1000+hi)/float64(1000+lo) - 1
	if force {
		// The nodes are told their clocks agree (0 would mean the default
		// bound); the simulator makes a leader's ticks slow (onTick).
		p.MaxClockDrift = 1e-9
		return
	}
	if lease := int(float64(p.ElectionTicks-1) / (1 + p.MaxClockDrift)); lease <= p.HeartbeatTicks {
		p.LeaseReads, p.MaxClockDrift = false, 0
	}
}

// drawParams draws a run's parameters. The order of draws is part of the
// replay contract: changing it changes what every seed means.
func drawParams(seed uint64, r *rng) Params {
	p := Params{Seed: seed}
	p.Nodes = []int{3, 5, 7}[r.Pick(55, 35, 10)]
	p.PreVote = r.Permille(500)
	p.CheckQuorum = r.Permille(500)
	p.ElectionTicks = int(r.Between(6, 14))
	p.HeartbeatTicks = int(r.Between(1, 2))
	p.TickUs = 10_000
	skew := r.Between(0, 300)
	for i := 0; i < p.Nodes; i++ {
		p.TickSkewPermille = append(p.TickSkewPermille, int(r.Between(-skew, skew)))
	}
	drawNetwork(&p, r)
	drawFaults(&p, r)
	drawClients(&p, r)
	p.FaultPhaseUs = r.Between(2_000_000, 6_000_000)
	p.LivenessTicks = 40 * p.ElectionTicks
	p.DrainUs = 4 * p.ClientTimeoutUs
	p.MaxOpsPerKey = 120
	p.MaxUnsurePerKey = 10
	drawFeatures(&p, r)
	drawSnapStream(&p, r)
	drawResidentLog(&p, newRNG(seed^residentLogSalt))
	p.LazyCommit = newRNG(seed ^ lazyCommitSalt).Permille(500)
	drawMembership(&p, r)
	return p
}

// MinVoters is the smallest configuration membership changes leave.
const MinVoters = 3

// procs is the number of simulated nodes: voters at bootstrap and spares.
func (p Params) procs() int { return p.Nodes + p.Spares }

// drawFeatures draws compaction, transfers and membership changes (drawn
// last, so the earlier parameters of a seed keep their meaning).
func drawFeatures(p *Params, r *rng) {
	switch r.Pick(15, 50, 35) {
	case 0:
		p.SnapEvery = 0
	case 1:
		p.SnapEvery = int(r.Between(3, 20))
	default:
		p.SnapEvery = int(r.Between(20, 200))
	}
	p.LongOutagePermille = int(r.Between(0, 300))
	p.LongOutageMinUs = r.Between(500_000, 1_500_000)
	if r.Permille(750) {
		p.TransferGapUs = r.Between(200_000, 2_000_000)
	}
	if r.Permille(600) {
		p.ConfGapUs = r.Between(150_000, 1_500_000)
		p.Spares = int(r.Between(0, 2))
		if p.Nodes == MinVoters {
			p.Spares = int(r.Between(1, 2)) // a 3-voter cluster can only grow first
		}
	}
	for i := 0; i < p.Spares; i++ {
		p.TickSkewPermille = append(p.TickSkewPermille, int(r.Between(-150, 150)))
	}
}

// drawSnapStream draws how snapshots stream (drawn after everything
// else, so older seeds keep their meaning up to here). Chunks are small
// so the simulator's small states still take several.
func drawSnapStream(p *Params, r *rng) {
	p.SnapChunkBytes = int(r.Between(8, 256))
	p.SnapChunksInFlight = int(r.Between(1, 4))
	p.SnapCutPermille = int(r.Between(0, 200))
	p.SnapCrashPermille = int(r.Between(0, 40))
}

// drawResidentLog draws the resident log limit from a stream of its own
// (r is seeded from the seed and residentLogSalt), so the run's stream
// and with it every older seed's schedule stay as they were: off in a
// third of the seeds, else a few entries' worth, so drops and snapshots
// asked for by a leader happen all the time.
func drawResidentLog(p *Params, r *rng) {
	if r.Permille(333) {
		return
	}
	p.ResidentBytes = int(r.Between(16, 2048))
	p.KeepApplied = int(r.Between(1, 40))
}

// residentLogSalt seeds drawResidentLog's stream ("resident").
const residentLogSalt = 0x7265736964656e74

// lazyCommitSalt seeds LazyCommit's draw ("lazycomm"), a stream of its
// own for the same reason.
const lazyCommitSalt = 0x6c617a79636f6d6d

func drawNetwork(p *Params, r *rng) {
	switch r.Pick(40, 40, 20) {
	case 0: // LAN-ish
		p.LatMinUs, p.LatMaxUs = r.Between(100, 1000), r.Between(1000, 5000)
	case 1: // WAN-ish, latency near the tick
		p.LatMinUs, p.LatMaxUs = r.Between(1000, 10_000), r.Between(10_000, 30_000)
	default: // wide spread: heavy reordering
		p.LatMinUs, p.LatMaxUs = r.Between(100, 2000), r.Between(20_000, 60_000)
	}
	p.LatTailPermille = int(r.Between(0, 50))
	p.LatTailMult = r.Between(3, 20)
	if r.Permille(250) {
		p.DropPermille = 0
	} else {
		p.DropPermille = int(r.Between(1, 150))
	}
	p.DupPermille = int(r.Between(0, 80))
	p.ReorderPermille = int(r.Between(0, 100))
	p.ReorderMaxUs = r.Between(10_000, 200_000)
	p.ClientDropPermille = int(r.Between(0, 30))
}

func drawFaults(p *Params, r *rng) {
	p.PartGapUs = r.Between(100_000, 1_500_000)
	p.PartDurUs = r.Between(50_000, 1_000_000)
	p.CrashGapUs = r.Between(100_000, 1_500_000)
	p.RestartMinUs = r.Between(1_000, 50_000)
	p.RestartMaxUs = p.RestartMinUs + r.Between(10_000, 800_000)
	p.MaxDown = int(r.Between(1, int64(p.Nodes)))
	p.LoseUnsyncedPermille = int(r.Between(0, 1000))
	p.TearPermille = int(r.Between(0, 600))
	p.TargetLeaderPermille = int(r.Between(100, 700))
	p.FlipPermille = int(r.Between(0, 20))
	p.BuggifyVotePermille = int(r.Between(0, 600))
	p.BuggifyLeaderPermille = int(r.Between(0, 300))
	p.FsyncMinUs = r.Between(50, 2000)
	p.FsyncMaxUs = p.FsyncMinUs + r.Between(0, 20_000)
	p.FsyncSlowPermille = int(r.Between(0, 60))
	p.FsyncSlowMult = r.Between(5, 50)
	if r.Permille(400) {
		p.FsyncFailPermille = 0
	} else {
		p.FsyncFailPermille = int(r.Between(1, 15))
	}
}

func drawClients(p *Params, r *rng) {
	p.Clients = int(r.Between(2, 6))
	p.Keys = int(r.Between(1, 4))
	p.ThinkMaxUs = r.Between(0, 30_000)
	p.ClientTimeoutUs = r.Between(100_000, 600_000)
	p.MaxAttempts = int(r.Between(1, 5))
	p.ReadPermille = int(r.Between(200, 600))
	p.CasPermille = int(r.Between(100, 500))
}

// String prints the drawn parameters, one group per line.
func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d nodes=%d prevote=%v checkquorum=%v election_ticks=%d heartbeat_ticks=%d tick_us=%d tick_skew_permille=%v\n",
		p.Seed, p.Nodes, p.PreVote, p.CheckQuorum, p.ElectionTicks, p.HeartbeatTicks, p.TickUs, p.TickSkewPermille)
	fmt.Fprintf(&b, "network: latency_us=[%d,%d] tail=%d‰ x%d drop=%d‰ dup=%d‰ reorder=%d‰ (+≤%dus) client_drop=%d‰\n",
		p.LatMinUs, p.LatMaxUs, p.LatTailPermille, p.LatTailMult, p.DropPermille, p.DupPermille,
		p.ReorderPermille, p.ReorderMaxUs, p.ClientDropPermille)
	fmt.Fprintf(&b, "partitions: gap_mean_us=%d dur_mean_us=%d\n", p.PartGapUs, p.PartDurUs)
	fmt.Fprintf(&b, "crashes: gap_mean_us=%d restart_us=[%d,%d] max_down=%d lose_unsynced=%d‰ tear_last=%d‰ flip_synced=%d‰ target_leader=%d‰\n",
		p.CrashGapUs, p.RestartMinUs, p.RestartMaxUs, p.MaxDown, p.LoseUnsyncedPermille, p.TearPermille, p.FlipPermille, p.TargetLeaderPermille)
	fmt.Fprintf(&b, "buggify: crash_after_vote=%d‰ crash_new_leader=%d‰\n", p.BuggifyVotePermille, p.BuggifyLeaderPermille)
	fmt.Fprintf(&b, "disk: fsync_us=[%d,%d] slow=%d‰ x%d fail=%d‰\n",
		p.FsyncMinUs, p.FsyncMaxUs, p.FsyncSlowPermille, p.FsyncSlowMult, p.FsyncFailPermille)
	fmt.Fprintf(&b, "clients: n=%d keys=%d think_max_us=%d timeout_us=%d attempts=%d read=%d‰ cas=%d‰\n",
		p.Clients, p.Keys, p.ThinkMaxUs, p.ClientTimeoutUs, p.MaxAttempts, p.ReadPermille, p.CasPermille)
	fmt.Fprintf(&b, "features: spares=%d snap_every=%d long_outage=%d‰ (>=%dus) transfer_gap_us=%d conf_gap_us=%d rich_conf=%d‰\n",
		p.Spares, p.SnapEvery, p.LongOutagePermille, p.LongOutageMinUs, p.TransferGapUs, p.ConfGapUs, p.RichConfPermille)
	fmt.Fprintf(&b, "reads: lease=%v max_clock_drift=%.3f\n", p.LeaseReads, p.MaxClockDrift)
	fmt.Fprintf(&b, "snapshot stream: chunk_bytes=%d in_flight=%d cut=%d‰ crash=%d‰\n",
		p.SnapChunkBytes, p.SnapChunksInFlight, p.SnapCutPermille, p.SnapCrashPermille)
	fmt.Fprintf(&b, "resident log: bytes=%d keep_applied=%d\n", p.ResidentBytes, p.KeepApplied)
	fmt.Fprintf(&b, "lazy commit: %v\n", p.LazyCommit)
	fmt.Fprintf(&b, "phases: fault_us=%d liveness_ticks=%d drain_us=%d", p.FaultPhaseUs, p.LivenessTicks, p.DrainUs)
	return b.String()
}
