package driver

import (
	"fmt"
	"strings"
)

// Bug names a deliberate mistake the driver can be built with, so the
// simulator (chaos/sim) can prove its checkers catch bugs that live
// between the core and the outside world, not only in the core
// (engine.Bug). Bugs take effect only in binaries built with
// `-tags raftbugs`; in any other build every hook site is compiled away
// (`if bugsBuild && ...`) and New / NewApplier reject a non-empty Bugs.
type Bug uint32

const (
	// BugAckBeforeSync sends a Ready's MessagesAfterPersist (a
	// follower's append acks, vote grants) together with its Messages,
	// before the WAL write carrying them is durable.
	BugAckBeforeSync Bug = iota + 1
	// BugVoteNotSaved skips the hard-state save of a Ready whose
	// MessagesAfterPersist grant a vote, so the vote leaves without
	// being durable and a restart forgets it.
	BugVoteNotSaved
	// BugApplyUncommitted hands a Ready's new (not yet committed)
	// entries to the applier with its committed ones.
	BugApplyUncommitted
	// BugReadBeforeApplied answers a ReadIndex read as soon as its read
	// index is confirmed, without waiting for applied >= that index.
	BugReadBeforeApplied
	// BugSessionWindowShort makes the session table forget the seq just
	// below a client's newest one, so its duplicate is applied again.
	BugSessionWindowShort
	// BugSettleStateDependent settles (answers before applying, see
	// SettleHooks) commands whose result depends on the state too, with
	// the last blind command's result, as a driver that did not ask the
	// state machine would.
	BugSettleStateDependent

	bugEnd
)

func (b Bug) String() string {
	switch b {
	case BugAckBeforeSync:
		return "driver-ack-before-sync"
	case BugVoteNotSaved:
		return "driver-vote-not-saved"
	case BugApplyUncommitted:
		return "driver-apply-uncommitted"
	case BugReadBeforeApplied:
		return "driver-read-before-applied"
	case BugSessionWindowShort:
		return "driver-session-window-short"
	case BugSettleStateDependent:
		return "driver-settle-state-dependent"
	}
	return fmt.Sprintf("driver.Bug(%d)", uint32(b))
}

// AllBugs lists every driver bug switch.
func AllBugs() []Bug {
	out := make([]Bug, 0, int(bugEnd)-1)
	for b := Bug(1); b < bugEnd; b++ {
		out = append(out, b)
	}
	return out
}

// BugsEnabled reports whether this binary honours bug switches.
func BugsEnabled() bool { return bugsBuild }

// bugSet is a set of switched-on bugs.
type bugSet uint64

// newBugSet validates bugs: they need a raftbugs build and known names.
func newBugSet(bugs []Bug) (bugSet, error) {
	if len(bugs) == 0 {
		return 0, nil
	}
	if !bugsBuild {
		return 0, fmt.Errorf("%w: bug switches need a binary built with -tags raftbugs", ErrConfig)
	}
	var s bugSet
	var bad []string
	for _, b := range bugs {
		if b == 0 || b >= bugEnd {
			bad = append(bad, b.String())
			continue
		}
		s |= 1 << b
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("%w: unknown driver bugs %s", ErrConfig, strings.Join(bad, ", "))
	}
	return s, nil
}

func (s bugSet) has(b Bug) bool { return s&(1<<b) != 0 }
