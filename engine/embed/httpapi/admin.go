package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// AdminPrefix starts every administrative (membership) endpoint, so one
// middleware can guard them all:
//
//	GET    /admin/members              the configuration and each member's role, address, progress
//	POST   /admin/members              {"id", "addr", "learner"}: add a voter or a learner
//	POST   /admin/members/{id}/promote  make a caught-up learner a voter
//	POST   /admin/members/{id}/demote   make a voter a learner (through a joint configuration;
//	                                    the leader leads through it and steps down once it is left)
//	DELETE /admin/members/{id}         remove a member (the leader too: it steps down)
//	POST   /admin/conf                 {"changes": [{"type", "id", "addr"}], "transition"}: several at once (joint consensus)
//	POST   /admin/transfer             {"to"}: hand leadership to a voter
//
// Changes are made on the leader; another node answers 503 with the
// leader's ID. A change is answered once it is applied on the leader
// (and, for an auto-leave joint change, once the joint configuration is
// left). Bad requests change nothing: 400 (malformed, unknown node,
// last voter, unreachable address), 409 (another change in progress,
// learner not caught up), 503 (not the leader; definite), 504 (timed out:
// the change may still take effect).
const AdminPrefix = "/admin/"

// registerAdmin adds the administrative endpoints; every one lives under
// AdminPrefix and is registered here, nowhere else.
func (s *Server) registerAdmin() {
	s.mux.HandleFunc("GET "+AdminPrefix+"members", s.adminMembers)
	s.mux.HandleFunc("POST "+AdminPrefix+"members", s.adminAdd)
	s.mux.HandleFunc("POST "+AdminPrefix+"members/{id}/promote", s.adminPromote)
	s.mux.HandleFunc("POST "+AdminPrefix+"members/{id}/demote", s.adminDemote)
	s.mux.HandleFunc("DELETE "+AdminPrefix+"members/{id}", s.adminRemove)
	s.mux.HandleFunc("POST "+AdminPrefix+"conf", s.adminConf)
	s.mux.HandleFunc("POST "+AdminPrefix+"transfer", s.adminTransfer)
}

// Member is one member as GET /admin/members reports it.
type Member struct {
	ID   uint64 `json:"id"`
	Addr string `json:"addr,omitempty"`
	// Role is "voter", "learner", "outgoing" (a voter of the old half of
	// a joint configuration only) or "leader".
	Role string `json:"role"`
	// Match is the leader's view of the member's log (leader only).
	Match *uint64 `json:"match,omitempty"`
}

// Members is GET /admin/members.
type Members struct {
	ID              uint64   `json:"id"` // the answering node
	Leader          uint64   `json:"leader"`
	Term            uint64   `json:"term"`
	LastIndex       uint64   `json:"last_index"`
	Voters          []uint64 `json:"voters"`
	VotersOutgoing  []uint64 `json:"voters_outgoing,omitempty"`
	Learners        []uint64 `json:"learners,omitempty"`
	LearnersNext    []uint64 `json:"learners_next,omitempty"` // being demoted: learners once the joint configuration is left
	Joint           bool     `json:"joint"`
	Members         []Member `json:"members"`
	BootstrapVoters []uint64 `json:"bootstrap_voters"`
	// Peers is every address this node knows (configuration and
	// --peers), what a joining node needs to start.
	Peers map[uint64]string `json:"peers"`
}

// AddRequest is POST /admin/members.
type AddRequest struct {
	ID      uint64 `json:"id"`
	Addr    string `json:"addr"`
	Learner bool   `json:"learner"`
}

// ConfRequest is POST /admin/conf.
type ConfRequest struct {
	Changes []ConfStep `json:"changes"`
	// Transition is "auto" (default: joint only when more than one voter
	// changes), "joint" (always joint, auto-leave) or "joint-explicit"
	// (joint until an empty request with Leave).
	Transition string `json:"transition,omitempty"`
	Leave      bool   `json:"leave,omitempty"`
}

// ConfStep is one step of a ConfRequest; Type is "add-voter",
// "add-learner", "remove" or "demote".
type ConfStep struct {
	Type string `json:"type"`
	ID   uint64 `json:"id"`
	Addr string `json:"addr,omitempty"`
}

// TransferRequest is POST /admin/transfer.
type TransferRequest struct {
	To uint64 `json:"to"`
}

// ConfResponse answers a change with the configuration then in force.
type ConfResponse struct {
	Voters         []uint64 `json:"voters"`
	VotersOutgoing []uint64 `json:"voters_outgoing,omitempty"`
	Learners       []uint64 `json:"learners,omitempty"`
	LearnersNext   []uint64 `json:"learners_next,omitempty"`
	Joint          bool     `json:"joint"`
}

// addrCheckTimeout bounds the reachability check of a new member's
// address.
const addrCheckTimeout = 2 * time.Second

func (s *Server) adminMembers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.members())
}

func (s *Server) members() Members {
	n := s.cfg.Node
	st := n.Status()
	m := Members{ID: st.ID, Leader: st.Leader, Term: st.Term, LastIndex: st.LastIndex, Voters: st.Voters,
		VotersOutgoing: st.VotersOutgoing, Learners: st.Learners, LearnersNext: st.LearnersNext, Joint: st.Joint,
		BootstrapVoters: n.BootstrapVoters(), Peers: map[uint64]string{}}
	for id, a := range s.cfg.PeerAddrs {
		m.Peers[id] = a
	}
	for id, a := range st.Addrs {
		m.Peers[id] = a
	}
	ids := slices.Concat(st.Voters, st.VotersOutgoing, st.Learners)
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		mb := Member{ID: id, Addr: m.Peers[id], Role: "voter"}
		switch {
		case id == st.Leader:
			mb.Role = "leader"
		case slices.Contains(st.Learners, id):
			mb.Role = "learner"
		case !slices.Contains(st.Voters, id):
			mb.Role = "outgoing"
		}
		if p, ok := st.Progress[id]; ok {
			mb.Match = &p.Match
		} else if id == st.ID && st.Role == engine.Leader {
			mb.Match = &st.LastIndex
		}
		m.Members = append(m.Members, mb)
	}
	return m
}

func (s *Server) adminAdd(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	if req.ID == 0 {
		s.badRequest(w, "id must be a positive node ID")
		return
	}
	typ := engine.AddVoter
	if req.Learner {
		typ = engine.AddLearner
	}
	s.change(w, r, engine.ConfChange{Changes: []engine.ConfChangeSingle{{Type: typ, Node: req.ID, Addr: req.Addr}}})
}

func (s *Server) adminPromote(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	if st := s.cfg.Node.Status(); !slices.Contains(st.Learners, id) {
		s.badRequest(w, "node %d is not a learner (learners: %v)", id, st.Learners)
		return
	}
	s.change(w, r, engine.Change(engine.AddVoter, id))
}

// adminDemote makes a voter a learner. The change goes through a joint
// configuration in which the node still votes in the outgoing half; it
// is answered once that configuration is left. Demoting the leader is
// allowed: it leads through the joint phase and steps down once leaving
// commits (no transfer first), so the next leader comes from an
// election among the remaining voters.
func (s *Server) adminDemote(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	st := s.cfg.Node.Status()
	switch {
	case slices.Contains(st.Learners, id):
		s.badRequest(w, "node %d is already a learner", id)
		return
	case !slices.Contains(st.Voters, id):
		s.badRequest(w, "node %d is not a voter (voters: %v)", id, st.Voters)
		return
	case len(st.Voters) == 1:
		s.badRequest(w, "node %d is the last voter; it cannot be demoted", id)
		return
	}
	s.change(w, r, engine.Change(engine.DemoteVoter, id))
}

func (s *Server) adminRemove(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	s.change(w, r, engine.Change(engine.RemoveVoter, id))
}

func (s *Server) adminConf(w http.ResponseWriter, r *http.Request) {
	var req ConfRequest
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	cc := engine.ConfChange{Leave: req.Leave}
	switch req.Transition {
	case "", "auto":
	case "joint":
		cc.Transition = engine.TransitionJoint
	case "joint-explicit":
		cc.Transition = engine.TransitionJointExplicit
	default:
		s.badRequest(w, "transition %q: want auto, joint or joint-explicit", req.Transition)
		return
	}
	for _, st := range req.Changes {
		var typ engine.ConfChangeType
		switch st.Type {
		case "add-voter":
			typ = engine.AddVoter
		case "add-learner":
			typ = engine.AddLearner
		case "remove":
			typ = engine.RemoveVoter
		case "demote":
			typ = engine.DemoteVoter
		default:
			s.badRequest(w, "change type %q: want add-voter, add-learner, remove or demote", st.Type)
			return
		}
		cc.Changes = append(cc.Changes, engine.ConfChangeSingle{Type: typ, Node: st.ID, Addr: st.Addr})
	}
	s.change(w, r, cc)
}

func (s *Server) adminTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if !s.decodeAdmin(w, r, &req) {
		return
	}
	n := s.cfg.Node
	st := n.Status()
	switch {
	case st.Role != engine.Leader:
		s.fail(w, &engine.NotLeaderError{Leader: st.Leader})
		return
	case !slices.Contains(st.Voters, req.To) && !slices.Contains(st.VotersOutgoing, req.To):
		s.badRequest(w, "node %d is not a voter (voters: %v)", req.To, st.Voters)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	if err := n.TransferLeadership(ctx, req.To); err != nil {
		s.adminFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"leader": req.To})
}

// change validates what only the server can (addresses reachable),
// proposes cc and answers with the configuration in force.
func (s *Server) change(w http.ResponseWriter, r *http.Request, cc engine.ConfChange) {
	n := s.cfg.Node
	if !n.IsLeader() {
		s.fail(w, &engine.NotLeaderError{Leader: n.Leader()})
		return
	}
	members := n.AppliedConf()
	for _, st := range cc.Changes {
		if st.Type == engine.RemoveVoter || st.Type == engine.DemoteVoter || st.Addr == "" {
			// A promotion keeps the address the learner was added with.
			if (st.Type == engine.AddVoter || st.Type == engine.AddLearner) && s.cfg.RequireAddr && !members.IsMember(st.Node) {
				s.badRequest(w, "node %d: addr is required (the other members must be able to reach it)", st.Node)
				return
			}
			continue
		}
		if _, _, err := net.SplitHostPort(st.Addr); err != nil {
			s.badRequest(w, "node %d: address %q: %v", st.Node, st.Addr, err)
			return
		}
		c, err := net.DialTimeout("tcp", st.Addr, addrCheckTimeout)
		if err != nil {
			s.badRequest(w, "node %d: address %s unreachable: %v", st.Node, st.Addr, err)
			return
		}
		c.Close()
	}
	timeout := 4 * s.cfg.RequestTimeout // a joint change takes two rounds, and leaving waits for it
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	cs, err := n.ProposeConfChange(ctx, cc)
	if err != nil {
		s.adminFail(w, err)
		return
	}
	s.cfg.Logger.Info("membership changed", "change", cc.String(), "conf", cs.String())
	writeJSON(w, http.StatusOK, confResponse(cs))
}

func confResponse(cs raftpb.ConfState) ConfResponse {
	r := ConfResponse{Voters: cs.Voters, VotersOutgoing: cs.VotersOutgoing, Learners: cs.Learners, LearnersNext: cs.LearnersNext, Joint: cs.Joint()}
	if r.Voters == nil {
		r.Voters = []uint64{}
	}
	return r
}

// adminFail maps membership errors: 400 for a change that does not
// apply, 409 for one that must wait, the rest as for writes.
func (s *Server) adminFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, engine.ErrBadConfChange), errors.Is(err, engine.ErrUnknownPeer):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error(), Definite: true})
	case errors.Is(err, engine.ErrConfChangeInProgress), errors.Is(err, engine.ErrLearnerBehind),
		errors.Is(err, engine.ErrTransferInProgress):
		writeJSON(w, http.StatusConflict, errorBody{Error: err.Error(), Definite: true, Leader: s.cfg.Node.Leader()})
	default:
		s.fail(w, err)
	}
}

func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		s.badRequest(w, "node id %q: want a positive integer", r.PathValue("id"))
		return 0, false
	}
	return id, true
}

func (s *Server) decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.badRequest(w, "request body: %v", err)
		return false
	}
	return true
}

// String describes a Members for the CLI.
func (m Members) String() string {
	s := fmt.Sprintf("leader %d, term %d, voters %v", m.Leader, m.Term, m.Voters)
	if m.Joint {
		s += fmt.Sprintf(" (joint with %v)", m.VotersOutgoing)
	}
	if len(m.Learners) > 0 {
		s += fmt.Sprintf(", learners %v", m.Learners)
	}
	if len(m.LearnersNext) > 0 {
		s += fmt.Sprintf(", being demoted %v", m.LearnersNext)
	}
	return s
}
