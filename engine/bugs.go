package engine

import "fmt"

// Bug names a deliberate protocol bug the core can be built with, so the
// simulator (chaos/sim) can prove its checkers catch it. Bugs take effect
// only in binaries built with `-tags raftbugs`; in any other build every
// hook site is compiled away (`if bugsBuild && ...` with bugsBuild a false
// constant) and Config.Validate rejects a non-empty Config.Bugs.
type Bug uint32

const (
	// BugVoteIgnoresLog grants votes without the §5.4.1 up-to-date check.
	BugVoteIgnoresLog Bug = iota + 1
	// BugCommitPriorTermByCount commits entries of earlier terms by
	// counting replicas, the Figure 8 mistake (§5.4.2).
	BugCommitPriorTermByCount
	// BugAckBeforePersist sends MsgAppResp in Ready.Messages, before the
	// acknowledged entries are durable.
	BugAckBeforePersist
	// BugTruncateMatchingEntries makes a follower drop its log suffix after
	// an AppendEntries even when the entries matched (§5.3 says to keep it).
	BugTruncateMatchingEntries
	// BugReadIndexWithoutQuorum answers ReadIndex at once, without the
	// quorum round that proves leadership (thesis §6.4).
	BugReadIndexWithoutQuorum
	// BugConfChangeBeforeTermCommit lets a new leader append a membership
	// change before it has committed an entry of its own term: the
	// single-server change bug (Ongaro 2015), where two leaders' changes
	// based on different configurations leave disjoint majorities.
	BugConfChangeBeforeTermCommit
	// BugJointLeaveEarly leaves a joint configuration as soon as entering
	// it is appended, not once it has committed (thesis §4.3), so the new
	// voters alone decide while the old ones may never have heard of them.
	BugJointLeaveEarly

	bugEnd
)

func (b Bug) String() string {
	switch b {
	case BugVoteIgnoresLog:
		return "vote-ignores-log"
	case BugCommitPriorTermByCount:
		return "commit-prior-term-by-count"
	case BugAckBeforePersist:
		return "ack-before-persist"
	case BugTruncateMatchingEntries:
		return "truncate-matching-entries"
	case BugReadIndexWithoutQuorum:
		return "read-index-without-quorum"
	case BugConfChangeBeforeTermCommit:
		return "conf-change-before-term-commit"
	case BugJointLeaveEarly:
		return "joint-leave-early"
	}
	return fmt.Sprintf("Bug(%d)", uint32(b))
}

// AllBugs lists every bug switch, for the simulator's command line.
func AllBugs() []Bug {
	out := make([]Bug, 0, int(bugEnd)-1)
	for b := Bug(1); b < bugEnd; b++ {
		out = append(out, b)
	}
	return out
}

// BugsEnabled reports whether this binary honours Config.Bugs.
func BugsEnabled() bool { return bugsBuild }

// bug reports whether b is switched on. Call sites guard it with the
// bugsBuild constant so normal builds drop them entirely.
func (c *Core) bug(b Bug) bool { return c.bugs&(1<<b) != 0 }
