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
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum for an election timeout (thesis §6.2).
	CheckQuorum bool
	// DisableProposalForwarding makes followers refuse proposals with a
	// NotLeaderError instead of forwarding them to the leader.
	DisableProposalForwarding bool

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
	return c
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
