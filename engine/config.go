package engine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Config configures one Core. Zero values of tuning fields get the
// defaults documented on each field; Validate reports anything invalid.
type Config struct {
	// ID is this node's identity; non-zero.
	ID uint64
	// Voters lists the voting members, including ID, for a node that
	// starts without a snapshot. Ignored when Snapshot carries Voters.
	Voters []uint64
	// Learners lists the non-voting members at start (with Voters; also
	// ignored when Snapshot carries a configuration).
	Learners []uint64
	// MaxPromoteLag is how far, in entries, a learner's log may trail
	// the leader's for a promotion to voter to be accepted. Default
	// DefaultMaxPromoteLag.
	MaxPromoteLag int

	// ElectionTicks is the base election timeout in ticks; the actual
	// timeout is drawn from [ElectionTicks, 2*ElectionTicks) (§5.2).
	// Default 10. Must exceed HeartbeatTicks.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval. Default 1.
	HeartbeatTicks int

	// MaxMsgBytes caps the entry payload of one MsgApp. Default 1 MiB.
	MaxMsgBytes uint64
	// MaxInflightMsgs bounds unacknowledged MsgApps per follower in
	// replicate state (pipelining window). Default 256.
	MaxInflightMsgs int
	// MaxInflightBytes bounds unacknowledged payload bytes per follower.
	// Default 32 MiB; 0 after defaults means unlimited is not allowed.
	MaxInflightBytes uint64
	// MaxUncommittedBytes bounds the payload of proposed but uncommitted
	// entries on a leader; proposals beyond it get ErrProposalBackpressure.
	// Default 64 MiB.
	MaxUncommittedBytes uint64

	// PreVote enables the pre-vote phase (thesis §9.6).
	//
	// Without it, a server removed from the configuration that never
	// learns of its removal keeps asking for votes at ever higher terms,
	// and members that have not caught up with the change still count it
	// as a voter and grant them: elections may not settle until it is
	// shut down (thesis §4.2.3). CheckQuorum's lease protects only while a
	// leader is heard from. The node runtime turns PreVote on.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum for an election timeout (thesis §6.2).
	CheckQuorum bool
	// DisableProposalForwarding makes followers refuse proposals with a
	// NotLeaderError instead of forwarding them to the leader.
	DisableProposalForwarding bool
	// LazyCommit makes a leader tell a follower of a new commit index
	// with the next entries or heartbeat it sends that follower, not in a
	// message of its own, unless the follower waits for that index (it
	// forwarded the proposal, or asked for the read index). Why: one
	// request at a time, every write otherwise costs each follower a
	// second message and a second turn of its loop just to learn that the
	// entry it stored is committed. Safety does not depend on when a
	// follower learns the commit index; with LazyCommit a follower
	// applies up to HeartbeatTicks later than it could.
	LazyCommit bool

	// LeaseReads lets a leader answer ReadIndex from its lease, without a
	// quorum round (thesis §6.4.1). Once a quorum has answered a heartbeat
	// round, no other leader can be elected for an election timeout,
	// measured on the followers' clocks from when they received it: with
	// CheckQuorum a follower that heard from its leader within an election
	// timeout ignores vote requests, and a restarted node grants no vote
	// for its first election timeout. The leader therefore holds a lease
	// of LeaseTicks() of its own ticks, counted from when it sent the
	// round. It gives the lease up for the term when it starts a
	// leadership transfer, and after a membership change until a round
	// sent under the new configuration is answered. Requires CheckQuorum.
	//
	// The lease is only as safe as the clocks: it assumes that one tick
	// on any node lasts at most 1+MaxClockDrift times as long (in real
	// time) as one tick on any other, and that no node's ticks run ahead
	// of its clock, nor the leader's lease clock behind it (a runtime whose
	// ticks can fall behind reports its clock with Core.ClockTicks; a
	// clock that jumps backwards on the leader or forwards on a follower
	// breaks the bound).
	LeaseReads bool
	// MaxClockDrift is the clock-drift bound lease reads assume: the
	// largest relative difference between the tick rates of any two
	// nodes (0.1: a tick may be up to 10% longer on one node than on
	// another). Default 0.1 when LeaseReads is on; must be in [0, 10).
	// LeaseTicks = floor((ElectionTicks-1) / (1+MaxClockDrift)) must
	// exceed HeartbeatTicks, or a lease would lapse between two rounds.
	MaxClockDrift float64

	// Seed seeds the core's private PRNG (election jitter). The core has
	// no other source of randomness.
	Seed uint64

	// Restart state, as recovered from stable storage. All empty for a
	// brand-new node.
	HardState raftpb.HardState
	Snapshot  *raftpb.SnapshotMeta
	// Entries is the persisted log following Snapshot (or from index 1).
	Entries []raftpb.Entry
	// Applied is the highest index already reflected in the state machine
	// (at least Snapshot.Index). Committed entries after it are handed out
	// again in Ready.CommittedEntries.
	Applied uint64

	// Bugs switches on deliberate protocol bugs so the simulator can show
	// that its checkers catch them. Only binaries built with the raftbugs
	// tag honour it; Validate rejects a non-empty Bugs in any other build.
	Bugs []Bug
}

// Defaults for Config fields left zero.
const (
	DefaultElectionTicks       = 10
	DefaultHeartbeatTicks      = 1
	DefaultMaxMsgBytes         = 1 << 20
	DefaultMaxInflightMsgs     = 256
	DefaultMaxInflightBytes    = 32 << 20
	DefaultMaxUncommittedBytes = 64 << 20
	DefaultMaxClockDrift       = 0.1
)

// ErrInvalidConfig wraps every Validate failure.
var ErrInvalidConfig = errors.New("engine: invalid config")

// WithDefaults returns c with zero tuning fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.MaxMsgBytes == 0 {
		c.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = DefaultMaxUncommittedBytes
	}
	if c.MaxPromoteLag == 0 {
		c.MaxPromoteLag = DefaultMaxPromoteLag
	}
	if c.LeaseReads && c.MaxClockDrift == 0 {
		c.MaxClockDrift = DefaultMaxClockDrift
	}
	return c
}

// LeaseTicks is how many of its own ticks a leader's lease lasts from the
// heartbeat round that a quorum answered (thesis §6.4.1): a follower that
// received the round ignores vote requests for ElectionTicks of its own
// ticks, of which the first may be partial (so ElectionTicks-1 whole
// ones), and the leader's ticks may be up to 1+MaxClockDrift times longer
// than the follower's. 0 when LeaseReads is off.
func (c Config) LeaseTicks() int {
	if !c.LeaseReads {
		return 0
	}
	c = c.WithDefaults()
	return int(float64(c.ElectionTicks-1) / (1 + c.MaxClockDrift))
}

// Validate reports the first problem with c (after defaults), wrapped in
// ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == 0:
		return bad("ID must be non-zero")
	case c.ElectionTicks <= 0 || c.HeartbeatTicks <= 0:
		return bad("ElectionTicks (%d) and HeartbeatTicks (%d) must be positive", c.ElectionTicks, c.HeartbeatTicks)
	case c.ElectionTicks <= c.HeartbeatTicks:
		return bad("ElectionTicks (%d) must exceed HeartbeatTicks (%d)", c.ElectionTicks, c.HeartbeatTicks)
	case c.MaxInflightMsgs <= 0:
		return bad("MaxInflightMsgs must be positive, got %d", c.MaxInflightMsgs)
	case c.MaxMsgBytes == 0 || c.MaxInflightBytes == 0 || c.MaxUncommittedBytes == 0:
		return bad("byte limits must be positive")
	case c.MaxInflightBytes < c.MaxMsgBytes:
		return bad("MaxInflightBytes (%d) must be at least MaxMsgBytes (%d)", c.MaxInflightBytes, c.MaxMsgBytes)
	}
	if c.LeaseReads {
		switch {
		case !c.CheckQuorum:
			return bad("LeaseReads needs CheckQuorum: without it a follower votes for a new leader while the old one's lease holds")
		case !(c.MaxClockDrift >= 0 && c.MaxClockDrift < 10):
			return bad("MaxClockDrift must be in [0, 10), got %v", c.MaxClockDrift)
		case c.LeaseTicks() <= c.HeartbeatTicks:
			return bad("lease of %d ticks ((ElectionTicks-1)/(1+MaxClockDrift) with ElectionTicks %d, MaxClockDrift %v) must exceed HeartbeatTicks (%d)",
				c.LeaseTicks(), c.ElectionTicks, c.MaxClockDrift, c.HeartbeatTicks)
		}
	}
	if len(c.Bugs) > 0 && !bugsBuild {
		return bad("Bugs %v requested but this binary was built without the raftbugs tag", c.Bugs)
	}
	for _, b := range c.Bugs {
		if b == 0 || b >= bugEnd {
			return bad("unknown bug %d", uint32(b))
		}
	}
	voters := append(slices.Clone(c.Voters), c.Learners...)
	if c.Snapshot != nil && len(c.Snapshot.Voters) > 0 {
		voters = append(slices.Clone(c.Snapshot.Voters), c.Snapshot.Learners...)
	}
	if len(voters) == 0 {
		return bad("no voters")
	}
	seen := make(map[uint64]bool, len(voters))
	for _, v := range voters {
		if v == 0 {
			return bad("voter ID 0")
		}
		if seen[v] {
			return bad("duplicate member %d", v)
		}
		seen[v] = true
	}
	for i := 1; i < len(c.Entries); i++ {
		if c.Entries[i].Index != c.Entries[i-1].Index+1 {
			return bad("restart entries not contiguous at index %d", c.Entries[i].Index)
		}
	}
	return nil
}
