package tracker

import "fmt"

// StateType is a follower's replication state in the leader's view.
type StateType uint8

const (
	// StateProbe: the leader does not know where the follower's log
	// matches; it sends one MsgApp at a time and waits (Raft §5.3).
	StateProbe StateType = iota
	// StateReplicate: the logs match up to Match; the leader streams
	// MsgApps optimistically, bounded by the in-flight window.
	StateReplicate
	// StateSnapshot: the follower needs entries that were compacted away;
	// a snapshot is on its way and nothing else is sent.
	StateSnapshot
)

func (s StateType) String() string {
	switch s {
	case StateProbe:
		return "probe"
	case StateReplicate:
		return "replicate"
	case StateSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// Progress is the leader's view of one follower.
type Progress struct {
	// Match is the highest index known to be durable on the follower and
	// equal to the leader's log. Invariant: Match < Next.
	Match uint64
	// Next is the index of the next entry to send.
	Next  uint64
	State StateType
	// ProbeSent: in StateProbe, a MsgApp is outstanding; send no more
	// until it is answered or a heartbeat response arrives.
	ProbeSent bool
	// PendingSnapshot is the index of the snapshot sent in StateSnapshot.
	PendingSnapshot uint64
	// SnapshotTicks counts ticks spent in StateSnapshot, so a lost
	// snapshot is retried instead of stalling the follower forever.
	SnapshotTicks int
	// RecentActive: the follower was heard from in the current
	// check-quorum period (thesis §6.2).
	RecentActive bool
	// Inflight is the pipelining window.
	Inflight *Inflights
}

// NewProgress returns a probing Progress that will next send index next.
func NewProgress(next uint64, maxMsgs int, maxBytes uint64) *Progress {
	if next == 0 {
		panic("tracker: Next must be at least 1")
	}
	return &Progress{Next: next, Inflight: NewInflights(maxMsgs, maxBytes)}
}

func (p *Progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d inflight=%d/%dB", p.State, p.Match, p.Next, p.Inflight.Count(), p.Inflight.Bytes())
}

func (p *Progress) reset(state StateType) {
	p.State = state
	p.ProbeSent = false
	p.PendingSnapshot = 0
	p.SnapshotTicks = 0
	p.Inflight.Reset()
}

// BecomeProbe falls back to probing from just after Match (or after the
// snapshot that was being installed).
func (p *Progress) BecomeProbe() {
	if p.State == StateSnapshot {
		pending := p.PendingSnapshot
		p.reset(StateProbe)
		p.Next = max(p.Match+1, pending+1)
		return
	}
	p.reset(StateProbe)
	p.Next = p.Match + 1
}

// BecomeReplicate starts pipelining from just after Match.
func (p *Progress) BecomeReplicate() {
	p.reset(StateReplicate)
	p.Next = p.Match + 1
}

// BecomeSnapshot records that a snapshot up to index was sent.
func (p *Progress) BecomeSnapshot(index uint64) {
	p.reset(StateSnapshot)
	p.PendingSnapshot = index
}

// MaybeUpdate records an acknowledgement of index. It reports whether
// Match advanced; Next never falls below Match+1.
func (p *Progress) MaybeUpdate(index uint64) bool {
	updated := false
	if index > p.Match {
		p.Match = index
		updated = true
		p.ProbeSent = false
	}
	p.Next = max(p.Next, index+1)
	return updated
}

// SentEntries records a MsgApp carrying entries up to last with bytes of
// payload: in replicate state Next moves past it and the window fills; in
// probe state the probe is outstanding.
func (p *Progress) SentEntries(last, bytes uint64, n int) {
	switch p.State {
	case StateReplicate:
		if n > 0 {
			p.Next = last + 1
			p.Inflight.Add(last, bytes)
		}
	case StateProbe:
		p.ProbeSent = true
	default:
		panic(fmt.Sprintf("tracker: sending entries in state %s", p.State))
	}
}

// MaybeDecrTo handles a rejection of the MsgApp whose previous index was
// rejected. hint is the highest index at which the logs may match (the
// follower's conflict hint, refined by the leader's log). It reports
// whether the rejection was acted upon; stale rejections are ignored.
func (p *Progress) MaybeDecrTo(rejected, hint uint64) bool {
	if p.State == StateReplicate {
		// In replicate state everything at or below Match is known good,
		// so only a rejection above Match is news.
		if rejected <= p.Match {
			return false
		}
		p.Next = p.Match + 1
		return true
	}
	// In probe state only the answer to the outstanding probe counts.
	if p.Next-1 != rejected {
		return false
	}
	p.Next = max(min(rejected, hint+1), p.Match+1)
	p.ProbeSent = false
	return true
}

// IsPaused reports whether the leader must not send MsgApps now.
func (p *Progress) IsPaused() bool {
	switch p.State {
	case StateProbe:
		return p.ProbeSent
	case StateReplicate:
		return p.Inflight.Full()
	default:
		return true
	}
}

// CheckInvariants panics if Match < Next does not hold.
func (p *Progress) CheckInvariants(id uint64) {
	if p.Match >= p.Next {
		panic(fmt.Sprintf("tracker: peer %d has match %d >= next %d", id, p.Match, p.Next))
	}
}
