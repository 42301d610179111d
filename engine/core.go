package engine

import (
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// Core is one Raft node as a deterministic state machine (see the package
// documentation for the driver's contract).
type Core struct {
	id  uint64
	cfg Config
	rng splitmix64
	log raftLog

	// Persistent state (Figure 2): term and vote must be durable before
	// any message that depends on them leaves (MessagesAfterPersist).
	term uint64
	vote uint64

	role Role
	lead uint64 // known leader of term, 0 if none

	conf   raftpb.ConfState     // the latest configuration in the log, in force (thesis §4.1)
	voters []uint64             // sorted voters of conf, both halves when joint; includes id if a voter
	peers  []uint64             // sorted members (voters and learners) other than id: deterministic iteration
	prs    map[uint64]*follower // leader's view of each peer

	votes map[uint64]bool // (pre-)candidate: answers received

	electionElapsed           int
	heartbeatElapsed          int
	randomizedElectionTimeout int

	leadTransferee   uint64 // non-zero while a transfer is in progress (thesis §3.10)
	uncommittedBytes uint64 // leader: payload proposed this term, not yet committed

	reads readIndexState

	msgs       []raftpb.Message
	msgsAfter  []raftpb.Message
	readStates []ReadState
	// spareMsgs is an array the driver gave back (RecycleMessages), the
	// next Ready's Messages.
	spareMsgs []raftpb.Message
	// afterSlab is where each Ready's MessagesAfterPersist starts
	// (sendAfterPersist).
	afterSlab []raftpb.Message

	snapshot        *raftpb.Snapshot // latest from Compact, sent as MsgSnap
	pendingSnapshot *raftpb.Snapshot // received by a follower, for the next Ready

	prevSoft     SoftState
	prevHard     raftpb.HardState // term/vote as of the last Ready
	readyPending bool             // a Ready was taken and not yet Advanced

	bugs uint64

	// Membership (thesis §4.1, §4.3): conf = baseConf (the configuration
	// at the log offset) changed by the conf entries at confIndexes.
	baseConf    raftpb.ConfState
	confIndexes []uint64
	pendingConf uint64 // index of the latest conf entry in the log
	confGen     uint64 // bumped by every setConf
}

// follower is the leader's bookkeeping for one peer.
type follower struct {
	pr         *tracker.Progress
	sentCommit uint64 // commit index last advertised in a MsgApp
	// commitWanted (Config.LazyCommit) is the highest index this peer
	// waits to learn is committed: the last entry of a proposal it
	// forwarded, or a read index it was answered.
	commitWanted uint64
	readAck      uint64 // highest ReadIndex round this peer confirmed
}

// New creates a Core from cfg (defaults applied, then validated) and its
// restart state.
func New(cfg Config) (*Core, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Core{id: cfg.ID, cfg: cfg, rng: newSplitmix(cfg.Seed, cfg.ID)}
	c.reads.leaseTicks = uint64(cfg.LeaseTicks())
	for _, b := range cfg.Bugs {
		c.bugs |= 1 << b
	}
	conf := raftpb.ConfState{Voters: cfg.Voters, Learners: cfg.Learners}
	if cfg.Snapshot != nil {
		c.log.offset, c.log.offsetTerm, c.log.last = cfg.Snapshot.Index, cfg.Snapshot.Term, cfg.Snapshot.Index
		c.log.snapshotted = cfg.Snapshot.Index
		if len(cfg.Snapshot.Voters) > 0 {
			conf = cfg.Snapshot.ConfState
		}
	}
	c.setConf(conf)
	c.baseConf = c.conf.Clone()
	if err := c.loadRestartState(cfg); err != nil {
		return nil, err
	}
	for lo := c.log.offset + 1; lo <= c.log.lastIndex(); { // block by block
		ents, _ := c.log.slice(lo, c.log.lastIndex()+1, ^uint64(0))
		c.onConfEntries(ents)
		lo += uint64(len(ents))
	}
	c.becomeFollower(c.term, 0)
	c.prevSoft = SoftState{Role: Follower}
	// Compare with what is durable, so that a term adopted from the log
	// (loadRestartState) is persisted by the first Ready.
	c.prevHard = cfg.HardState
	c.check()
	return c, nil
}

// loadRestartState installs the recovered log and hard state, rejecting
// combinations that cannot come from a correct WAL.
func (c *Core) loadRestartState(cfg Config) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	ents := cfg.Entries
	for len(ents) > 0 && ents[0].Index <= c.log.offset {
		ents = ents[1:] // already covered by the snapshot
	}
	if len(ents) > 0 && ents[0].Index != c.log.offset+1 {
		return bad("restart entries start at %d, want %d", ents[0].Index, c.log.offset+1)
	}
	c.log.append(ents...) // copied into the log's own blocks
	last := c.log.lastIndex()
	hs := cfg.HardState
	applied := max(cfg.Applied, c.log.offset)
	if applied > last {
		return bad("applied %d beyond last index %d", applied, last)
	}
	c.term, c.vote = hs.Term, hs.Vote
	if lt := c.log.lastTerm(); lt > hs.Term {
		// A Ready's Snapshot (and Entries) can be durable while the hard
		// state of the same Ready is not: the driver crashed between the
		// writes (Ready: "persist Snapshot, then HardState and Entries").
		// The log then shows a term the hard state never reached. Adopting
		// it with no vote is safe: a vote leaves only in
		// MessagesAfterPersist, after the whole Ready is durable, and any
		// earlier durable vote in term lt would have left hard state term
		// >= lt. So no vote of ours exists in term lt, and none can be
		// repeated or contradicted (§5.2, one vote per term).
		c.term, c.vote = lt, 0
	}
	// A durable commit above the durable log can only mean the log lost
	// its tail; commit is re-learned from the leader, so clamp it.
	c.log.committed = max(min(hs.Commit, last), applied)
	c.log.persisted, c.log.handed = last, last
	c.log.applyHanded, c.log.applied = applied, applied
	return nil
}

// setConf installs cs as the configuration in force and derives the
// voter and peer lists from it.
func (c *Core) setConf(cs raftpb.ConfState) {
	c.conf = cs.Clone()
	c.confGen++
	c.voters = append(slices.Clone(c.conf.Voters), c.conf.VotersOutgoing...)
	slices.Sort(c.voters)
	c.voters = slices.Compact(c.voters)
	c.peers = c.peers[:0]
	for _, v := range c.conf.Members() {
		if v != c.id {
			c.peers = append(c.peers, v)
		}
	}
}

func (c *Core) isVoter(id uint64) bool {
	_, ok := slices.BinarySearch(c.voters, id)
	return ok
}

// ID returns this node's ID.
func (c *Core) ID() uint64 { return c.id }

// Term returns the current term.
func (c *Core) Term() uint64 { return c.term }

// Leader returns the known leader of the current term, or 0.
func (c *Core) Leader() uint64 { return c.lead }

// Role returns the current role.
func (c *Core) Role() Role { return c.role }

// Voters returns a copy of the current voting members (both halves of
// a joint configuration).
func (c *Core) Voters() []uint64 { return slices.Clone(c.voters) }

// IsLearner reports whether id is a learner in the configuration in force.
func (c *Core) IsLearner(id uint64) bool { return c.conf.IsLearner(id) }

// LogBounds returns the first index still in memory (snapshot index + 1)
// and the last index, without the allocations of Status (the simulator
// compares them with its mirror after every event).
func (c *Core) LogBounds() (first, last uint64) { return c.log.offset + 1, c.log.lastIndex() }

// Committed returns the commit index, without the allocations of Status
// (a runtime paces its proposals by it).
func (c *Core) Committed() uint64 { return c.log.committed }

func (c *Core) hardState() raftpb.HardState {
	return raftpb.HardState{Term: c.term, Vote: c.vote, Commit: c.log.committed}
}

// PeerProgress is the leader's view of one follower, for Status.
type PeerProgress struct {
	Match, Next   uint64
	State         tracker.StateType
	InflightMsgs  int
	InflightBytes uint64
	RecentActive  bool
}

// Status is a snapshot of the core's state for metrics and tests.
type Status struct {
	ID, Term, Vote  uint64
	Commit, Applied uint64
	Lead            uint64
	Role            Role
	FirstIndex      uint64 // first index still in memory (past SnapshotIndex once applied entries were dropped)
	SnapshotIndex   uint64 // the latest snapshot's index (restarted from, compacted to or installed)
	LastIndex       uint64
	LastTerm        uint64 // term of the entry at LastIndex
	Persisted       uint64 // highest index reported durable
	LeadTransferee  uint64
	// Voters are every voter (both halves when joint); Conf is the whole
	// configuration in force (incoming/outgoing voters, learners,
	// addresses).
	Voters []uint64
	Conf   raftpb.ConfState
	// Progress is the leader's view of each peer; nil on non-leaders.
	Progress map[uint64]PeerProgress
}

// Status reports the current state. It allocates; keep it off hot paths.
func (c *Core) Status() Status {
	s := Status{
		ID: c.id, Term: c.term, Vote: c.vote, Commit: c.log.committed, Applied: c.log.applied,
		Lead: c.lead, Role: c.role, FirstIndex: c.log.offset + 1, SnapshotIndex: c.log.snapshotted, LastIndex: c.log.lastIndex(), LastTerm: c.log.lastTerm(),
		Persisted: c.log.persisted, LeadTransferee: c.leadTransferee, Voters: slices.Clone(c.voters),
		Conf: c.conf.Clone(),
	}
	if c.role == Leader {
		s.Progress = make(map[uint64]PeerProgress, len(c.prs))
		for id, f := range c.prs {
			s.Progress[id] = PeerProgress{
				Match: f.pr.Match, Next: f.pr.Next, State: f.pr.State,
				InflightMsgs: f.pr.Inflight.Count(), InflightBytes: f.pr.Inflight.Bytes(),
				RecentActive: f.pr.RecentActive,
			}
		}
	}
	return s
}

// check asserts the cheap invariants after every input (TigerBeetle
// style: a broken invariant stops the node with a clear message).
func (c *Core) check() {
	c.log.check()
	if c.role == Leader {
		if c.lead != c.id {
			panic(fmt.Sprintf("engine: node %d is leader of term %d but records leader %d", c.id, c.term, c.lead))
		}
		for _, id := range c.peers {
			c.prs[id].pr.CheckInvariants(id)
		}
	}
	if c.vote != 0 && c.role == Candidate && c.vote != c.id {
		panic(fmt.Sprintf("engine: candidate %d voted for %d in term %d", c.id, c.vote, c.term))
	}
}

// send queues m for Ready.Messages; sendAfterPersist for
// Ready.MessagesAfterPersist (it promises something that must be durable
// first: a vote or an acknowledged entry).
//
// Both slices are handed out by Ready. Messages reuses the array the
// driver last gave back (RecycleMessages); otherwise each Ready with
// messages costs one allocation, sized for a message per peer.
func (c *Core) send(m raftpb.Message) {
	if c.msgs == nil {
		if c.spareMsgs != nil {
			c.msgs, c.spareMsgs = c.spareMsgs, nil
		} else {
			c.msgs = make([]raftpb.Message, 0, len(c.peers)+1)
		}
	}
	c.msgs = append(c.msgs, c.stamp(m))
}

// RecycleMessages gives the core back the array of a Ready's Messages
// once nothing refers to it any more (the transport copied the
// messages, as its contract says, and the caller keeps no reference to
// the slice): a later Ready's Messages are built in it. Without it every
// Ready with messages allocates one; on a leader that is a Ready per loop
// turn, a quarter of the heap bytes a write costs the cluster. The
// messages are cleared first, so the array holds no entries alive. A
// slice this core did not hand out as Messages must not be passed.
func (c *Core) RecycleMessages(msgs []raftpb.Message) {
	if cap(msgs) == 0 || c.spareMsgs != nil {
		return
	}
	clear(msgs)
	c.spareMsgs = msgs[:0]
}

// MessagesAfterPersist wait for a write and leave from whichever
// goroutine sees it durable, so their array cannot come back like
// Messages'; instead each Ready's starts as two slots carved from a
// shared slab (one allocation per afterSlabLen/2 Readies: a follower has
// one ack per Ready), and a third message appends into an array of its
// own. The slab lives while any Ready's slice of it does.
func (c *Core) sendAfterPersist(m raftpb.Message) {
	if c.msgsAfter == nil {
		if cap(c.afterSlab)-len(c.afterSlab) < 2 {
			c.afterSlab = make([]raftpb.Message, 0, afterSlabLen)
		}
		k := len(c.afterSlab)
		c.afterSlab = c.afterSlab[:k+2]
		c.msgsAfter = c.afterSlab[k : k : k+2]
	}
	c.msgsAfter = append(c.msgsAfter, c.stamp(m))
}

// afterSlabLen is the messages in one slab of MessagesAfterPersist.
const afterSlabLen = 64

func (c *Core) stamp(m raftpb.Message) raftpb.Message {
	m.From = c.id
	if m.Term == 0 {
		m.Term = c.term
	}
	return m
}
