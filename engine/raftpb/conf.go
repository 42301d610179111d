package raftpb

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ConfState is a cluster configuration: who votes, who only learns, and
// where each member can be reached.
//
// In a joint configuration (thesis §4.3) VotersOutgoing holds the old
// voters and Voters the new ones; a decision (commit, election) then
// needs a majority of each. Outside a joint configuration
// VotersOutgoing is empty. AutoLeave says the leader leaves the joint
// configuration by itself as soon as entering it has committed.
//
// LearnersNext holds, in a joint configuration, outgoing voters that
// become learners when it is left (a demotion, etcd's LearnersNext):
// while joint they still vote in the outgoing half, so a node is never a
// voter and a learner at once in one half.
//
// Addrs carries the network address of members that announced one with
// the change that added them, so a new member's address reaches every
// node through the log (and through snapshots). The core never reads
// addresses; it only carries them.
type ConfState struct {
	Voters         []uint64
	VotersOutgoing []uint64
	Learners       []uint64
	LearnersNext   []uint64
	AutoLeave      bool
	Addrs          []PeerAddr
}

// PeerAddr is the network address of one member.
type PeerAddr struct {
	ID   uint64
	Addr string
}

// Joint reports whether cs is a joint configuration.
func (cs ConfState) Joint() bool { return len(cs.VotersOutgoing) > 0 }

// IsVoter reports whether id votes in cs (in either half when joint).
func (cs ConfState) IsVoter(id uint64) bool {
	return slices.Contains(cs.Voters, id) || slices.Contains(cs.VotersOutgoing, id)
}

// IsLearner reports whether id is a learner in cs.
func (cs ConfState) IsLearner(id uint64) bool { return slices.Contains(cs.Learners, id) }

// IsMember reports whether id is a voter or a learner in cs.
func (cs ConfState) IsMember(id uint64) bool { return cs.IsVoter(id) || cs.IsLearner(id) }

// Members returns every voter (both halves) and learner, sorted, once.
func (cs ConfState) Members() []uint64 {
	out := make([]uint64, 0, len(cs.Voters)+len(cs.VotersOutgoing)+len(cs.Learners))
	out = append(append(append(append(out, cs.Voters...), cs.VotersOutgoing...), cs.Learners...), cs.LearnersNext...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Addr returns the address recorded for id, or "".
func (cs ConfState) Addr(id uint64) string {
	i, ok := slices.BinarySearchFunc(cs.Addrs, id, func(a PeerAddr, id uint64) int { return cmp.Compare(a.ID, id) })
	if !ok {
		return ""
	}
	return cs.Addrs[i].Addr
}

// SetAddr records (or, with addr "", forgets) id's address.
func (cs *ConfState) SetAddr(id uint64, addr string) {
	i, ok := slices.BinarySearchFunc(cs.Addrs, id, func(a PeerAddr, id uint64) int { return cmp.Compare(a.ID, id) })
	switch {
	case ok && addr == "":
		cs.Addrs = slices.Delete(cs.Addrs, i, i+1)
	case ok:
		cs.Addrs[i].Addr = addr
	case addr != "":
		cs.Addrs = slices.Insert(cs.Addrs, i, PeerAddr{ID: id, Addr: addr})
	}
}

// Clone returns a deep copy of cs with every list sorted.
func (cs ConfState) Clone() ConfState {
	out := ConfState{
		Voters:         sortedClone(cs.Voters),
		VotersOutgoing: sortedClone(cs.VotersOutgoing),
		Learners:       sortedClone(cs.Learners),
		LearnersNext:   sortedClone(cs.LearnersNext),
		AutoLeave:      cs.AutoLeave,
		Addrs:          slices.Clone(cs.Addrs),
	}
	slices.SortFunc(out.Addrs, func(a, b PeerAddr) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func sortedClone(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// Equal reports whether a and b describe the same configuration.
func (cs ConfState) Equal(o ConfState) bool {
	a, b := cs.Clone(), o.Clone()
	return slices.Equal(a.Voters, b.Voters) && slices.Equal(a.VotersOutgoing, b.VotersOutgoing) &&
		slices.Equal(a.Learners, b.Learners) && slices.Equal(a.LearnersNext, b.LearnersNext) && a.AutoLeave == b.AutoLeave && slices.Equal(a.Addrs, b.Addrs)
}

func (cs ConfState) String() string {
	s := fmt.Sprintf("voters=%v", cs.Voters)
	if cs.Joint() {
		s += fmt.Sprintf("&&%v", cs.VotersOutgoing)
		if cs.AutoLeave {
			s += " autoleave"
		}
	}
	if len(cs.Learners) > 0 {
		s += fmt.Sprintf(" learners=%v", cs.Learners)
	}
	if len(cs.LearnersNext) > 0 {
		s += fmt.Sprintf(" learners_next=%v", cs.LearnersNext)
	}
	return s
}

// Limits of an encoded configuration's extension; real clusters have a
// handful of members with short addresses.
const (
	maxConfMembers = 1 << 12
	maxAddrBytes   = 1 << 10
)

// ErrMalformedConf is wrapped by DecodeConfExtension's errors.
var ErrMalformedConf = errors.New("raftpb: malformed configuration")

// AppendConfExtension appends the part of cs beyond Voters (outgoing
// voters, learners, auto-leave, addresses), the piece snapshot encodings
// carry after their voter list:
//
//	nOut:uvarint out{nOut}:uvarint  nLearners:uvarint learner{n}:uvarint
//	autoLeave:u8  nAddrs:uvarint (id:uvarint addrLen:uvarint addr){nAddrs}
//	[nNext:uvarint next{nNext}:uvarint]   (learners next; only when any)
//
// It appends nothing for a configuration that has only voters, so such
// snapshots keep their old encoding.
func AppendConfExtension(b []byte, cs ConfState) []byte {
	if !cs.hasExtension() {
		return b
	}
	b = appendIDs(b, cs.VotersOutgoing)
	b = appendIDs(b, cs.Learners)
	if cs.AutoLeave {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(cs.Addrs)))
	for _, a := range cs.Addrs {
		b = binary.AppendUvarint(b, a.ID)
		b = binary.AppendUvarint(b, uint64(len(a.Addr)))
		b = append(b, a.Addr...)
	}
	if len(cs.LearnersNext) > 0 {
		b = appendIDs(b, cs.LearnersNext)
	}
	return b
}

func (cs ConfState) hasExtension() bool {
	return len(cs.VotersOutgoing) > 0 || len(cs.Learners) > 0 || len(cs.LearnersNext) > 0 || cs.AutoLeave || len(cs.Addrs) > 0
}

func appendIDs(b []byte, ids []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
	}
	return b
}

// DecodeConfExtension parses what AppendConfExtension wrote into cs
// (whose Voters the caller has filled); the whole of b must be used.
// An empty b leaves cs as it is.
func DecodeConfExtension(b []byte, cs *ConfState) error {
	if len(b) == 0 {
		return nil
	}
	d := confDecoder{b: b}
	cs.VotersOutgoing = d.ids("outgoing voters")
	cs.Learners = d.ids("learners")
	switch d.byte() {
	case 0:
	case 1:
		cs.AutoLeave = true
	default:
		d.fail("auto-leave flag is not 0 or 1")
	}
	n := d.count("addresses")
	for i := 0; i < n && d.err == nil; i++ {
		id := d.uvarint()
		l := d.uvarint()
		if l > maxAddrBytes || l > uint64(len(d.b)-d.off) {
			d.fail(fmt.Sprintf("address length %d does not fit", l))
			break
		}
		cs.Addrs = append(cs.Addrs, PeerAddr{ID: id, Addr: string(d.b[d.off : d.off+int(l)])})
		d.off += int(l)
	}
	if d.err == nil && d.off < len(d.b) {
		cs.LearnersNext = d.ids("learners next")
		if d.err == nil && len(cs.LearnersNext) == 0 {
			d.fail("an empty learners-next list must be omitted")
		}
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)-d.off))
	}
	if d.err == nil && !cs.hasExtension() {
		d.fail("an empty extension must be omitted") // one encoding per configuration
	}
	return d.err
}

type confDecoder struct {
	b   []byte
	off int
	err error
}

func (d *confDecoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformedConf, why)
	}
}

func (d *confDecoder) byte() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *confDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 || (n > 1 && d.b[d.off+n-1] == 0) {
		d.fail("bad or non-minimal varint")
		return 0
	}
	d.off += n
	return v
}

func (d *confDecoder) count(what string) int {
	n := d.uvarint()
	if n > maxConfMembers || n > uint64(len(d.b)-d.off) {
		d.fail(fmt.Sprintf("%s count %d does not fit", what, n))
		return 0
	}
	return int(n)
}

func (d *confDecoder) ids(what string) []uint64 {
	n := d.count(what)
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = d.uvarint()
	}
	return out
}
