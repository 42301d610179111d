package sim

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
)

// Options are the caller's switches; everything else comes from the seed.
type Options struct {
	// EngineBugs switches on deliberate core bugs (needs -tags raftbugs).
	EngineBugs []engine.Bug
	// DriverBugs switches on deliberate bugs in the driver the runtime
	// shares with the simulator (needs -tags raftbugs).
	DriverBugs []driver.Bug
	// ForgetVoteOnRestart makes the driver drop HardState.Vote when a
	// node restarts: the sixth known bug, implemented here because it is
	// a storage/driver mistake. Needs -tags raftbugs.
	ForgetVoteOnRestart bool
	// LeaseDriftUnderstated runs every seed with lease reads and
	// CheckQuorum on, tells the nodes their clocks agree (MaxClockDrift
	// about 0) and then breaks that: besides the drawn skew, a leader's
	// clock runs ten times slower while a partition is on. It shows the
	// checks catch the stale reads a broken bound allows. A
	// configuration, not a code bug: works in any build.
	LeaseDriftUnderstated bool
	// TraceEvents is how many recent events to keep for the failure
	// report (0: DefaultTraceEvents).
	TraceEvents int
	// CheckTimeout bounds the linearizability search per key (0: check's
	// default).
	CheckTimeout int64 // nanoseconds
	// MaxEvents stops a run that has not ended after this many events
	// (0: DefaultMaxEvents); hitting it is a harness failure.
	MaxEvents uint64
	// Trace keeps the event tail and diagram even when the run passes.
	Trace bool
	// Observer, when set, sees every event as a Step (a viewer's replay);
	// it must not keep the Step's slices beyond the call's return if it
	// changes them.
	Observer func(Step)
	// ConsequencesOnly turns off the membership rules checked when a
	// leader appends a change (one change at a time, own-term commit
	// first), so that a membership bug can only be caught by what it
	// does: two leaders in a term, disjoint majorities, a lost or
	// contradicted committed entry, a non-linearizable history. It
	// measures how far the end-to-end invariants reach on their own.
	ConsequencesOnly bool
	// Faults, if set, numbers every fault the run injects and may
	// suppress some (the shrinker's hook, see shrink.go).
	Faults *FaultFilter
	// Tune, if set, changes the seed's drawn parameters before the run
	// starts (fewer clients, faults sooner...: the tunings the trace
	// shrinker may try, shrink.go). The result's Params are the tuned ones.
	Tune func(*Params)

	// record, script and played: see Record and ReplayScript.
	record *Script
	script *Script
	played *[]int
}

// Defaults for Options.
const (
	DefaultTraceEvents = 400
	DefaultMaxEvents   = 1_000_000
)

// ErrBugsNotBuilt: a bug switch was requested from a normal build.
var ErrBugsNotBuilt = errors.New("sim: bug switches need a binary built with -tags raftbugs")

// Failure describes why a run failed.
type Failure struct {
	Kind      string // safety, liveness, linearizability, panic, harness
	Invariant string
	Detail    string
	Event     uint64 // event number at which it was found
	AtUs      int64  // virtual time
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s violation (%s) at event %d, t=%.3fms: %s", f.Kind, f.Invariant, f.Event, float64(f.AtUs)/1000, f.Detail)
}

// Stats counts what a run did, in particular the faults it injected.
type Stats struct {
	Events            uint64
	MsgsSent          uint64
	MsgsDelivered     uint64
	MsgsDropped       uint64 // lost by the lossy link
	MsgsBlocked       uint64 // lost to a partition
	MsgsToDownNode    uint64
	MsgsDuplicated    uint64
	MsgsReordered     uint64
	ClientMsgsDropped uint64
	Partitions        uint64
	PartitionShapes   [5]uint64
	Crashes           uint64
	CrashModes        [numCrashModes]uint64 // by crashMode
	// CorruptionsDetected counts flipped synced records the log refused
	// to open.
	CorruptionsDetected uint64
	WritesLost          uint64 // unsynced writes lost in crashes
	TornWrites          uint64
	Restarts            uint64
	Syncs               uint64
	SlowFsyncs          uint64
	FsyncFailures       uint64
	Elections           uint64
	OpsOK               uint64
	OpsFail             uint64
	OpsInfo             uint64
	LogOpsOK            uint64
	VirtualUs           int64

	// Compaction and snapshots (§7).
	SnapsTaken           uint64 // local snapshots + log compactions
	SnapsSent            uint64 // snapshot streams started (first chunk sent)
	SnapChunksSent       uint64
	SnapChunksCut        uint64 // chunks and answers lost to SnapCutPermille
	SnapChunksRefused    uint64 // chunks the receiver refused (offset, stale, duplicate...)
	SnapTransferCrashes  uint64 // crashes drawn as a chunk left
	SnapsInstalled       uint64 // Ready.Snapshot installed by followers
	RestartsFromSnapshot uint64
	// The resident log (Params.ResidentBytes): drops of applied entries
	// from a core's memory, and batches in which a leader asked for a
	// fresh snapshot for a follower behind the dropped entries.
	LogDrops           uint64
	SnapshotWantedAsks uint64
	LazyCommitRuns     uint64 // runs with Params.LazyCommit (1 or 0 per run)
	LongOutages        uint64 // crashes kept down long enough to fall behind
	// Leadership transfer (thesis §3.10).
	TransfersStarted   uint64
	TransfersCompleted uint64 // the target won the next election
	TransfersAborted   uint64 // timed out, or someone else won
	TransfersRefused   uint64
	// Membership (thesis §4.1).
	ConfChangesProposed uint64
	ConfChangesRefused  uint64          // by the core: change in progress, transfer in progress, ...
	ConfChangesSkipped  uint64          // by the driver's strict check: it would leave too few voters up
	Membership          MembershipStats // committed changes, by kind
	MsgsFromNonMember   uint64          // delivered from a sender outside the receiver's configuration
	// LeaseReads counts reads of a multi-voter cluster whose read index
	// came back in the event that asked for it: answered from the
	// leader's lease (thesis §6.4.1), no round trip.
	LeaseReads uint64
	// Settled counts writes answered before their batch was applied
	// (blind commands, driver.SettleHooks).
	Settled uint64

	// Driver paths (engine/driver, the runtime's code) the run took.
	Driver DriverStats
}

// DriverStats counts the paths through the shared driver, summed over
// every node and incarnation.
type DriverStats struct {
	AcksAfterPersist   uint64 // MessagesAfterPersist sent once their write was durable
	HardStateSaves     uint64 // writes carrying a hard state
	CommitSaves        uint64 // ... of which only the commit index had moved
	SnapshotsInstalled uint64 // leader snapshots persisted by the driver
	SnapshotsRestored  uint64 // snapshots restored by the applier (installs and restarts)
	SnapshotsTaken     uint64 // snapshots the applier's policy asked for
	Commands           uint64 // client commands applied
	SessionHits        uint64 // duplicates answered from the session table
	SessionExpired     uint64 // requests older than their session's window
	SessionEvictions   uint64 // sessions dropped from a full table
}

func (d *DriverStats) add(o DriverStats) {
	d.AcksAfterPersist += o.AcksAfterPersist
	d.HardStateSaves += o.HardStateSaves
	d.CommitSaves += o.CommitSaves
	d.SnapshotsInstalled += o.SnapshotsInstalled
	d.SnapshotsRestored += o.SnapshotsRestored
	d.SnapshotsTaken += o.SnapshotsTaken
	d.Commands += o.Commands
	d.SessionHits += o.SessionHits
	d.SessionExpired += o.SessionExpired
	d.SessionEvictions += o.SessionEvictions
}

// addDriver adds one incarnation's driver counters.
func (s *Stats) addDriver(d driver.Stats, a driver.ApplyStats) {
	s.Driver.add(DriverStats{
		AcksAfterPersist: d.AcksAfterPersist, HardStateSaves: d.HardStateSaves, CommitSaves: d.CommitSaves,
		SnapshotsInstalled: d.SnapshotsInstalled, SnapshotsRestored: a.SnapshotsRestored, SnapshotsTaken: a.SnapshotsTaken,
		Commands: a.Commands, SessionHits: a.SessionHits, SessionExpired: a.SessionExpired, SessionEvictions: a.SessionEvictions,
	})
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.Events += o.Events
	s.MsgsSent += o.MsgsSent
	s.MsgsDelivered += o.MsgsDelivered
	s.MsgsDropped += o.MsgsDropped
	s.MsgsBlocked += o.MsgsBlocked
	s.MsgsToDownNode += o.MsgsToDownNode
	s.MsgsDuplicated += o.MsgsDuplicated
	s.MsgsReordered += o.MsgsReordered
	s.ClientMsgsDropped += o.ClientMsgsDropped
	s.Partitions += o.Partitions
	for i := range s.PartitionShapes {
		s.PartitionShapes[i] += o.PartitionShapes[i]
	}
	s.Crashes += o.Crashes
	for i := range s.CrashModes {
		s.CrashModes[i] += o.CrashModes[i]
	}
	s.CorruptionsDetected += o.CorruptionsDetected
	s.WritesLost += o.WritesLost
	s.TornWrites += o.TornWrites
	s.Restarts += o.Restarts
	s.Syncs += o.Syncs
	s.SlowFsyncs += o.SlowFsyncs
	s.FsyncFailures += o.FsyncFailures
	s.Elections += o.Elections
	s.OpsOK += o.OpsOK
	s.OpsFail += o.OpsFail
	s.OpsInfo += o.OpsInfo
	s.LogOpsOK += o.LogOpsOK
	s.VirtualUs += o.VirtualUs
	s.SnapsTaken += o.SnapsTaken
	s.SnapsSent += o.SnapsSent
	s.SnapChunksSent += o.SnapChunksSent
	s.SnapChunksCut += o.SnapChunksCut
	s.SnapChunksRefused += o.SnapChunksRefused
	s.SnapTransferCrashes += o.SnapTransferCrashes
	s.SnapsInstalled += o.SnapsInstalled
	s.LogDrops += o.LogDrops
	s.SnapshotWantedAsks += o.SnapshotWantedAsks
	s.LazyCommitRuns += o.LazyCommitRuns
	s.RestartsFromSnapshot += o.RestartsFromSnapshot
	s.LongOutages += o.LongOutages
	s.TransfersStarted += o.TransfersStarted
	s.TransfersCompleted += o.TransfersCompleted
	s.TransfersAborted += o.TransfersAborted
	s.TransfersRefused += o.TransfersRefused
	s.ConfChangesProposed += o.ConfChangesProposed
	s.ConfChangesRefused += o.ConfChangesRefused
	s.ConfChangesSkipped += o.ConfChangesSkipped
	s.Membership.add(o.Membership)
	s.MsgsFromNonMember += o.MsgsFromNonMember
	s.Settled += o.Settled
	s.Driver.add(o.Driver)
}

// Result is the outcome of one seed.
type Result struct {
	Seed      uint64
	Params    Params
	Failure   *Failure // nil: the run passed
	TraceHash uint64
	Stats     Stats
	History   []check.Op
	Check     *check.Result // nil if the run failed before checking
	// Tail is the recorded events (oldest first) as text, and Diagram a
	// Mermaid sequence diagram of their messages.
	Tail    []string
	Diagram string
}

type phase uint8

const (
	phaseFault    phase = iota // faults on
	phaseLiveness              // healed: a new write must commit
	phaseDrain                 // no new operations; let answers arrive
	phaseDone
)

// Sim is one run. It is single-goroutine and never shared.
type Sim struct {
	p    Params
	r    *rng
	opts Options

	now     int64
	q       eventQueue
	eventNo uint64
	phase   phase

	nodes   []*simNode
	cut     []bool // cut[from*N+to]: link blocked by the current partition
	clients []*client

	lastWritten map[string]string // workload only: recent value per key
	unsure      map[string]int    // per key: writes pending or indeterminate
	opsIssued   int

	healUs   int64
	liveOK   bool
	liveAtUs int64

	xfer *transfer // the leadership transfer in progress, if any

	chk      *checker
	tr       *tracer
	stats    Stats
	failure  *Failure
	history  []check.Op
	checkRes *check.Result

	// Observer state: messages the current event sent, whether its
	// delivery reached the core, and the last message ID handed out.
	sentNow   []StepMsg
	delivered bool
	msgSeq    uint64

	// pending holds a replay's scheduled events by identity (replay.go).
	pending map[uint64][]*event
	// step is the script step being replayed, stepFaults the faults it
	// has drawn so far.
	step       *TraceStep
	stepFaults int
}

// Run executes one seed to completion and checks it.
func Run(seed uint64, opts Options) (res Result) {
	if (len(opts.EngineBugs) > 0 || len(opts.DriverBugs) > 0 || opts.ForgetVoteOnRestart) && !bugsBuilt() {
		return Result{Seed: seed, Failure: &Failure{Kind: "harness", Invariant: "build", Detail: ErrBugsNotBuilt.Error()}}
	}
	r := newRNG(seed)
	p := drawParams(seed, r)
	drawLease(&p, opts.LeaseDriftUnderstated)
	if opts.Tune != nil {
		opts.Tune(&p)
	}
	s := newSim(p, r, opts)
	if p.LazyCommit {
		s.stats.LazyCommitRuns = 1
	}
	defer func() {
		if v := recover(); v != nil {
			s.fail("panic", "core or driver panicked", "%v\n%s", v, debug.Stack())
			res = s.result()
		}
	}()
	s.startTape()
	s.bootstrap()
	if s.opts.script != nil {
		s.replayLoop()
	} else {
		s.loop()
	}
	if s.failure == nil {
		s.checkHistory()
	}
	return s.result()
}
