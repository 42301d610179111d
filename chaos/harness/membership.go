package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/maelstrom"
)

// The membership nemesis changes the cluster's configuration while the
// workload runs: on the seeded schedule it removes a voter, adds it back
// as a learner, promotes it, hands it the leadership, demotes a voter
// (sometimes the leader) and promotes it back, over and over. It talks
// to the nodes with a harness-specific message over the same
// stdin/stdout protocol (body type "raftbench_member", answered by
// raft-maelstrom; see package maelstrom's membership.go):
//
//	{"type":"raftbench_member","msg_id":N,"op":"status"}
//	{"type":"raftbench_member","msg_id":N,"op":OP,"node":"n2"}
//
// answered {"type":"raftbench_member_ok","value":{"leader","term",
// "voters","learners",...}} or an error: 11 (not the leader, or must
// wait: definite), 12 (the change does not apply: definite), 0 (timed
// out: it may still take effect). Before the workload starts, every node
// is asked for its status; a node that answers "not supported" (10),
// or answers nothing usable, makes Run fail with "this node does not
// support membership changes": the mode refuses to run rather than
// report a run in which no configuration changed.
//
// Nodes outside the configuration keep running, and their clients keep
// sending to them: a correct node answers with a definite error or
// forwards, never with an acknowledgement of something not committed,
// which the linearizability checker would catch. The schedule's ops are
// resolved against the configuration the leader reports when they fire:
// an op with nothing to act on (no learner to promote, too few voters
// left to remove one) is skipped and counted as such. At the final heal
// every node is made a voter again (best effort, bounded), so the quiet
// period runs on the whole cluster.

// NemesisMembership changes the configuration (see membership.go).
const NemesisMembership = "membership"

// Membership ops, in the order of one schedule cycle.
const (
	MemberRemove     = "remove"
	MemberAddLearner = "add-learner"
	MemberPromote    = "promote"
	MemberTransfer   = "transfer"
	MemberDemote     = "demote"
)

// memberMessageType is the body type of a membership request.
const memberMessageType = "raftbench_member"

// Bounds of one membership op: each request (status or change) waits at
// most memberRequestTimeout (a node answers within 3 s), an op retries
// "not the leader" or "must wait" answers for at most memberOpBudget.
const (
	memberRequestTimeout = 4 * time.Second
	memberOpBudget       = 6 * time.Second
	memberHealBudget     = 20 * time.Second
)

// membershipCycle draws one cycle of ops: remove a node and bring it
// back (learner, promotion, leadership), then demote a node and promote
// it back. "leader" as a target is resolved when the op fires.
func membershipCycle(rng *rand.Rand, nodes []string) []Event {
	pick := func() (string, []string) {
		if rng.IntN(3) == 0 {
			return "leader", nil
		}
		return "", []string{nodes[rng.IntN(len(nodes))]}
	}
	shape, target := pick()
	dShape, dTarget := pick()
	return []Event{
		{Kind: NemesisMembership, Mode: MemberRemove, Shape: shape, Nodes: target},
		{Kind: NemesisMembership, Mode: MemberAddLearner},
		{Kind: NemesisMembership, Mode: MemberPromote},
		{Kind: NemesisMembership, Mode: MemberTransfer},
		{Kind: NemesisMembership, Mode: MemberDemote, Shape: dShape, Nodes: dTarget},
		{Kind: NemesisMembership, Mode: MemberPromote},
	}
}

// membershipSchedule is the membership family's part of Schedule: one
// op after each gap drawn from uniform(0, 2 × NemesisInterval), cycle
// after cycle, until cfg.Time. Ops are Action "change" (they start
// nothing that a later op stops).
func membershipSchedule(rng *rand.Rand, cfg Config, nodes []string) []Event {
	var events, cycle []Event
	at := time.Duration(0)
	for {
		at += time.Duration(rng.Int64N(2*int64(cfg.NemesisInterval) + 1))
		if at >= cfg.Time {
			return events
		}
		if len(cycle) == 0 {
			cycle = membershipCycle(rng, nodes)
		}
		e := cycle[0]
		cycle = cycle[1:]
		e.Action, e.AtMs = "change", at.Milliseconds()
		events = append(events, e)
	}
}

// MembershipSummary is summary.json's account of the membership nemesis.
type MembershipSummary struct {
	// Performed, Refused, Skipped and Unknown count ops by name:
	// performed (the leader answered ok), refused (a definite error: the
	// change did not happen), skipped (nothing to act on in the
	// configuration the leader reported), unknown (timed out: it may
	// have happened).
	Performed map[string]int `json:"performed"`
	Refused   map[string]int `json:"refused"`
	Skipped   map[string]int `json:"skipped"`
	Unknown   map[string]int `json:"unknown"`
	// Changes lists every op as it went.
	Changes []MemberChange `json:"changes"`
	// Final is the configuration the leader reported after the final
	// heal.
	Final *MemberStatus `json:"final,omitempty"`
}

// MemberChange is one membership op as it went.
type MemberChange struct {
	AtMs   float64 `json:"at_ms"`
	Op     string  `json:"op"`
	Node   string  `json:"node,omitempty"`
	Leader string  `json:"leader,omitempty"`
	Result string  `json:"result"` // performed, refused, skipped, unknown
	Detail string  `json:"detail,omitempty"`
}

// MemberStatus is a node's answer to a membership request: the body of
// raftbench_member_ok, defined once by raft-maelstrom, which answers it.
type MemberStatus = maelstrom.MemberStatus

func isVoter(st *MemberStatus, n string) bool {
	return slices.Contains(st.Voters, n) || slices.Contains(st.VotersOutgoing, n)
}

// memberNemesis drives membership ops for one run.
type memberNemesis struct {
	cfg     Config
	cluster *cluster
	table   *clientTable
	start   time.Time
	msgID   atomic.Int64

	// queue runs the ops one after another off the nemesis loop, so a
	// slow op (retrying through an election) never delays the other
	// fault families or the heal; inflight tracks them for the heal.
	queue    chan Event
	inflight sync.WaitGroup
	once     sync.Once

	mu      sync.Mutex
	summary MembershipSummary
	// out holds nodes this nemesis removed or demoted and has not yet
	// brought back, oldest first: the next add-learner, promote and
	// transfer act on them.
	out []string
}

func newMemberNemesis(cfg Config, c *cluster, t *clientTable) *memberNemesis {
	m := &memberNemesis{cfg: cfg, cluster: c, table: t, summary: MembershipSummary{
		Performed: map[string]int{}, Refused: map[string]int{}, Skipped: map[string]int{}, Unknown: map[string]int{}}}
	m.msgID.Store(1 << 40) // far from any init msg_id
	return m
}

// errNoMembership is what Run reports for a node that cannot take part.
const errNoMembership = "nemesis membership: this node does not support membership changes"

// preflight asks every node for its membership status before the
// workload starts.
func (m *memberNemesis) preflight(ctx context.Context) error {
	for _, name := range m.cluster.names {
		st, code, text, err := m.request(ctx, name, map[string]any{"op": "status"})
		switch {
		case err != nil:
			return fmt.Errorf("%s (%s: %v)", errNoMembership, name, err)
		case code != nil && *code == 10:
			return fmt.Errorf("%s (%s answered error 10, not supported: %s)", errNoMembership, name, text)
		case code != nil:
			return fmt.Errorf("%s (%s answered error %d to a status request: %s)", errNoMembership, name, *code, text)
		case st == nil || len(st.Voters) == 0:
			return fmt.Errorf("%s (%s answered a status without voters)", errNoMembership, name)
		}
	}
	return nil
}

// request sends one membership request to name and waits for its
// answer: a status, or an error code and text, or err when there was no
// usable answer (node down, timeout, malformed).
func (m *memberNemesis) request(ctx context.Context, name string, body map[string]any) (*MemberStatus, *int, string, error) {
	timeout := memberRequestTimeout + m.cfg.ClientTimeout()
	if body["op"] == "status" {
		timeout = m.cfg.ClientTimeout() // answered at once; a paused node must not hold up an op
	}
	p := m.cluster.proc(name)
	if p == nil || !p.ready.Load() {
		return nil, nil, "", fmt.Errorf("%s is not running", name)
	}
	id := m.msgID.Add(1)
	body["type"], body["msg_id"] = memberMessageType, id
	b, _ := json.Marshal(body)
	line, _ := json.Marshal(envelope{Src: controlClient, Dest: name, Body: b})
	ch := m.table.await(controlClient, id)
	defer m.table.forget(controlClient, id)
	if !p.deliver(append(line, '\n')) {
		return nil, nil, "", fmt.Errorf("request to %s not delivered", name)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.Type == "error" {
			if r.Code == nil {
				return nil, nil, "", fmt.Errorf("%s: error without a code", name)
			}
			return nil, r.Code, r.Text, nil
		}
		if r.Type != memberMessageType+"_ok" {
			return nil, nil, "", fmt.Errorf("%s answered %q", name, r.Type)
		}
		var st MemberStatus
		if err := json.Unmarshal(r.Value, &st); err != nil {
			return nil, nil, "", fmt.Errorf("%s: malformed status: %v", name, err)
		}
		return &st, nil, "", nil
	case <-t.C:
		return nil, nil, "", fmt.Errorf("no answer from %s", name)
	case <-ctx.Done():
		return nil, nil, "", ctx.Err()
	}
}

// leaderStatus asks every running node for its status (in parallel) and
// returns the answer of the node that says it leads, in the highest
// term.
func (m *memberNemesis) leaderStatus(ctx context.Context) (*MemberStatus, error) {
	var mu sync.Mutex
	var best *MemberStatus
	var wg sync.WaitGroup
	for _, name := range m.cluster.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, _, err := m.request(ctx, name, map[string]any{"op": "status"})
			if err != nil || st == nil || st.Leader != name {
				return
			}
			mu.Lock()
			if best == nil || st.Term > best.Term {
				best = st
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if best == nil {
		return nil, fmt.Errorf("no node says it leads")
	}
	return best, nil
}

// enqueue hands a scheduled op to the op goroutine and returns at once.
// An op whose turn comes after the faults end (cfg.Time) is skipped.
func (m *memberNemesis) enqueue(ctx context.Context, e Event) error {
	m.once.Do(func() {
		m.queue = make(chan Event, 1024)
		go func() {
			for e := range m.queue {
				if ctx.Err() == nil && time.Since(m.start) < m.cfg.Time {
					m.apply(ctx, e)
				} else {
					m.record(MemberChange{Op: e.Mode, Result: "skipped", Detail: "faults ended before its turn"})
				}
				m.inflight.Done()
			}
		}()
	})
	m.inflight.Add(1)
	select {
	case m.queue <- e:
		return nil
	default:
		m.inflight.Done()
		return fmt.Errorf("membership %s: %d ops already waiting", e.Mode, cap(m.queue))
	}
}

// apply runs one scheduled op: resolved against the leader's
// configuration, retried while the answer is a definite "not now", for
// at most memberOpBudget.
func (m *memberNemesis) apply(ctx context.Context, e Event) error {
	deadline := time.Now().Add(memberOpBudget)
	var last MemberChange
	for {
		last = m.try(ctx, e)
		if last.Result != "retry" || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	if last.Result == "retry" {
		last.Result = "refused"
	}
	m.record(last)
	if last.Result == "unknown" {
		return fmt.Errorf("membership %s %s: %s", last.Op, last.Node, last.Detail)
	}
	return nil
}

func (m *memberNemesis) record(c MemberChange) {
	c.AtMs = ms(time.Since(m.start))
	m.mu.Lock()
	defer m.mu.Unlock()
	switch c.Result {
	case "performed":
		m.summary.Performed[c.Op]++
		m.noteDone(c.Op, c.Node)
	case "refused":
		m.summary.Refused[c.Op]++
	case "skipped":
		m.summary.Skipped[c.Op]++
	case "unknown":
		m.summary.Unknown[c.Op]++
	}
	m.summary.Changes = append(m.summary.Changes, c)
	fmt.Fprintf(m.cfg.Log, "chaos: membership %s %s: %s %s\n", c.Op, c.Node, c.Result, c.Detail)
}

// noteDone keeps m.out: who this nemesis has taken out and not restored.
func (m *memberNemesis) noteDone(op, node string) {
	switch op {
	case MemberRemove, MemberDemote:
		if !slices.Contains(m.out, node) {
			m.out = append(m.out, node)
		}
	case MemberPromote:
		m.out = slices.DeleteFunc(m.out, func(n string) bool { return n == node })
	}
}

// try resolves e against the leader's configuration and sends it once.
// Result "retry" means a definite "not now" (not the leader, another
// change in progress, a learner behind).
func (m *memberNemesis) try(ctx context.Context, e Event) MemberChange {
	c := MemberChange{Op: e.Mode}
	st, err := m.leaderStatus(ctx)
	if err != nil {
		c.Result, c.Detail = "retry", err.Error()
		return c
	}
	c.Leader = st.Leader
	if st.Joint {
		c.Result, c.Detail = "retry", "joint configuration not yet left"
		return c
	}
	m.mu.Lock()
	out := slices.Clone(m.out)
	m.mu.Unlock()
	target, why := resolveMemberTarget(e, st, out, m.cluster.names, m.minVoters())
	if target == "" {
		c.Result, c.Detail = "skipped", why
		return c
	}
	c.Node = target
	res, code, text, err := m.request(ctx, st.Leader, map[string]any{"op": e.Mode, "node": target})
	switch {
	case err != nil:
		// Sent, unanswered: the change may or may not happen.
		c.Result, c.Detail = "unknown", err.Error()
	case code != nil && *code == 11:
		c.Result, c.Detail = "retry", text
	case code != nil && *code == 0 || code != nil && *code == 13:
		c.Result, c.Detail = "unknown", text
	case code != nil:
		c.Result, c.Detail = "refused", fmt.Sprintf("error %d: %s", *code, text)
	default:
		c.Result, c.Detail = "performed", "voters "+strings.Join(res.Voters, ",")
		if len(res.Learners) > 0 {
			c.Detail += " learners " + strings.Join(res.Learners, ",")
		}
	}
	return c
}

// minVoters is the fewest voters the nemesis leaves: a majority of the
// nodes, so that removing one voter never makes the cluster unavailable
// by itself.
func (m *memberNemesis) minVoters() int { return majority(len(m.cluster.names)) }

// resolveMemberTarget picks the node an op acts on, given the leader's
// configuration st and the nodes out (taken out by this nemesis, oldest
// first), or says why there is none.
func resolveMemberTarget(e Event, st *MemberStatus, out, names []string, minVoters int) (string, string) {
	member := func(n string) bool { return isVoter(st, n) || slices.Contains(st.Learners, n) }
	switch e.Mode {
	case MemberRemove, MemberDemote:
		if len(st.Voters) <= minVoters {
			return "", fmt.Sprintf("%d voters, the nemesis keeps at least %d", len(st.Voters), minVoters)
		}
		t := st.Leader
		if e.Shape != "leader" && len(e.Nodes) > 0 {
			t = e.Nodes[0]
		}
		if !isVoter(st, t) {
			// The drawn node is already out: act on another voter.
			v := slices.Clone(st.Voters)
			sort.Strings(v)
			t = v[len(v)-1]
		}
		return t, ""
	case MemberAddLearner:
		for _, n := range append(slices.Clone(out), names...) {
			if !member(n) {
				return n, ""
			}
		}
		return "", "every node is a member"
	case MemberPromote:
		for _, n := range append(slices.Clone(out), st.Learners...) {
			if slices.Contains(st.Learners, n) {
				return n, ""
			}
		}
		return "", "no learner"
	case MemberTransfer:
		// To the node most recently brought back, else any other voter.
		cands := append(slices.Clone(out), names...)
		for i := len(cands) - 1; i >= 0; i-- {
			if n := cands[i]; isVoter(st, n) && n != st.Leader {
				return n, ""
			}
		}
		return "", "no other voter"
	}
	return "", "unknown op " + e.Mode
}

// heal makes every node a voter again, within memberHealBudget.
func (m *memberNemesis) heal(ctx context.Context) error {
	m.inflight.Wait() // at most one op, within memberOpBudget
	deadline := time.Now().Add(memberHealBudget)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := m.leaderStatus(ctx)
		if err == nil && !st.Joint && len(st.Voters) == len(m.cluster.names) {
			m.mu.Lock()
			m.summary.Final = st
			m.mu.Unlock()
			return nil
		}
		if err != nil || st.Joint {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		op := MemberPromote
		if len(st.Voters)+len(st.Learners) < len(m.cluster.names) {
			op = MemberAddLearner
		}
		c := m.try(ctx, Event{Kind: NemesisMembership, Mode: op})
		if c.Result == "performed" || c.Result == "unknown" {
			m.record(c)
		}
		if c.Result != "performed" {
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	st, err := m.leaderStatus(ctx)
	if err == nil {
		m.mu.Lock()
		m.summary.Final = st
		m.mu.Unlock()
		return fmt.Errorf("membership heal: not every node is a voter after %v: voters %v, learners %v", memberHealBudget, st.Voters, st.Learners)
	}
	return fmt.Errorf("membership heal: %v", err)
}

func (m *memberNemesis) result() *MembershipSummary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.summary
	s.Changes = slices.Clone(s.Changes)
	return &s
}
