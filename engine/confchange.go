package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/tracker"
)

// ConfChangeType says what a single-server membership change does.
type ConfChangeType uint8

const (
	AddVoter    ConfChangeType = 1
	RemoveVoter ConfChangeType = 2
)

// ConfChange adds or removes one voter (thesis §4.1: changing one server
// at a time keeps every majority of the old and the new configuration
// overlapping, so no joint consensus is needed).
type ConfChange struct {
	Type ConfChangeType
	Node uint64
}

// ErrConfChangeInProgress: only one uncommitted membership change may
// exist at a time (thesis §4.1).
var ErrConfChangeInProgress = errors.New("engine: a membership change is already in progress")

// ErrBadConfChange: the change is malformed or does not apply.
var ErrBadConfChange = errors.New("engine: invalid membership change")

// Encode returns the entry data of cc: one type byte, then the node ID
// as 8 bytes big-endian.
func (cc ConfChange) Encode() []byte {
	return binary.BigEndian.AppendUint64([]byte{byte(cc.Type)}, cc.Node)
}

// DecodeConfChange parses the data of an EntryConfChange entry.
func DecodeConfChange(data []byte) (ConfChange, error) {
	if len(data) != 9 {
		return ConfChange{}, fmt.Errorf("%w: %d bytes, want 9", ErrBadConfChange, len(data))
	}
	cc := ConfChange{Type: ConfChangeType(data[0]), Node: binary.BigEndian.Uint64(data[1:])}
	if (cc.Type != AddVoter && cc.Type != RemoveVoter) || cc.Node == 0 {
		return ConfChange{}, fmt.Errorf("%w: %+v", ErrBadConfChange, cc)
	}
	return cc, nil
}

// apply returns voters changed by cc.
func (cc ConfChange) apply(voters []uint64) []uint64 {
	out := slices.Clone(voters)
	i, found := slices.BinarySearch(out, cc.Node)
	switch {
	case cc.Type == AddVoter && !found:
		out = slices.Insert(out, i, cc.Node)
	case cc.Type == RemoveVoter && found:
		out = slices.Delete(out, i, i+1)
	}
	return out
}

// ProposeConfChange appends a membership change on the leader. It takes
// effect on each node as soon as the entry is in its log (thesis §4.1),
// and is refused while an earlier change is uncommitted or a transfer
// is in progress. A leader that removes itself steps down once the
// change commits.
func (c *Core) ProposeConfChange(cc ConfChange) error {
	if c.role != Leader {
		return &NotLeaderError{Leader: c.lead}
	}
	data := cc.Encode()
	if _, err := DecodeConfChange(data); err != nil {
		return err
	}
	switch {
	case c.leadTransferee != 0:
		return ErrTransferInProgress
	case c.pendingConf > c.log.committed:
		return ErrConfChangeInProgress
	case len(cc.apply(c.voters)) == 0:
		return fmt.Errorf("%w: removing the last voter", ErrBadConfChange)
	}
	e := raftpb.Entry{Term: c.term, Index: c.log.lastIndex() + 1, Type: raftpb.EntryConfChange, Data: data}
	c.log.append(e)
	c.onConfEntries([]raftpb.Entry{e})
	c.afterLeaderAppend()
	return nil
}

// onConfEntries applies the membership changes among newly appended
// entries.
func (c *Core) onConfEntries(ents []raftpb.Entry) {
	for i := range ents {
		if ents[i].Type != raftpb.EntryConfChange {
			continue
		}
		cc, err := DecodeConfChange(ents[i].Data)
		if err != nil {
			panic(fmt.Sprintf("engine: node %d: corrupt membership change at index %d: %v", c.id, ents[i].Index, err))
		}
		c.confIndexes = append(c.confIndexes, ents[i].Index)
		c.pendingConf = max(c.pendingConf, ents[i].Index)
		c.changeVoters(cc.apply(c.voters))
	}
}

// recomputeVoters rebuilds the configuration from the snapshot's voters
// and the changes still in the log, after a truncation removed some.
func (c *Core) recomputeVoters() {
	voters := c.baseVoters
	kept := c.confIndexes[:0:0]
	for _, idx := range c.confIndexes {
		if idx > c.log.lastIndex() {
			break
		}
		e := c.log.ents[idx-c.log.offset-1]
		if e.Type != raftpb.EntryConfChange {
			break
		}
		cc, _ := DecodeConfChange(e.Data)
		voters = cc.apply(voters)
		kept = append(kept, idx)
	}
	c.confIndexes = kept
	c.changeVoters(voters)
}

// changeVoters installs a configuration; a leader starts or stops
// tracking the changed peers.
func (c *Core) changeVoters(voters []uint64) {
	c.setVoters(voters)
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
		if !c.isVoter(id) {
			delete(c.prs, id)
		}
	}
	if c.leadTransferee != 0 && !c.isVoter(c.leadTransferee) {
		c.leadTransferee = 0
	}
	c.maybeCommit() // a smaller quorum may commit at once
}

// votersAt returns the configuration in effect at index (at least the
// log offset): the base configuration changed by the conf entries up to
// index. It allocates; it is only used off the hot path.
func (c *Core) votersAt(index uint64) []uint64 {
	voters := c.baseVoters
	for _, idx := range c.confIndexes {
		if idx > index {
			break
		}
		cc, _ := DecodeConfChange(c.log.ents[idx-c.log.offset-1].Data)
		voters = cc.apply(voters)
	}
	return voters
}

// compactConf moves the configuration base to the compaction point.
func (c *Core) compactConf(index uint64) {
	n := 0
	for n < len(c.confIndexes) && c.confIndexes[n] <= index {
		e := c.log.ents[c.confIndexes[n]-c.log.offset-1]
		cc, _ := DecodeConfChange(e.Data)
		c.baseVoters = cc.apply(c.baseVoters)
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
