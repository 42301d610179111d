package sim

// Step is one simulated event as a viewer sees it: what fired, the
// messages it put on the network, and every node's state after it. A run
// calls Options.Observer with one Step per event, in order, only when an
// observer is set (the normal run pays one nil check per event).
type Step struct {
	No   uint64 `json:"no"`
	AtUs int64  `json:"at_us"`
	Kind string `json:"kind"`
	// Node is the 1-based node the event targets (0: none, or a client
	// event; Client is then the client's index + 1).
	Node   int `json:"node,omitempty"`
	Client int `json:"client,omitempty"`
	// Text is the event as the failure trace prints it, annotations
	// (blocked, node down, fsync fails, FAILURE: ...) included.
	Text string `json:"text"`
	// Msg is the message a deliver event carries; Delivered says whether
	// it reached the node's core (false: lost to a partition or a down node).
	Msg       *StepMsg `json:"msg,omitempty"`
	Delivered bool     `json:"delivered,omitempty"`
	// Sent are the messages this event put in flight (a dropped one is
	// not in flight and not listed; a duplicated one is listed twice).
	Sent []StepMsg `json:"sent,omitempty"`
	// Nodes is every node's state after the event.
	Nodes []NodeState `json:"nodes"`
	// Cut lists the links the current partition blocks, as [from, to]
	// node IDs (nil: no partition).
	Cut [][2]uint64 `json:"cut,omitempty"`
	// Failure is set on the event at which the run failed.
	Failure *Failure `json:"failure,omitempty"`
}

// StepMsg is one Raft message on the simulated network.
type StepMsg struct {
	// ID matches a Sent message with the deliver event that carries it.
	ID          uint64 `json:"id"`
	Type        string `json:"type"`
	From        uint64 `json:"from"`
	To          uint64 `json:"to"`
	Term        uint64 `json:"term"`
	Index       uint64 `json:"index"`
	LogTerm     uint64 `json:"log_term"`
	Commit      uint64 `json:"commit"`
	Entries     int    `json:"entries,omitempty"`
	Reject      bool   `json:"reject,omitempty"`
	DeliverAtUs int64  `json:"deliver_at_us"`
}

// NodeState is one node's Raft state at a step.
type NodeState struct {
	ID   uint64 `json:"id"`
	Up   bool   `json:"up"`
	Dead bool   `json:"dead,omitempty"`
	// Role is the core's role ("down" while the node is crashed).
	Role      string   `json:"role"`
	Term      uint64   `json:"term"`
	Vote      uint64   `json:"vote"`
	Lead      uint64   `json:"lead"`
	Commit    uint64   `json:"commit"`
	Applied   uint64   `json:"applied"`
	LastIndex uint64   `json:"last_index"`
	Snapshot  uint64   `json:"snapshot_index"`
	Voters    []uint64 `json:"voters,omitempty"`
}

// observeEvent reports the event just handled to the observer.
func (s *Sim) observeEvent(e *event) {
	st := Step{No: s.eventNo, AtUs: s.now, Kind: e.kind.String(), Text: s.tr.lastLine(), Sent: s.sentNow}
	s.sentNow = nil
	switch e.kind {
	case evClientReq, evClientReply, evClientTimeout, evClientStart:
		st.Client = e.node + 1
		if e.kind == evClientReq {
			st.Node = e.node + 1
			if e.cl != nil {
				st.Client = e.cl.client + 1
			}
		}
		if e.kind == evClientReply && e.cl != nil {
			st.Node = e.cl.node + 1
		}
	case evDeliver:
		st.Node = e.node + 1
		m := stepMsg(e)
		st.Msg = &m
		st.Delivered = s.delivered
	case evTick, evSync, evCrash, evRestart:
		st.Node = e.node + 1
	}
	s.delivered = false
	for _, n := range s.nodes {
		st.Nodes = append(st.Nodes, n.state())
	}
	if s.cut != nil {
		k := s.p.procs()
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				if s.cut[a*k+b] {
					st.Cut = append(st.Cut, [2]uint64{uint64(a + 1), uint64(b + 1)})
				}
			}
		}
	}
	if s.failure != nil && s.failure.Event == s.eventNo {
		f := *s.failure
		st.Failure = &f
	}
	s.opts.Observer(st)
}

// observeSend notes a message put in flight by the current event.
func (s *Sim) observeSend(e *event) {
	s.msgSeq++
	e.mid = s.msgSeq
	s.sentNow = append(s.sentNow, stepMsg(e))
}

func stepMsg(e *event) StepMsg {
	m := &e.msg
	return StepMsg{ID: e.mid, Type: m.Type.String(), From: m.From, To: m.To, Term: m.Term, Index: m.Index,
		LogTerm: m.LogTerm, Commit: m.Commit, Entries: len(m.Entries), Reject: m.Reject, DeliverAtUs: e.at}
}

func (n *simNode) state() NodeState {
	st := NodeState{ID: n.id, Up: n.up, Dead: n.dead, Role: "down", Voters: n.voters}
	if n.up && n.core != nil {
		cs := n.core.Status()
		st.Role, st.Term, st.Vote, st.Lead = cs.Role.String(), cs.Term, cs.Vote, cs.Lead
		st.Commit, st.Applied, st.LastIndex, st.Snapshot = cs.Commit, cs.Applied, cs.LastIndex, cs.SnapshotIndex
		st.Voters = cs.Voters
	}
	return st
}
