package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// cluster is the core tests' one harness, a minimal pure-core driver
// (package engine cannot import engine/driver, which the runtime and the
// simulator share): cores stepping each other's messages, every Ready
// persisted at once or, with delayPersist, when completePersist says so,
// and committed entries recorded.
type cluster struct {
	t       *testing.T
	ids     []uint64
	cores   map[uint64]*Core
	cut     map[[2]uint64]bool // directed links that drop messages
	applied map[uint64][]raftpb.Entry
	reads   map[uint64][]ReadState
	queue   []raftpb.Message

	// delayPersist queues each Ready's persistence (in order, per node)
	// until completePersist.
	delayPersist bool
	persistQ     map[uint64][]pendingPersist
	// observe, if set, sees every Ready before it is processed.
	observe func(id uint64, rd *Ready)
}

// pendingPersist is one Ready's obligations once it is durable.
type pendingPersist struct {
	index, term uint64
	after       []raftpb.Message
}

func newCluster(t *testing.T, n int, mod func(*Config)) *cluster {
	t.Helper()
	cl := &cluster{t: t, cores: map[uint64]*Core{}, cut: map[[2]uint64]bool{},
		applied: map[uint64][]raftpb.Entry{}, reads: map[uint64][]ReadState{}, persistQ: map[uint64][]pendingPersist{}}
	for i := 1; i <= n; i++ {
		cl.ids = append(cl.ids, uint64(i))
	}
	for _, id := range cl.ids {
		cfg := Config{ID: id, Voters: cl.ids, Seed: 1, PreVote: true, CheckQuorum: true}
		if mod != nil {
			mod(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%d): %v", id, err)
		}
		cl.cores[id] = c
	}
	return cl
}

// isolate cuts every link to and from id; heal restores all links.
func (cl *cluster) isolate(id uint64) {
	for _, o := range cl.ids {
		if o != id {
			cl.cut[[2]uint64{id, o}] = true
			cl.cut[[2]uint64{o, id}] = true
		}
	}
}

func (cl *cluster) heal() { cl.cut = map[[2]uint64]bool{} }

// processReady takes one Ready from id, persists it (at once, or queued
// with delayPersist) and queues its messages.
func (cl *cluster) processReady(id uint64) {
	c := cl.cores[id]
	rd := c.Ready()
	if cl.observe != nil {
		cl.observe(id, &rd)
	}
	c.Advance(rd)
	cl.queue = append(cl.queue, rd.Messages...)
	// The messages are copied into the queue, so their array goes back as
	// the runtime's driver gives it back: every cluster test runs on
	// recycled arrays.
	c.RecycleMessages(rd.Messages)
	p := pendingPersist{after: rd.MessagesAfterPersist}
	switch {
	case len(rd.Entries) > 0:
		last := rd.Entries[len(rd.Entries)-1]
		p.index, p.term = last.Index, last.Term
	case rd.Snapshot != nil:
		p.index, p.term = rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term
	}
	if cl.persistQ == nil {
		cl.persistQ = map[uint64][]pendingPersist{}
	}
	cl.persistQ[id] = append(cl.persistQ[id], p)
	if !cl.delayPersist {
		cl.completePersist(id)
	}
	cl.applied[id] = append(cl.applied[id], rd.CommittedEntries...)
	cl.reads[id] = append(cl.reads[id], rd.ReadStates...)
}

// completePersist makes id's oldest pending Ready durable: its held-back
// messages leave and the core learns what is persisted. False if none.
func (cl *cluster) completePersist(id uint64) bool {
	q := cl.persistQ[id]
	if len(q) == 0 {
		return false
	}
	p := q[0]
	cl.persistQ[id] = q[1:]
	cl.queue = append(cl.queue, p.after...)
	if p.index > 0 {
		cl.cores[id].Persisted(p.index, p.term)
	}
	return true
}

// stabilize runs Readies and delivers messages until nothing moves.
func (cl *cluster) stabilize() {
	cl.t.Helper()
	for iter := 0; ; iter++ {
		if iter > 100000 {
			cl.t.Fatal("cluster did not stabilize")
		}
		moved := false
		for _, id := range cl.ids {
			for cl.cores[id].HasReady() {
				cl.processReady(id)
				moved = true
			}
		}
		if len(cl.queue) > 0 {
			q := cl.queue
			cl.queue = nil
			for _, m := range q {
				cl.deliver(m)
			}
			moved = true
		}
		if !moved {
			return
		}
	}
}

func (cl *cluster) deliver(m raftpb.Message) {
	if cl.cut[[2]uint64{m.From, m.To}] {
		return
	}
	if err := cl.cores[m.To].Step(m); err != nil {
		cl.t.Fatalf("Step(%v): %v", m, err)
	}
}

// campaign makes id time out and stabilizes.
func (cl *cluster) campaign(id uint64) {
	c := cl.cores[id]
	for i := 0; i < 2*c.cfg.ElectionTicks && c.role == Follower; i++ {
		c.Tick()
	}
	cl.stabilize()
}

// elect makes id leader (asserting it) with everything committed.
func (cl *cluster) elect(id uint64) {
	cl.t.Helper()
	// Let the other followers' leases lapse, as if an election timeout
	// passed without a leader reaching them (§9.6, thesis §4.2.3).
	for _, o := range cl.ids {
		if c := cl.cores[o]; o != id && c.Role() != Leader {
			c.electionElapsed = c.cfg.ElectionTicks
		}
	}
	cl.campaign(id)
	if r := cl.cores[id].Role(); r != Leader {
		cl.t.Fatalf("node %d is %v, want leader", id, r)
	}
}

func (cl *cluster) leader() uint64 {
	for _, id := range cl.ids {
		if cl.cores[id].Role() == Leader {
			return id
		}
	}
	return 0
}

// appliedData lists the data of normal entries id applied.
func (cl *cluster) appliedData(id uint64) []string {
	var out []string
	for _, e := range cl.applied[id] {
		if e.Type == raftpb.EntryNormal {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// step delivers m to its target (no Ready processing).
func step(t *testing.T, c *Core, m raftpb.Message) {
	t.Helper()
	if err := c.Step(m); err != nil {
		t.Fatalf("Step(%v): %v", m, err)
	}
}

// takeReady returns c's Ready (advanced, not persisted).
func takeReady(c *Core) Ready {
	if !c.HasReady() {
		return Ready{}
	}
	rd := c.Ready()
	c.Advance(rd)
	return rd
}

// msgsString renders messages compactly for table comparisons: one
// "Type from->to t<term> ..." per message via raftpb.Message.String.
func msgsString(ms []raftpb.Message) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, "; ")
}

func entsOf(terms ...uint64) []raftpb.Entry {
	out := make([]raftpb.Entry, len(terms))
	for i, t := range terms {
		out[i] = raftpb.Entry{Term: t, Index: uint64(i + 1), Type: raftpb.EntryNormal, Data: []byte(fmt.Sprint(i + 1))}
	}
	return out
}

func termsOf(c *Core) []uint64 {
	var out []uint64
	for _, e := range c.log.all() {
		out = append(out, e.Term)
	}
	return out
}

func TestClusterElectsAndCommits(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.elect(1)
	for _, id := range cl.ids {
		if got := cl.cores[id].Leader(); got != 1 {
			t.Fatalf("node %d sees leader %d", id, got)
		}
	}
	if err := cl.cores[1].Propose([]byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	// followers learn the commit via heartbeat / next MsgApp
	cl.cores[1].Tick()
	cl.stabilize()
	for _, id := range cl.ids {
		if got := cl.appliedData(id); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("node %d applied %v", id, got)
		}
	}
	// a follower forwards proposals to the leader
	if err := cl.cores[2].Propose([]byte("c")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	cl.cores[1].Tick()
	cl.stabilize()
	for _, id := range cl.ids {
		if got := cl.appliedData(id); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("node %d applied %v", id, got)
		}
	}
}

func TestSingleNodeCommitsAfterPersist(t *testing.T) {
	cl := newCluster(t, 1, nil)
	cl.elect(1)
	if err := cl.cores[1].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	cl.stabilize()
	if got := cl.appliedData(1); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("applied %v", got)
	}
}
