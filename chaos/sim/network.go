package sim

import "github.com/raftbench/raftbench/engine/raftpb"

// latency draws one one-way network delay.
func (s *Sim) latency() int64 {
	lo, hi := s.p.LatMinUs, s.p.LatMaxUs
	if !s.faultsOn() {
		// Raft promises progress only when broadcast time is well below
		// the election timeout (§5.6): the liveness phase provides a
		// round trip of at most a fifth of the minimum timeout.
		hi = min(hi, int64(s.p.ElectionTicks)*s.p.TickUs/10)
		lo = min(lo, hi)
	}
	d := s.r.Between(lo, hi)
	if s.faultsOn() && s.r.Permille(s.p.LatTailPermille) {
		d *= s.p.LatTailMult
	}
	return d
}

// send puts a Raft message on the network: it may be dropped, delayed,
// reordered or duplicated. Whether a partition blocks it is decided at
// delivery time, so messages in flight when a partition forms are lost
// as they would be on a real network.
func (s *Sim) send(m raftpb.Message) {
	s.stats.MsgsSent++
	if m.To == 0 || m.To > uint64(s.p.procs()) || m.From == m.To {
		s.fail("harness", "bad message", "message %v addressed outside the cluster", m)
		return
	}
	switch {
	case m.Type == raftpb.MsgVoteResp && !m.Reject:
		s.chk.onVoteGrant(s, m)
	case m.Type == raftpb.MsgSnapChunk:
		s.stats.SnapChunksSent++
		if m.Index == 0 {
			s.stats.SnapsSent++
		}
	}
	faults := s.faultsOn()
	if faults && (m.Type == raftpb.MsgSnapChunk || m.Type == raftpb.MsgSnapChunkResp) {
		if m.Type == raftpb.MsgSnapChunk && s.r.Permille(s.p.SnapCrashPermille) {
			// Crash one side mid-transfer, as the chunk leaves.
			victim := m.From
			if s.r.Permille(500) {
				victim = m.To
			}
			s.stats.SnapTransferCrashes++
			s.push(&event{at: s.now + s.r.Between(0, 2000), kind: evCrash, node: int(victim - 1), aux: 1})
		}
		if s.r.Permille(s.p.SnapCutPermille) {
			s.stats.SnapChunksCut++
			return
		}
	}
	if faults && m.Type == raftpb.MsgVoteResp && !m.Reject && s.r.Permille(s.p.BuggifyVotePermille) {
		// Buggify: crash the voter right after its durable vote left, and
		// bring it back fast, while the election is still running.
		s.push(&event{at: s.now + s.r.Between(0, 3000), kind: evCrash, node: int(m.From - 1), aux: 2})
	}
	if faults && s.r.Permille(s.p.DropPermille) {
		s.stats.MsgsDropped++
		return
	}
	copies := 1
	if faults && s.r.Permille(s.p.DupPermille) {
		copies = 2
		s.stats.MsgsDuplicated++
	}
	for i := 0; i < copies; i++ {
		d := s.latency()
		if faults && s.r.Permille(s.p.ReorderPermille) {
			d += s.r.Between(0, s.p.ReorderMaxUs)
			s.stats.MsgsReordered++
		}
		s.push(&event{at: s.now + d, kind: evDeliver, node: int(m.To - 1), msg: m})
	}
}

// sendClient carries a client request or answer (clients sit outside
// the partitions, but a lossy link may lose either direction).
func (s *Sim) sendClient(e *event) {
	if s.faultsOn() && s.r.Permille(s.p.ClientDropPermille) {
		s.stats.ClientMsgsDropped++
		return
	}
	e.at = s.now + s.latency()
	s.push(e)
}

// reply sends n's answer to req's client.
func (s *Sim) reply(n *simNode, req *clientMsg, kind replyKind, result []byte, index uint64) {
	rep := *req
	rep.kind, rep.result, rep.index, rep.node = kind, result, index, n.idx
	s.sendClient(&event{kind: evClientReply, node: req.client, cl: &rep})
}

// blocked reports whether the current partition cuts from → to.
func (s *Sim) blocked(from, to int) bool {
	return s.cut != nil && s.cut[from*s.p.procs()+to]
}

// partitionShape names the shapes a partition can take.
var partitionShapes = []string{"isolate-one", "split", "bridge", "one-way", "random-links"}

// startPartition cuts links in one of several shapes. The leader is the
// preferred victim of isolation, since that is where bugs hide.
func (s *Sim) startPartition() string {
	n := s.p.procs()
	s.cut = make([]bool, n*n)
	cutBoth := func(a, b int) { s.cut[a*n+b], s.cut[b*n+a] = true, true }
	shape := s.r.Pick(30, 30, 15, 10, 15)
	switch shape {
	case 0:
		v := s.victim()
		for j := 0; j < n; j++ {
			if j != v {
				cutBoth(v, j)
			}
		}
	case 1, 2:
		side := s.randomSides()
		bridge := -1
		if shape == 2 {
			bridge = s.r.Intn(n)
		}
		for a := 0; a < n; a++ {
			for b := a + 1; b < n; b++ {
				if side[a] != side[b] && a != bridge && b != bridge {
					cutBoth(a, b)
				}
			}
		}
	case 3:
		v := s.victim()
		inbound := s.r.Permille(500)
		for j := 0; j < n; j++ {
			if j == v {
				continue
			}
			if inbound {
				s.cut[j*n+v] = true
			} else {
				s.cut[v*n+j] = true
			}
		}
	default:
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b && s.r.Permille(350) {
					s.cut[a*n+b] = true
				}
			}
		}
	}
	s.stats.Partitions++
	s.stats.PartitionShapes[shape]++
	return partitionShapes[shape] + " " + s.cutString()
}

// randomSides splits the nodes into two non-empty groups.
func (s *Sim) randomSides() []bool {
	n := s.p.procs()
	side := make([]bool, n)
	for {
		cnt := 0
		for i := range side {
			side[i] = s.r.Permille(500)
			if side[i] {
				cnt++
			}
		}
		if cnt > 0 && cnt < n {
			return side
		}
	}
}

// victim picks a node to isolate or crash: often the current leader.
func (s *Sim) victim() int {
	if s.r.Permille(s.p.TargetLeaderPermille) {
		if l := s.currentLeader(); l >= 0 {
			return l
		}
	}
	return s.r.Intn(s.p.procs())
}

// currentLeader returns the index of an up node that believes it leads
// in the highest term, or -1.
func (s *Sim) currentLeader() int {
	best, bestTerm := -1, uint64(0)
	for _, n := range s.nodes {
		if n.up && n.role == roleLeader && n.term >= bestTerm {
			best, bestTerm = n.idx, n.term
		}
	}
	return best
}

func (s *Sim) cutString() string {
	if s.cut == nil {
		return "none"
	}
	out := ""
	n := s.p.procs()
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			if s.cut[a*n+b] {
				if out != "" {
					out += ","
				}
				out += string(rune('1'+a)) + "x" + string(rune('1'+b))
			}
		}
	}
	return "cut{" + out + "}"
}
