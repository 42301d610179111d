package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine/quorum"
	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// ConfChangeType says what one step of a membership change does.
type ConfChangeType uint8

const (
	// AddVoter adds a voter; on a learner it is a promotion.
	AddVoter ConfChangeType = 1
	// RemoveVoter removes a member, voter or learner.
	RemoveVoter ConfChangeType = 2
	// AddLearner adds a non-voting member: it receives the log and
	// snapshots but never counts toward a quorum or stands for election.
	AddLearner ConfChangeType = 3
	// DemoteVoter makes a voter a learner (etcd's LearnersNext). It
	// always goes through a joint configuration: the node keeps voting in
	// the outgoing half and becomes a learner when the joint
	// configuration is left. A leader that demotes itself keeps leading
	// through the joint phase and steps down once leaving commits, as a
	// leader that removes itself does.
	DemoteVoter ConfChangeType = 4
)

func (t ConfChangeType) String() string {
	switch t {
	case AddVoter:
		return "add-voter"
	case RemoveVoter:
		return "remove"
	case AddLearner:
		return "add-learner"
	case DemoteVoter:
		return "demote"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChangeSingle is one step of a change. Addr, for an added member,
// is its network address; it travels in the log with the change so every
// node can reach the new member.
type ConfChangeSingle struct {
	Type ConfChangeType
	Node uint64
	Addr string
}

// ConfTransition says how a change is carried out.
type ConfTransition uint8

const (
	// TransitionAuto changes at most one voter directly (thesis §4.1:
	// every majority of the old and the new configuration overlap) and
	// goes through a joint configuration, left automatically, when more
	// voters change.
	TransitionAuto ConfTransition = 0
	// TransitionJoint always enters a joint configuration (thesis §4.3)
	// and leaves it automatically once entering has committed.
	TransitionJoint ConfTransition = 1
	// TransitionJointExplicit enters a joint configuration that stays
	// until a change with Leave set is proposed.
	TransitionJointExplicit ConfTransition = 2
)

// ConfChange is one membership change: a set of steps applied together,
// or (Leave) the end of a joint configuration.
type ConfChange struct {
	Changes    []ConfChangeSingle
	Transition ConfTransition
	Leave      bool
}

// Change returns the change made of one step.
func Change(typ ConfChangeType, node uint64) ConfChange {
	return ConfChange{Changes: []ConfChangeSingle{{Type: typ, Node: node}}}
}

func (cc ConfChange) String() string {
	if cc.Leave {
		return "leave-joint"
	}
	s := ""
	for i, ch := range cc.Changes {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s(%d)", ch.Type, ch.Node)
	}
	switch cc.Transition {
	case TransitionJoint:
		s += " joint"
	case TransitionJointExplicit:
		s += " joint-explicit"
	}
	return s
}

// DefaultMaxPromoteLag is Config.MaxPromoteLag's default.
const DefaultMaxPromoteLag = 1000

var (
	// ErrConfChangeInProgress: only one uncommitted membership change may
	// exist at a time, a new leader must first commit an entry of its own
	// term, and a joint configuration must be left before the next change
	// (thesis §4.1, §4.3).
	ErrConfChangeInProgress = errors.New("engine: a membership change is already in progress")
	// ErrBadConfChange: the change is malformed or does not apply to the
	// configuration (unknown node, last voter removed, ...).
	ErrBadConfChange = errors.New("engine: invalid membership change")
	// ErrLearnerBehind: a learner may be promoted only once its log is
	// within Config.MaxPromoteLag entries of the leader's.
	ErrLearnerBehind = errors.New("engine: learner has not caught up")
)

// confChangeVersion starts every encoding but the original single-voter
// one (9 bytes: type 1 or 2, node ID big-endian), still decoded.
const confChangeVersion = 0xC2

const (
	maxConfSteps    = 64
	maxConfAddrSize = 1 << 10
)

// Encode returns the entry data of cc:
//
//	0xC2  flags:u8 (bit 0 Leave, bits 1-2 Transition)  n:uvarint
//	(type:u8  node:uvarint  addrLen:uvarint  addr){n}
func (cc ConfChange) Encode() []byte {
	flags := byte(cc.Transition) << 1
	if cc.Leave {
		flags |= 1
	}
	b := []byte{confChangeVersion, flags}
	b = binary.AppendUvarint(b, uint64(len(cc.Changes)))
	for _, ch := range cc.Changes {
		b = append(b, byte(ch.Type))
		b = binary.AppendUvarint(b, ch.Node)
		b = binary.AppendUvarint(b, uint64(len(ch.Addr)))
		b = append(b, ch.Addr...)
	}
	return b
}

// DecodeConfChange parses the data of an EntryConfChange entry.
func DecodeConfChange(data []byte) (ConfChange, error) {
	bad := func(format string, args ...any) (ConfChange, error) {
		return ConfChange{}, fmt.Errorf("%w: %s", ErrBadConfChange, fmt.Sprintf(format, args...))
	}
	if len(data) == 9 && (data[0] == byte(AddVoter) || data[0] == byte(RemoveVoter)) {
		cc := Change(ConfChangeType(data[0]), binary.BigEndian.Uint64(data[1:]))
		if cc.Changes[0].Node == 0 {
			return bad("node 0")
		}
		return cc, nil
	}
	if len(data) < 3 || data[0] != confChangeVersion {
		return bad("%d bytes, unknown encoding", len(data))
	}
	var cc ConfChange
	flags := data[1]
	cc.Leave = flags&1 != 0
	cc.Transition = ConfTransition(flags >> 1)
	if cc.Transition > TransitionJointExplicit {
		return bad("unknown transition %d", cc.Transition)
	}
	rest := data[2:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	n, ok := uv()
	if !ok || n > maxConfSteps {
		return bad("step count")
	}
	for i := uint64(0); i < n; i++ {
		if len(rest) == 0 {
			return bad("truncated step %d", i)
		}
		ch := ConfChangeSingle{Type: ConfChangeType(rest[0])}
		rest = rest[1:]
		node, ok1 := uv()
		l, ok2 := uv()
		if !ok1 || !ok2 || l > maxConfAddrSize || l > uint64(len(rest)) {
			return bad("truncated step %d", i)
		}
		ch.Node, ch.Addr = node, string(rest[:l])
		rest = rest[l:]
		cc.Changes = append(cc.Changes, ch)
	}
	if len(rest) != 0 {
		return bad("%d trailing bytes", len(rest))
	}
	if err := cc.validate(); err != nil {
		return ConfChange{}, err
	}
	return cc, nil
}

// validate checks cc on its own, without a configuration.
func (cc ConfChange) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfChange, fmt.Sprintf(format, args...))
	}
	if cc.Leave {
		if len(cc.Changes) > 0 || cc.Transition != TransitionAuto {
			return bad("leaving a joint configuration takes no steps")
		}
		return nil
	}
	if len(cc.Changes) == 0 {
		return bad("no steps")
	}
	seen := map[uint64]bool{}
	for _, ch := range cc.Changes {
		switch {
		case ch.Type < AddVoter || ch.Type > DemoteVoter:
			return bad("unknown step type %d", ch.Type)
		case ch.Node == 0:
			return bad("node 0")
		case seen[ch.Node]:
			return bad("node %d named twice", ch.Node)
		case len(ch.Addr) > maxConfAddrSize:
			return bad("address of node %d longer than %d bytes", ch.Node, maxConfAddrSize)
		}
		seen[ch.Node] = true
	}
	return nil
}

// ApplyConfChange returns cs changed by cc, or why cc does not apply to
// cs. Every node computes the same result from the same entries.
func ApplyConfChange(cs raftpb.ConfState, cc ConfChange) (raftpb.ConfState, error) {
	bad := func(format string, args ...any) (raftpb.ConfState, error) {
		return cs, fmt.Errorf("%w: %s", ErrBadConfChange, fmt.Sprintf(format, args...))
	}
	if err := cc.validate(); err != nil {
		return cs, err
	}
	out := cs.Clone()
	if cc.Leave {
		if !cs.Joint() {
			return bad("not in a joint configuration")
		}
		for _, id := range out.LearnersNext {
			out.Learners = insert(out.Learners, id)
		}
		out.VotersOutgoing, out.LearnersNext, out.AutoLeave = nil, nil, false
		pruneAddrs(&out)
		return out, nil
	}
	if cs.Joint() {
		return cs, fmt.Errorf("%w: the joint configuration %v has not been left", ErrConfChangeInProgress, cs)
	}
	demote := false
	for _, ch := range cc.Changes {
		voter, learner := slices.Contains(out.Voters, ch.Node), slices.Contains(out.Learners, ch.Node)
		switch ch.Type {
		case DemoteVoter:
			if learner {
				return bad("node %d is already a learner", ch.Node)
			}
			if !voter {
				return bad("node %d is not a voter", ch.Node)
			}
			// Out of the incoming voters now; a learner once the joint
			// configuration (entered below) is left.
			out.Voters = remove(out.Voters, ch.Node)
			out.LearnersNext = insert(out.LearnersNext, ch.Node)
			demote = true
		case AddVoter:
			if voter {
				return bad("node %d is already a voter", ch.Node)
			}
			out.Learners = remove(out.Learners, ch.Node) // promotion
			out.Voters = insert(out.Voters, ch.Node)
		case AddLearner:
			if voter {
				return bad("node %d is a voter; demote it to make it a learner", ch.Node)
			}
			if learner {
				return bad("node %d is already a learner", ch.Node)
			}
			out.Learners = insert(out.Learners, ch.Node)
		case RemoveVoter:
			if !voter && !learner {
				return bad("node %d is not a member", ch.Node)
			}
			out.Voters = remove(out.Voters, ch.Node)
			out.Learners = remove(out.Learners, ch.Node)
		}
		if ch.Addr != "" && ch.Type != RemoveVoter {
			out.SetAddr(ch.Node, ch.Addr)
		}
	}
	if len(out.Voters) == 0 {
		if demote {
			return bad("it would demote the last voter")
		}
		return bad("it would remove the last voter")
	}
	if cc.Transition != TransitionAuto || demote || symmetricDiff(cs.Voters, out.Voters) > 1 {
		out.VotersOutgoing = slices.Clone(cs.Voters)
		out.AutoLeave = cc.Transition != TransitionJointExplicit
	}
	pruneAddrs(&out)
	return out, nil
}

// pruneAddrs forgets the addresses of nodes that are no longer members.
func pruneAddrs(cs *raftpb.ConfState) {
	cs.Addrs = slices.DeleteFunc(cs.Addrs, func(a raftpb.PeerAddr) bool { return !cs.IsMember(a.ID) })
	if len(cs.Addrs) == 0 {
		cs.Addrs = nil
	}
}

func insert(s []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(s, id)
	if found {
		return s
	}
	return slices.Insert(s, i, id)
}

func remove(s []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(s, id)
	if !found {
		return s
	}
	s = slices.Delete(s, i, i+1)
	if len(s) == 0 {
		return nil
	}
	return s
}

func symmetricDiff(a, b []uint64) int {
	n := 0
	for _, x := range a {
		if !slices.Contains(b, x) {
			n++
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			n++
		}
	}
	return n
}

// ProposeConfChange appends a membership change on the leader. It takes
// effect on each node as soon as the entry is in its log (thesis §4.1).
// It is refused while an earlier change is uncommitted, before the
// leader has committed an entry of its own term (the single-server
// change bug, Ongaro 2015), while a joint configuration has not been
// left, while a transfer is in progress, and for a promotion of a
// learner more than Config.MaxPromoteLag entries behind. A leader that
// removes itself steps down once its removal commits.
func (c *Core) ProposeConfChange(cc ConfChange) error {
	if c.role != Leader {
		return &NotLeaderError{Leader: c.lead}
	}
	if err := cc.validate(); err != nil {
		return err
	}
	switch {
	case c.leadTransferee != 0:
		return ErrTransferInProgress
	case c.pendingConf > c.log.committed:
		return ErrConfChangeInProgress
	}
	if _, err := ApplyConfChange(c.conf, cc); err != nil {
		return err
	}
	for _, ch := range cc.Changes {
		if ch.Type != AddVoter || !slices.Contains(c.conf.Learners, ch.Node) {
			continue
		}
		if lag := c.learnerLag(ch.Node); lag > uint64(c.cfg.MaxPromoteLag) {
			return fmt.Errorf("%w: node %d is %d entries behind (bound %d)", ErrLearnerBehind, ch.Node, lag, c.cfg.MaxPromoteLag)
		}
	}
	c.appendConf(cc)
	c.afterLeaderAppend()
	return nil
}

// learnerLag is how many entries the leader's log is ahead of id's.
func (c *Core) learnerLag(id uint64) uint64 {
	f := c.prs[id]
	if f == nil {
		return c.log.lastIndex()
	}
	return c.log.lastIndex() - min(f.pr.Match, c.log.lastIndex())
}

// appendConf appends cc as a leader entry of this term.
func (c *Core) appendConf(cc ConfChange) {
	e := raftpb.Entry{Term: c.term, Index: c.log.lastIndex() + 1, Type: raftpb.EntryConfChange, Data: cc.Encode()}
	c.log.append(e)
	c.onConfEntries([]raftpb.Entry{e})
	if bugsBuild && c.bug(BugJointLeaveEarly) {
		c.maybeAutoLeave()
	}
}

// maybeAutoLeave proposes leaving an auto-leave joint configuration once
// entering it has committed (thesis §4.3: C_new may be appended only
// once C_old,new is committed, so no decision is ever made by C_new
// alone while C_old alone could still make another).
func (c *Core) maybeAutoLeave() {
	if c.role != Leader || !c.conf.Joint() || !c.conf.AutoLeave {
		return
	}
	if c.pendingConf > c.log.committed && !(bugsBuild && c.bug(BugJointLeaveEarly)) {
		return
	}
	e := raftpb.Entry{Term: c.term, Index: c.log.lastIndex() + 1, Type: raftpb.EntryConfChange,
		Data: ConfChange{Leave: true}.Encode()}
	c.log.append(e)
	c.onConfEntries([]raftpb.Entry{e})
	c.afterLeaderAppend()
}

// onConfEntries applies the membership changes among newly appended
// entries. A change that does not apply (possible only for entries a
// buggy or older leader wrote) leaves the configuration as it was, on
// every node alike.
func (c *Core) onConfEntries(ents []raftpb.Entry) {
	for i := range ents {
		if ents[i].Type != raftpb.EntryConfChange {
			continue
		}
		c.confIndexes = append(c.confIndexes, ents[i].Index)
		c.pendingConf = max(c.pendingConf, ents[i].Index)
		c.changeConf(applyEntry(c.conf, &ents[i], c.id))
	}
}

// applyEntry returns cs changed by the conf entry e.
func applyEntry(cs raftpb.ConfState, e *raftpb.Entry, id uint64) raftpb.ConfState {
	cc, err := DecodeConfChange(e.Data)
	if err != nil {
		panic(fmt.Sprintf("engine: node %d: corrupt membership change at index %d: %v", id, e.Index, err))
	}
	next, err := ApplyConfChange(cs, cc)
	if err != nil {
		return cs
	}
	return next
}

// recomputeConf rebuilds the configuration from the snapshot's and the
// changes still in the log, after a truncation removed some.
func (c *Core) recomputeConf() {
	cs := c.baseConf
	kept := c.confIndexes[:0:0]
	for _, idx := range c.confIndexes {
		if idx > c.log.lastIndex() {
			break
		}
		e := c.log.at(idx)
		if e.Type != raftpb.EntryConfChange {
			break
		}
		cs = applyEntry(cs, e, c.id)
		kept = append(kept, idx)
	}
	c.confIndexes = kept
	c.changeConf(cs)
}

// changeConf installs a configuration; a leader starts or stops
// tracking the changed peers.
func (c *Core) changeConf(cs raftpb.ConfState) {
	c.setConf(cs)
	if c.role != Leader {
		return
	}
	for _, id := range c.peers {
		if c.prs[id] == nil {
			pr := tracker.NewProgress(c.log.lastIndex()+1, c.cfg.MaxInflightMsgs, c.cfg.MaxInflightBytes)
			pr.RecentActive = true
			c.prs[id] = &follower{pr: pr}
		}
	}
	for id := range c.prs {
		if !c.conf.IsMember(id) {
			delete(c.prs, id)
		}
	}
	if c.leadTransferee != 0 && !c.isVoter(c.leadTransferee) {
		c.leadTransferee = 0
	}
	c.maybeCommit() // a smaller quorum may commit at once
}

// confAt returns the configuration in effect at index (at least the log
// offset): the base configuration changed by the conf entries up to
// index. It allocates; it is only used off the hot path.
func (c *Core) confAt(index uint64) raftpb.ConfState {
	cs := c.baseConf
	for _, idx := range c.confIndexes {
		if idx > index {
			break
		}
		cs = applyEntry(cs, c.log.at(idx), c.id)
	}
	return cs
}

// compactConf moves the configuration base to the compaction point.
func (c *Core) compactConf(index uint64) {
	n := 0
	for n < len(c.confIndexes) && c.confIndexes[n] <= index {
		c.baseConf = applyEntry(c.baseConf, c.log.at(c.confIndexes[n]), c.id)
		n++
	}
	c.confIndexes = c.confIndexes[n:]
}

// stepDownIfRemoved ends the leadership of a leader whose removal has
// committed (thesis §4.2.2).
func (c *Core) stepDownIfRemoved() {
	if c.role == Leader && !c.isVoter(c.id) && c.log.committed >= c.pendingConf {
		c.becomeFollower(c.term, 0)
	}
}

// committedIndex is the highest index a quorum has acknowledged: a
// majority of the voters, and in a joint configuration a majority of
// each half (thesis §4.3).
func (c *Core) committedIndex(match func(id uint64) uint64) uint64 {
	return quorum.JointCommittedIndex(c.conf.Voters, c.conf.VotersOutgoing, match)
}

// tally counts votes in the configuration (both halves when joint).
func (c *Core) tally(vote func(id uint64) (granted, answered bool)) quorum.VoteResult {
	return quorum.JointTally(c.conf.Voters, c.conf.VotersOutgoing, vote)
}

// singleVoter reports whether this node alone forms every quorum.
func (c *Core) singleVoter() bool {
	return len(c.voters) == 1 && c.voters[0] == c.id
}

// ConfState returns a copy of the configuration in force (the latest in
// the log).
func (c *Core) ConfState() raftpb.ConfState { return c.conf.Clone() }

// ConfGen changes whenever the configuration does (cheap: no copy), so
// a driver can tell when to look at ConfState again.
func (c *Core) ConfGen() uint64 { return c.confGen }
