package quorum

import "fmt"

// MaxStackVoters is the cluster size up to which CommittedIndex sorts on
// the stack; larger clusters work but allocate.
const MaxStackVoters = 16

// Majority is the number of voters that forms a quorum of n (§5.2).
func Majority(n int) int { return n/2 + 1 }

// CommittedIndex returns the largest index that at least a majority of
// voters have acknowledged: with the acked indexes sorted in descending
// order, the value at position Majority-1. match reports a voter's acked
// index; a voter it does not know acks 0. An empty voter set commits
// nothing (0) rather than everything: a cluster with no voters can make
// no decision.
func CommittedIndex(voters []uint64, match func(id uint64) uint64) uint64 {
	n := len(voters)
	if n == 0 {
		return 0
	}
	var stack [MaxStackVoters]uint64
	var acked []uint64
	if n <= MaxStackVoters {
		acked = stack[:n]
	} else {
		acked = make([]uint64, n)
	}
	for i, id := range voters {
		acked[i] = match(id)
	}
	// Insertion sort, descending: n is tiny and this keeps the hot path
	// free of allocations and interface calls.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && acked[j] > acked[j-1]; j-- {
			acked[j], acked[j-1] = acked[j-1], acked[j]
		}
	}
	return acked[Majority(n)-1]
}

// VoteResult is the outcome of an election so far.
type VoteResult uint8

const (
	// VotePending: neither side has a majority yet.
	VotePending VoteResult = iota
	// VoteLost: enough voters refused that a majority is impossible.
	VoteLost
	// VoteWon: a majority granted.
	VoteWon
)

func (r VoteResult) String() string {
	switch r {
	case VotePending:
		return "pending"
	case VoteLost:
		return "lost"
	case VoteWon:
		return "won"
	}
	return fmt.Sprintf("VoteResult(%d)", uint8(r))
}

// Tally counts the answers of voters: vote reports (granted, answered)
// for one voter. Answers from non-voters are never consulted.
func Tally(voters []uint64, vote func(id uint64) (granted, answered bool)) (granted, rejected int, result VoteResult) {
	for _, id := range voters {
		g, ok := vote(id)
		switch {
		case !ok:
		case g:
			granted++
		default:
			rejected++
		}
	}
	q := Majority(len(voters))
	switch {
	case len(voters) == 0:
		return granted, rejected, VoteLost
	case granted >= q:
		return granted, rejected, VoteWon
	case rejected > len(voters)-q:
		return granted, rejected, VoteLost
	}
	return granted, rejected, VotePending
}

// JointCommittedIndex is CommittedIndex over a joint configuration
// (thesis §4.3): an index is committed only when a majority of incoming
// and, if outgoing is not empty, a majority of outgoing acknowledged it.
func JointCommittedIndex(incoming, outgoing []uint64, match func(id uint64) uint64) uint64 {
	idx := CommittedIndex(incoming, match)
	if len(outgoing) > 0 {
		idx = min(idx, CommittedIndex(outgoing, match))
	}
	return idx
}

// JointTally is Tally over a joint configuration: won when both halves
// are won, lost as soon as either is lost. An empty outgoing half does
// not take part.
func JointTally(incoming, outgoing []uint64, vote func(id uint64) (granted, answered bool)) VoteResult {
	_, _, in := Tally(incoming, vote)
	if len(outgoing) == 0 {
		return in
	}
	_, _, out := Tally(outgoing, vote)
	switch {
	case in == VoteLost || out == VoteLost:
		return VoteLost
	case in == VoteWon && out == VoteWon:
		return VoteWon
	}
	return VotePending
}
