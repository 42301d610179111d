package maelstrom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// Membership changes for chaos runs. The chaos harness's membership
// nemesis sends lines whose body type is MemberMessageType, over the
// same stdin/stdout protocol as everything else:
//
//	{"type":"raftbench_member","msg_id":N,"op":"status"}
//	{"type":"raftbench_member","msg_id":N,"op":"remove"|"add-learner"|"promote"|"demote"|"transfer","node":"n2"}
//
// and the node answers {"type":"raftbench_member_ok","in_reply_to":N,
// "value":{"leader","term","voters","voters_outgoing","learners",
// "learners_next","joint"}} (names, not IDs; after a change, the
// configuration then in force) or a Maelstrom error: 11 (definite: not
// the leader, another change or a transfer in progress, a learner not
// caught up: try later), 12 (definite: the change does not apply to the
// configuration: nothing changed), 0 (timed out: the change may still
// take effect). A node that does not know the type answers 10 (not
// supported), which the harness reports as "this node does not support
// membership changes".
//
// Every node of the init's node_ids keeps running whatever its
// membership: a node outside the configuration it has applied (removed,
// or not yet added back) refuses client requests with the definite code
// 11 before proposing anything, so it never acknowledges what its
// cluster did not commit.

// MemberMessageType is the body type of a membership request.
const MemberMessageType = "raftbench_member"

// memberTimeout bounds one membership request: a joint change takes two
// rounds, and a demotion's answer waits for the joint configuration to
// be left.
const memberTimeout = 3 * time.Second

type memberBody struct {
	header
	Op   string `json:"op"`
	Node string `json:"node"`
}

// MemberStatus is the value of a raftbench_member_ok answer.
type MemberStatus struct {
	Leader         string   `json:"leader"`
	Term           uint64   `json:"term"`
	Voters         []string `json:"voters"`
	VotersOutgoing []string `json:"voters_outgoing,omitempty"`
	Learners       []string `json:"learners,omitempty"`
	LearnersNext   []string `json:"learners_next,omitempty"`
	Joint          bool     `json:"joint"`
}

func (s *Server) handleMember(msg Message, h header) {
	if h.MsgID == nil {
		s.log.Error("membership request without msg_id", "src", msg.Src)
		return
	}
	if s.node == nil {
		s.replyError(msg, h, CodeTemporarilyUnavailable, "node not initialised")
		return
	}
	var b memberBody
	if err := json.Unmarshal(msg.Body, &b); err != nil {
		s.replyError(msg, h, CodeMalformedRequest, "malformed membership request: "+err.Error())
		return
	}
	if b.Op == "status" {
		st := s.node.Status()
		s.replyMember(msg, h, raftpb.ConfState{Voters: st.Voters, VotersOutgoing: st.VotersOutgoing,
			Learners: st.Learners, LearnersNext: st.LearnersNext})
		return
	}
	id := uint64(slices.Index(s.names, b.Node) + 1)
	if id == 0 {
		s.replyError(msg, h, CodeMalformedRequest, fmt.Sprintf("node %q is not one of %v", b.Node, s.names))
		return
	}
	var typ engine.ConfChangeType
	switch b.Op {
	case "remove":
		typ = engine.RemoveVoter
	case "add-learner":
		typ = engine.AddLearner
	case "promote":
		typ = engine.AddVoter
	case "demote":
		typ = engine.DemoteVoter
	case "transfer":
	default:
		s.replyError(msg, h, CodeMalformedRequest, fmt.Sprintf("membership op %q: want status, remove, add-learner, promote, demote or transfer", b.Op))
		return
	}
	if !s.node.IsLeader() {
		s.replyError(msg, h, CodeTemporarilyUnavailable, fmt.Sprintf("not the leader (leader: %s)", s.name(s.node.Leader())))
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), memberTimeout)
		defer cancel()
		if b.Op == "transfer" {
			if err := s.node.TransferLeadership(ctx, id); err != nil {
				s.memberError(msg, h, err)
				return
			}
			s.replyMember(msg, h, s.node.AppliedConf())
			return
		}
		cs, err := s.node.ProposeConfChange(ctx, engine.Change(typ, id))
		if err != nil {
			s.memberError(msg, h, err)
			return
		}
		s.replyMember(msg, h, cs)
	}()
}

func (s *Server) memberError(msg Message, h header, err error) {
	switch {
	case errors.Is(err, engine.ErrBadConfChange), errors.Is(err, engine.ErrUnknownPeer):
		s.replyError(msg, h, CodeMalformedRequest, err.Error())
	case errors.Is(err, engine.ErrConfChangeInProgress), errors.Is(err, engine.ErrLearnerBehind),
		errors.Is(err, engine.ErrTransferInProgress):
		s.replyError(msg, h, CodeTemporarilyUnavailable, err.Error())
	default:
		code, text := errorCode(err)
		s.replyError(msg, h, code, text)
	}
}

func (s *Server) replyMember(msg Message, h header, cs raftpb.ConfState) {
	names := func(ids []uint64) []string {
		out := []string{}
		for _, id := range ids {
			out = append(out, s.name(id))
		}
		return out
	}
	st := MemberStatus{Leader: s.name(s.node.Leader()), Term: s.node.Term(), Voters: names(cs.Voters),
		VotersOutgoing: names(cs.VotersOutgoing), Learners: names(cs.Learners), LearnersNext: names(cs.LearnersNext),
		Joint: cs.Joint()}
	v, _ := json.Marshal(st)
	s.reply(msg, h, replyBody{Type: MemberMessageType + "_ok", Value: v})
}

// name is node id's Maelstrom name ("" for none).
func (s *Server) name(id uint64) string {
	if id == 0 || id > uint64(len(s.names)) {
		return ""
	}
	return s.names[id-1]
}

// removedError is non-nil when this node is outside the configuration it
// has applied: a client request is then refused before anything is
// proposed (definite), rather than waiting on a cluster that no longer
// sends this node its log.
func (s *Server) removedError() error {
	cs := s.node.AppliedConf()
	if cs.IsMember(s.node.ID()) {
		return nil
	}
	return fmt.Errorf("%s is not a member of the cluster's configuration (%v)", s.self, cs)
}
