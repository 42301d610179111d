package explore

import (
	"fmt"
	"slices"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// Kind is an action's kind.
type Kind uint8

// The explorer's actions (MODEL.md describes each).
const (
	Deliver   Kind = iota + 1 // deliver one in-flight message
	Drop                      // lose one in-flight message
	Duplicate                 // copy one in-flight message
	Timeout                   // a non-leader's election timer fires
	Heartbeat                 // a leader's heartbeat timer fires
	Sync                      // a node's pending WAL writes become durable
	Crash                     // a node crashes, loses its unsynced writes and restarts
	Propose                   // a client proposal arrives at a node
	Read                      // a client read (ReadIndex) arrives at a node
	numKinds
)

var kindNames = [...]string{"", "deliver", "drop", "duplicate", "timeout", "heartbeat", "sync", "crash", "propose", "read"}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i := Kind(1); i < numKinds; i++ {
		if kindNames[i] == string(b) {
			*k = i
			return nil
		}
	}
	return fmt.Errorf("explore: unknown action kind %q", b)
}

// Action is one choice. Message actions name the message by the hash of
// its encoding (MsgHash) — identical copies are interchangeable — and,
// for readers, its text (Msg); node actions name the node (1-based).
type Action struct {
	Kind    Kind   `json:"kind"`
	Node    uint64 `json:"node,omitempty"`
	MsgHash uint64 `json:"msg_hash,omitempty"`
	Msg     string `json:"msg,omitempty"`
	// msgType is kept for coverage and diagrams.
	msgType raftpb.MessageType
	from    uint64
}

func (a Action) String() string {
	if a.MsgHash != 0 {
		return fmt.Sprintf("%s %s", a.Kind, a.Msg)
	}
	return fmt.Sprintf("%s n%d", a.Kind, a.Node)
}

// compact is an action as the search stores it (16 bytes).
type compact struct {
	msg  uint64
	kind Kind
	node uint8
}

func (a Action) compact() compact { return compact{msg: a.MsgHash, kind: a.Kind, node: uint8(a.Node)} }

// enabled lists the actions possible in w, in a fixed order: messages
// by hash (one per distinct message), then node actions by node.
func (w *world) enabled(out []Action) []Action {
	out = out[:0]
	msgs := make([]inflight, len(w.net))
	copy(msgs, w.net)
	slices.SortFunc(msgs, func(a, b inflight) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	for i, m := range msgs {
		if i > 0 && msgs[i-1].hash == m.hash {
			continue
		}
		out = append(out, Action{Kind: Deliver, MsgHash: m.hash})
		if w.used.Drops < w.cfg.MaxDrops {
			out = append(out, Action{Kind: Drop, MsgHash: m.hash})
		}
		if w.used.Dups < w.cfg.MaxDups {
			out = append(out, Action{Kind: Duplicate, MsgHash: m.hash})
		}
	}
	for _, n := range w.n {
		c := n.core
		leader := c.Role() == engine.Leader
		if !leader && c.Term() < uint64(w.cfg.MaxTerm) {
			out = append(out, Action{Kind: Timeout, Node: n.id})
		}
		if leader && w.cfg.Heartbeats {
			out = append(out, Action{Kind: Heartbeat, Node: n.id})
		}
		if n.log.Pending() > 0 {
			out = append(out, Action{Kind: Sync, Node: n.id})
		}
		if w.used.Crashes < w.cfg.MaxCrashes {
			out = append(out, Action{Kind: Crash, Node: n.id})
		}
		knowsLeader := leader || c.Leader() != 0
		if knowsLeader && w.used.Proposals < w.cfg.MaxProposals {
			out = append(out, Action{Kind: Propose, Node: n.id})
		}
		if knowsLeader && w.used.Reads < w.cfg.MaxReads {
			out = append(out, Action{Kind: Read, Node: n.id})
		}
	}
	return out
}

// take removes one copy of the message with hash h from the network.
func (w *world) take(h uint64) (raftpb.Message, bool) {
	for i := range w.net {
		if w.net[i].hash == h {
			var m raftpb.Message
			if err := raftpb.UnmarshalMessage(w.net[i].enc, &m, raftpb.Limits{}); err != nil {
				panic(fmt.Sprintf("explore: decode in-flight message: %v", err))
			}
			w.net = append(w.net[:i], w.net[i+1:]...)
			return m, true
		}
	}
	return raftpb.Message{}, false
}

// do performs a and then checks the state invariants. It fills in the
// action's readable fields and fails if a is not possible in w.
func (w *world) do(a *Action) error {
	w.note = w.note[:0]
	node := func() (*node, error) {
		if a.Node < 1 || a.Node > uint64(len(w.n)) {
			return nil, fmt.Errorf("explore: %s: no node %d", a.Kind, a.Node)
		}
		return w.n[a.Node-1], nil
	}
	switch a.Kind {
	case Deliver, Drop, Duplicate:
		m, ok := w.take(a.MsgHash)
		if !ok {
			return fmt.Errorf("explore: %s: message %x is not in flight", a.Kind, a.MsgHash)
		}
		a.Msg, a.msgType, a.from, a.Node = m.String(), m.Type, m.From, m.To
		switch a.Kind {
		case Drop:
			w.used.Drops++
		case Duplicate:
			w.used.Dups++
			w.send(&m)
			w.send(&m)
		case Deliver:
			w.msgTypes[m.Type]++
			n := w.n[m.To-1]
			_ = n.core.Step(m) // a refused message changes nothing
			w.drive(n)
		}
	case Timeout, Heartbeat:
		n, err := node()
		if err != nil {
			return err
		}
		if a.Kind == Timeout {
			before := n.core.Term()
			for i := 0; i < 4*electionTicks && n.core.Term() == before && !n.core.HasReady(); i++ {
				n.drv.Tick()
			}
		} else {
			n.drv.Tick()
		}
		w.drive(n)
	case Sync:
		n, err := node()
		if err != nil {
			return err
		}
		n.log.SyncAll()
		w.drive(n)
	case Crash:
		n, err := node()
		if err != nil {
			return err
		}
		w.used.Crashes++
		w.crash(n)
		w.drive(n)
	case Propose:
		n, err := node()
		if err != nil {
			return err
		}
		w.used.Proposals++
		if err := n.core.Propose(proposal(uint64(w.used.Proposals))); err != nil {
			w.note = append(w.note, fmt.Sprintf("n%d refused proposal: %v", n.id, err))
		}
		w.drive(n)
	case Read:
		n, err := node()
		if err != nil {
			return err
		}
		w.used.Reads++
		id := readID(n)
		n.asked[id] = uint64(len(w.committed))
		if err := n.drv.ReadIndex(id); err != nil {
			delete(n.asked, id)
			w.note = append(w.note, fmt.Sprintf("n%d refused read: %v", n.id, err))
		}
		w.drive(n)
	default:
		return fmt.Errorf("explore: unknown action kind %d", a.Kind)
	}
	w.checkState()
	return nil
}
