package sim

import (
	"fmt"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

const roleLeader = engine.Leader

// logKey identifies an entry by (index, term): by Log Matching (§5.3) it
// determines the entry's content and everything before it.
type logKey struct{ index, term uint64 }

// logRec is what any node's log ever held at a logKey.
type logRec struct {
	hash     uint64
	prevTerm uint64
}

// checker holds the whole run's view of every node, to check Raft's
// safety properties (Raft paper Figure 3) after every event:
//
//   - election safety: at most one leader per term, over the whole run;
//   - log matching: an (index, term) always names the same entry with the
//     same predecessor term, so equal (index, term) ⇒ equal prefixes, and
//     a follower never drops entries that do not conflict (§5.3);
//   - leader completeness: a leader of term T holds every entry committed
//     in terms before T, checked when it is elected and whenever an
//     entry of an earlier term is found committed;
//   - state machine safety: no two nodes commit or apply different entries
//     at one index, no node loses an entry at or below its commit, and
//     every node's state (KV store, sessions, voters) after applying index
//     i, or after installing or restarting from a snapshot at i, is the
//     same (a hash per applied index), so snapshots are checked too;
//   - election quorum per configuration: a new leader holds grants from a
//     majority of the voters in its own configuration;
//   - monotonic commit and term per node lifetime, and after a restart
//     never below what was durable;
//   - no acknowledgement of an entry that is not durable on a majority of
//     the configuration that committed it (a durable snapshot covering the
//     entry counts).
//
// Maps here are only looked up, never iterated, so checking is
// deterministic.
type checker struct {
	leaders   map[uint64]uint64 // term → leader id
	entries   map[logKey]logRec
	committed []entryMeta // index-1 → entry known committed (term 0: unknown)
	// commitTerm[index-1] is the term of the node that first saw the
	// entry committed: at least the term in which it was committed,
	// which is what leader completeness is about (an old entry
	// committed late need not be on leaders of the terms in between).
	commitTerm []uint64
	applied    []entryMeta // index-1 → entry some node applied
	// commitConf[index-1] is the configuration of the node that first
	// saw the index committed (the leader whose quorum committed it).
	commitConf []*raftpb.ConfState
	// stateHash[index-1] is the state machine digest after applying
	// index (0: no node has reached it yet).
	stateHash []uint64
	dirty     []*simNode
	// votes[(voter, term)] is the candidate the voter granted its vote
	// to: one vote per term, durable across restarts (Figure 2).
	votes map[voteKey]uint64
	// maxCommitted is the highest index known committed.
	maxCommitted uint64
	// confEntries holds every configuration-change entry seen in a log.
	confEntries map[logKey]bool
}

type voteKey struct{ voter, term uint64 }

func newChecker() *checker {
	return &checker{leaders: make(map[uint64]uint64), entries: make(map[logKey]logRec), votes: make(map[voteKey]uint64),
		confEntries: make(map[logKey]bool)}
}

// onEntries checks and records entries a node's core just added to its
// in-memory log (Ready.Entries replaces the suffix from ents[0].Index).
func (c *checker) onEntries(s *Sim, n *simNode, ents []raftpb.Entry) {
	first := ents[0].Index
	if first <= n.view.offset || first > n.view.last()+1 {
		s.fail("safety", "log matching", "node %d: entries start at %d but its log is (%d, %d]", n.id, first, n.view.offset, n.view.last())
		return
	}
	old := n.view.ents[first-n.view.offset-1:]
	conflict := false
	for i, e := range ents {
		if e.Index != first+uint64(i) {
			s.fail("safety", "log matching", "node %d: entries not contiguous at %d", n.id, e.Index)
			return
		}
		if i < len(old) && old[i] != metaOf(e) {
			conflict = true
			if e.Index <= n.commit {
				s.fail("safety", "state machine safety", "node %d overwrote committed index %d (commit %d): term %d -> %d",
					n.id, e.Index, n.commit, old[i].term, e.Term)
				return
			}
		}
	}
	if len(old) > len(ents) {
		cut := first + uint64(len(ents))
		switch {
		case cut <= n.commit:
			s.fail("safety", "state machine safety", "node %d dropped committed entries from index %d (commit %d)", n.id, cut, n.commit)
			return
		case !conflict:
			s.fail("safety", "log matching", "node %d dropped entries %d..%d that did not conflict (§5.3: only a conflict may truncate)",
				n.id, cut, first+uint64(len(old))-1)
			return
		}
	}
	n.view.truncateFrom(first)
	for _, e := range ents {
		prev, _ := n.view.termAt(e.Index - 1)
		m := metaOf(e)
		n.view.push(m)
		k := logKey{e.Index, e.Term}
		if r, ok := c.entries[k]; !ok {
			c.entries[k] = logRec{hash: m.hash, prevTerm: prev}
			if e.Type == raftpb.EntryConfChange {
				c.confEntries[k] = true
				if s.opts.ConsequencesOnly {
					// only the end-to-end invariants judge
				} else if c.onNewConfEntry(s, n, e); s.failure != nil {
					return
				}
			}
		} else if r.hash != m.hash || r.prevTerm != prev {
			s.fail("safety", "log matching", "node %d: entry %d/t%d differs from another node's (data %x vs %x, prev term %d vs %d)",
				n.id, e.Index, e.Term, m.hash, r.hash, prev, r.prevTerm)
			return
		}
	}
}

// onCommit records entries a node now knows committed.
func (c *checker) onCommit(s *Sim, n *simNode, commit uint64) {
	if commit > n.view.last() {
		s.fail("safety", "state machine safety", "node %d commit %d beyond its log (last %d)", n.id, commit, n.view.last())
		return
	}
	var conf *raftpb.ConfState
	for i := max(n.commit, n.view.offset) + 1; i <= commit; i++ {
		m, _ := n.view.at(i)
		if !c.record(&c.committed, i, m) {
			s.fail("safety", "state machine safety", "node %d committed %d/t%d but %d/t%d was committed before",
				n.id, i, m.term, i, c.committed[i-1].term)
			return
		}
		for uint64(len(c.commitTerm)) < i {
			c.commitTerm = append(c.commitTerm, 0)
		}
		if c.commitTerm[i-1] == 0 {
			c.commitTerm[i-1] = n.core.Term()
		}
		for uint64(len(c.commitConf)) < i {
			c.commitConf = append(c.commitConf, nil)
		}
		if c.commitConf[i-1] == nil {
			if conf == nil {
				cs := n.core.ConfState()
				conf = &cs
			}
			c.commitConf[i-1] = conf
		}
		c.maxCommitted = max(c.maxCommitted, i)
		c.leadersHold(s, i, m, c.commitTerm[i-1])
		if s.failure != nil {
			return
		}
	}
}

// record sets reg[i-1] = m, or reports false if it holds something else.
func (c *checker) record(reg *[]entryMeta, i uint64, m entryMeta) bool {
	for uint64(len(*reg)) < i {
		*reg = append(*reg, entryMeta{})
	}
	cur := (*reg)[i-1]
	if cur.term == 0 {
		(*reg)[i-1] = m
		return true
	}
	return cur == m
}

// leadersHold: every current leader of a term after the entry was
// committed must hold it (leader completeness, continuously).
func (c *checker) leadersHold(s *Sim, i uint64, m entryMeta, commitTerm uint64) {
	for _, l := range s.nodes {
		if !l.up || l.role != roleLeader || l.term <= commitTerm {
			continue
		}
		if !l.view.holds(i, m) {
			s.fail("safety", "leader completeness", "leader %d of term %d lacks entry %d/t%d, committed by term %d", l.id, l.term, i, m.term, commitTerm)
			return
		}
	}
}

// leaderCommitsOwnTerm: a leader advances its commit index only to an
// entry of its own term; earlier entries commit with it, never by
// counting replicas (§5.4.2, Figure 8).
func (c *checker) leaderCommitsOwnTerm(s *Sim, n *simNode, commit uint64) {
	if n.core.Role() != roleLeader {
		return
	}
	if t, ok := n.view.termAt(commit); ok && t != n.core.Term() {
		s.fail("safety", "no prior-term commit by counting", "leader %d of term %d advanced commit %d -> %d, to an entry of term %d (§5.4.2)",
			n.id, n.core.Term(), n.commit, commit, t)
	}
}

// onVoteGrant: a node grants at most one vote per term, across restarts
// (Figure 2: votedFor is persistent state).
func (c *checker) onVoteGrant(s *Sim, m raftpb.Message) {
	k := voteKey{m.From, m.Term}
	if prev, ok := c.votes[k]; ok && prev != m.To {
		s.fail("safety", "one vote per term", "node %d granted its term-%d vote to %d and to %d", m.From, m.Term, prev, m.To)
		return
	}
	c.votes[k] = m.To
}

// onReadIndex: a read index must cover every entry that was known
// committed when the node took the read request (thesis §6.4: the
// leader's commit index, after it confirmed leadership, includes
// everything committed before the request arrived).
func (c *checker) onReadIndex(s *Sim, n *simNode, index, committedAtRequest uint64) {
	if index < committedAtRequest {
		s.fail("safety", "read index covers committed entries", "node %d got read index %d, but %d was committed before the read arrived (§6.4)",
			n.id, index, committedAtRequest)
	}
}

// onApply: applied entries are the log's, and the same on every node.
// It reports whether n is the first node to apply this index.
func (c *checker) onApply(s *Sim, n *simNode, e raftpb.Entry) bool {
	m := metaOf(e)
	if got, ok := n.view.at(e.Index); !ok || got != m {
		s.fail("safety", "state machine safety", "node %d applied %d/t%d which is not in its log", n.id, e.Index, e.Term)
		return false
	}
	first := uint64(len(c.applied)) < e.Index || c.applied[e.Index-1].term == 0
	if !c.record(&c.applied, e.Index, m) {
		s.fail("safety", "state machine safety", "node %d applied %d/t%d but another node applied %d/t%d",
			n.id, e.Index, e.Term, e.Index, c.applied[e.Index-1].term)
	}
	return first
}

// onState: every node's state machine after index is the same, however
// it got there (applying entries, installing a leader's snapshot, or
// restarting from its own).
func (c *checker) onState(s *Sim, n *simNode, index, hash uint64) {
	for uint64(len(c.stateHash)) < index {
		c.stateHash = append(c.stateHash, 0)
	}
	switch h := c.stateHash[index-1]; {
	case h == 0:
		c.stateHash[index-1] = hash
	case h != hash:
		s.fail("safety", "state machine safety", "node %d's state after index %d (hash %016x) differs from another node's (%016x)",
			n.id, index, hash, h)
	}
}

// onInstall checks a snapshot a follower is about to install: it covers
// only committed entries and moves the state forward. That it equals
// the state (configuration, sessions, store) others had at its index is
// checked once it is restored (applyHooks.Restored).
func (c *checker) onInstall(s *Sim, n *simNode, meta raftpb.SnapshotMeta) bool {
	switch applied := n.applied(); {
	case meta.Index <= applied:
		s.fail("safety", "state machine safety", "node %d installs a snapshot at %d, at or below its applied index %d", n.id, meta.Index, applied)
	case meta.Index > c.maxCommitted:
		s.fail("safety", "state machine safety", "node %d installs a snapshot at %d, beyond everything committed (%d)", n.id, meta.Index, c.maxCommitted)
	case meta.Index <= uint64(len(c.committed)) && c.committed[meta.Index-1].term != 0 && c.committed[meta.Index-1].term != meta.Term:
		s.fail("safety", "state machine safety", "node %d installs a snapshot at %d/t%d, but %d/t%d was committed",
			n.id, meta.Index, meta.Term, meta.Index, c.committed[meta.Index-1].term)
	}
	return s.failure == nil
}

// onAck: an entry acknowledged to a client must be durable on a majority
// of the configuration that committed it.
func (c *checker) onAck(s *Sim, n *simNode, index, term uint64) {
	var conf raftpb.ConfState
	if index <= uint64(len(c.commitConf)) && c.commitConf[index-1] != nil {
		conf = *c.commitConf[index-1]
	} else {
		conf = n.core.ConfState()
	}
	for _, half := range [][]uint64{conf.Voters, conf.VotersOutgoing} {
		if len(half) == 0 {
			continue
		}
		have := 0
		where := ""
		for _, id := range half {
			o := s.nodes[id-1]
			t, _ := o.durable.termAt(index)
			if index <= o.durable.offset || t == term {
				have++ // (a durable snapshot covering it counts)
			}
			where += fmt.Sprintf(" n%d:(%d,%d]@t%d", id, o.durable.offset, o.durable.last(), t)
		}
		if have < quorum(len(half)) {
			s.fail("safety", "ack durability", "node %d acknowledged %d/t%d to a client, but it is durable on only %d of voters %v (quorum %d, configuration %v); durable logs:%s",
				n.id, index, term, have, half, quorum(len(half)), conf, where)
			return
		}
	}
}

// afterEvent checks every node the event touched.
func (c *checker) afterEvent(s *Sim) {
	for _, n := range c.dirty {
		if s.failure == nil && n.up {
			c.checkLogLength(s, n)
			c.checkNode(s, n)
		}
	}
	c.dirty = c.dirty[:0]
}

// checkLogLength: after a node's Readys are drained, its log must be
// exactly what they announced.
func (c *checker) checkLogLength(s *Sim, n *simNode) {
	first, last := n.core.LogBounds()
	if first > n.view.offset+1 && first-1 <= n.core.Status().Applied {
		first = n.view.offset + 1 // applied entries dropped from memory (driver.SetResidentLogBytes)
	}
	if last != n.view.last() || first != n.view.offset+1 {
		// Every change to the log must reach the driver in a Ready, or
		// the disk and the core disagree; a silent truncation drops
		// entries that did not conflict (§5.3).
		s.fail("safety", "log matching", "node %d's log is [%d, %d] but its Readys and snapshots announced (%d, %d] (silent truncation?)",
			n.id, first, last, n.view.offset, n.view.last())
	}
}

// checkNode checks election safety and, for a new leader, leader
// completeness.
func (c *checker) checkNode(s *Sim, n *simNode) {
	role, term := n.core.Role(), n.core.Term()
	if term < n.term {
		s.fail("safety", "monotonic term", "node %d term went from %d to %d", n.id, n.term, term)
		return
	}
	wasLeader := n.role == roleLeader && n.term == term
	n.role, n.term = role, term
	if role != roleLeader || wasLeader {
		return
	}
	if l, ok := c.leaders[term]; ok && l != n.id {
		s.fail("safety", "election safety", "nodes %d and %d are both leader of term %d", l, n.id, term)
		return
	}
	c.leaders[term] = n.id
	s.stats.Elections++
	s.onNewLeader(n, term)
	if !c.electedByQuorum(s, n, term) {
		return
	}
	if s.faultsOn() && s.r.Permille(s.p.BuggifyLeaderPermille) {
		// Buggify: crash a new leader before its first entries are
		// durable everywhere (the Figure 8 window, §5.4.2).
		s.push(&event{at: s.now + s.r.Between(0, 2*s.p.FsyncMaxUs), kind: evCrash, node: n.idx, aux: 1})
	}
	for i, m := range c.committed {
		if m.term == 0 || c.commitTerm[i] >= term {
			continue
		}
		if !n.view.holds(uint64(i+1), m) {
			s.fail("safety", "leader completeness", "new leader %d of term %d lacks entry %d/t%d, committed by term %d", n.id, term, i+1, m.term, c.commitTerm[i])
			return
		}
	}
}

// electedByQuorum: a new leader holds vote grants (its own included)
// from a majority of the voters of its own configuration, of each half
// of a joint one (§5.2, thesis §4.3); a learner is never counted and
// never leads.
func (c *checker) electedByQuorum(s *Sim, n *simNode, term uint64) bool {
	cs := n.core.ConfState()
	if cs.IsLearner(n.id) {
		s.fail("safety", "learner never counted", "learner %d leads term %d (configuration %v)", n.id, term, cs)
		return false
	}
	for _, voters := range [][]uint64{cs.Voters, cs.VotersOutgoing} {
		if len(voters) == 0 {
			continue
		}
		got := 0
		for _, v := range voters {
			if v == n.id || c.votes[voteKey{v, term}] == n.id {
				got++
			}
		}
		if got < quorum(len(voters)) {
			s.fail("safety", "election quorum", "node %d leads term %d with %d grants from voters %v (quorum %d, configuration %v)",
				n.id, term, got, voters, quorum(len(voters)), cs)
			return false
		}
	}
	return true
}

func (s *Sim) markDirty(n *simNode) {
	for _, d := range s.chk.dirty {
		if d == n {
			return
		}
	}
	s.chk.dirty = append(s.chk.dirty, n)
}
