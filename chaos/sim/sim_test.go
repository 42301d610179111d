package sim

import (
	"bytes"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// seedsInTest is how many seeds the normal build must pass. About 10 ms
// per seed on one core; the CLI runs thousands (results/sim.md).
const seedsInTest = 1000

// TestSeedsPass: the real core passes every seed's safety checks,
// liveness phase and linearizability check.
func TestSeedsPass(t *testing.T) {
	var total Stats
	for seed := uint64(1); seed <= seedsInTest; seed++ {
		res := Run(seed, Options{})
		total.Add(res.Stats)
		if res.Failure != nil {
			t.Fatalf("seed %d: %v\nparams:\n%s\nlast events:\n%s\nreproduce with: raftbench sim --seed %d --trace out.md",
				seed, res.Failure, res.Params, strings.Join(res.Tail[max(0, len(res.Tail)-30):], "\n"), seed)
		}
	}
	// The run must actually have exercised faults and made progress.
	for name, v := range map[string]uint64{
		"dropped": total.MsgsDropped, "partitions": total.Partitions, "crashes": total.Crashes,
		"torn writes": total.TornWrites, "fsync failures": total.FsyncFailures, "lost writes": total.WritesLost,
		"duplicated": total.MsgsDuplicated, "elections": total.Elections, "committed ops": total.LogOpsOK,
		"snapshots taken": total.SnapsTaken, "snapshots sent": total.SnapsSent, "snapshots installed": total.SnapsInstalled,
		"restarts from a snapshot": total.RestartsFromSnapshot, "transfers completed": total.TransfersCompleted,
		"voters added": total.Membership.AddVoter, "members removed": total.Membership.Remove,
		"writes answered before applying": total.Settled,
		"applied log dropped from memory": total.LogDrops, "fresh snapshots asked for": total.SnapshotWantedAsks,
		"runs with lazy commit": total.LazyCommitRuns,
	} {
		if v == 0 {
			t.Errorf("no %s in %d seeds: the fault schedule is not doing its job", name, seedsInTest)
		}
	}
}

// TestSameSeedSameRun: a seed replays exactly (same event trace hash,
// stats and history), also when runs execute concurrently.
func TestSameSeedSameRun(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		var a, b Result
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a = Run(seed, Options{}) }()
		go func() { defer wg.Done(); b = Run(seed, Options{}) }()
		wg.Wait()
		if a.TraceHash != b.TraceHash || a.Stats != b.Stats || !reflect.DeepEqual(a.History, b.History) {
			t.Fatalf("seed %d ran differently: hash %x vs %x, events %d vs %d", seed, a.TraceHash, b.TraceHash, a.Stats.Events, b.Stats.Events)
		}
		if c := Run(seed+1000, Options{}); c.TraceHash == a.TraceHash {
			t.Fatalf("seeds %d and %d have the same trace hash", seed, seed+1000)
		}
	}
}

// TestRNGStream pins the PRNG's output: a change would silently change
// what every recorded seed means.
func TestRNGStream(t *testing.T) {
	r := newRNG(1)
	got := []uint64{r.Uint64(), r.Uint64(), r.Uint64()}
	want := []uint64{0x910a2dec89025cc1, 0xbeeb8da1658eec67, 0xf893a2eefb32555e}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("splitmix64(1) = %#x, want %#x", got, want)
	}
	for i := 0; i < 10000; i++ {
		if v := r.Between(3, 7); v < 3 || v > 7 {
			t.Fatalf("Between(3,7) = %d", v)
		}
		if v := r.Intn(5); v < 0 || v >= 5 {
			t.Fatalf("Intn(5) = %d", v)
		}
	}
}

func TestParamsCoverClusterSizes(t *testing.T) {
	sizes := map[int]int{}
	for seed := uint64(1); seed <= 200; seed++ {
		p := drawParams(seed, newRNG(seed))
		if !reflect.DeepEqual(p, drawParams(seed, newRNG(seed))) {
			t.Fatalf("seed %d: params differ between draws", seed)
		}
		sizes[p.Nodes]++
		if p.LatMinUs > p.LatMaxUs || p.FsyncMinUs > p.FsyncMaxUs || p.RestartMinUs > p.RestartMaxUs {
			t.Fatalf("seed %d: inverted range in %s", seed, p)
		}
		if len(p.TickSkewPermille) != p.procs() {
			t.Fatalf("seed %d: %d skews for %d nodes", seed, len(p.TickSkewPermille), p.procs())
		}
	}
	for _, n := range []int{3, 5, 7} {
		if sizes[n] == 0 {
			t.Errorf("no %d-node cluster in 200 seeds: %v", n, sizes)
		}
	}
}

func TestEventQueueOrder(t *testing.T) {
	var q eventQueue
	ats := []int64{5, 1, 5, 3, 1, 9, 0}
	for i, at := range ats {
		q.push(&event{at: at, aux: int64(i)})
	}
	var got []int64
	for e := q.pop(); e != nil; e = q.pop() {
		got = append(got, e.at*10+e.aux)
	}
	// Same time: insertion order (aux) decides.
	want := []int64{0*10 + 6, 1*10 + 1, 1*10 + 4, 3*10 + 3, 5*10 + 0, 5*10 + 2, 9*10 + 5}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pop order %v, want %v", got, want)
	}
}

// TestCheckerLogMatching feeds the checker logs directly.
func TestCheckerLogMatching(t *testing.T) {
	ent := func(i, term uint64, data string) raftpb.Entry {
		return raftpb.Entry{Index: i, Term: term, Data: []byte(data)}
	}
	cases := []struct {
		name    string
		a, b    []raftpb.Entry // node 1's, then node 2's appended log
		invalid string         // the invariant expected to fail, "" for none
	}{
		{"same logs", []raftpb.Entry{ent(1, 1, "x"), ent(2, 1, "y")}, []raftpb.Entry{ent(1, 1, "x"), ent(2, 1, "y")}, ""},
		{"diverge in later term", []raftpb.Entry{ent(1, 1, "x"), ent(2, 1, "y")}, []raftpb.Entry{ent(1, 1, "x"), ent(2, 2, "z")}, ""},
		{"same index+term, other data", []raftpb.Entry{ent(1, 1, "x")}, []raftpb.Entry{ent(1, 1, "q")}, "log matching"},
		{"same index+term, other prefix", []raftpb.Entry{ent(1, 1, "x"), ent(2, 2, "y")}, []raftpb.Entry{ent(1, 2, "w"), ent(2, 2, "y")}, "log matching"},
	}
	for _, tc := range cases {
		s := &Sim{p: Params{Nodes: 3}, chk: newChecker(), tr: newTracer(0)}
		n1, n2 := &simNode{id: 1}, &simNode{id: 2}
		s.chk.onEntries(s, n1, tc.a)
		s.chk.onEntries(s, n2, tc.b)
		got := ""
		if s.failure != nil {
			got = s.failure.Invariant
		}
		if got != tc.invalid {
			t.Errorf("%s: violation %q, want %q (%v)", tc.name, got, tc.invalid, s.failure)
		}
	}
}

// TestCheckerTruncation: only a conflict may truncate, and never below
// the node's commit index.
func TestCheckerTruncation(t *testing.T) {
	mk := func(commit uint64, replace []raftpb.Entry) *Failure {
		s := &Sim{p: Params{Nodes: 3}, chk: newChecker(), tr: newTracer(0)}
		n := &simNode{id: 1}
		s.chk.onEntries(s, n, []raftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 1}})
		n.commit = commit
		s.chk.onEntries(s, n, replace)
		return s.failure
	}
	if f := mk(1, []raftpb.Entry{{Index: 2, Term: 2}}); f != nil {
		t.Errorf("conflict above commit: %v", f)
	}
	if f := mk(2, []raftpb.Entry{{Index: 2, Term: 2}}); f == nil || f.Invariant != "state machine safety" {
		t.Errorf("overwrite of committed entry: got %v", f)
	}
	if f := mk(1, []raftpb.Entry{{Index: 2, Term: 1}}); f == nil || f.Invariant != "log matching" {
		t.Errorf("truncation without conflict: got %v", f)
	}
}

// TestCheckerAckDurability: an ack needs the entry durable on a quorum.
func TestCheckerAckDurability(t *testing.T) {
	s := &Sim{p: Params{Nodes: 3}, chk: newChecker(), tr: newTracer(0)}
	for i := 0; i < 3; i++ {
		s.nodes = append(s.nodes, &simNode{id: uint64(i + 1)})
	}
	s.nodes[0].durable = logMirror{ents: []entryMeta{{term: 1}, {term: 2}}}
	s.nodes[1].durable = logMirror{ents: []entryMeta{{term: 1}, {term: 1}}}
	conf := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	s.chk.commitConf = []*raftpb.ConfState{conf, conf}
	s.chk.onAck(s, s.nodes[0], 1, 1)
	if s.failure != nil {
		t.Fatalf("entry on 2 of 3 nodes: %v", s.failure)
	}
	s.chk.onAck(s, s.nodes[0], 2, 2)
	if s.failure == nil || s.failure.Invariant != "ack durability" {
		t.Fatalf("entry on 1 of 3 nodes acked without violation: %v", s.failure)
	}
}

func TestBugsNeedBuildTag(t *testing.T) {
	if bugsBuilt() {
		t.Skip("built with -tags raftbugs")
	}
	for _, opts := range []Options{{ForgetVoteOnRestart: true}, {DriverBugs: []driver.Bug{driver.BugAckBeforeSync}}} {
		res := Run(1, opts)
		if res.Failure == nil || res.Failure.Kind != "harness" {
			t.Fatalf("bug switch %+v honoured in a normal build: %v", opts, res.Failure)
		}
	}
}

// TestTraceReport: the Markdown trace has the parameters, the events
// and a bounded Mermaid diagram.
func TestTraceReport(t *testing.T) {
	res := Run(3, Options{Trace: true, TraceEvents: 3000})
	var b bytes.Buffer
	if err := WriteTrace(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"seed=3 ", "```mermaid", "sequenceDiagram", "participant n1", "## Faults injected", "deliver Msg", "->>n"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if n := strings.Count(res.Diagram, "\n"); n > 150+12 {
		t.Errorf("diagram has %d lines, bound is 150 arrows", n)
	}
	if len(res.Tail) != 3000 {
		t.Errorf("tail has %d events, want 3000", len(res.Tail))
	}
}

// TestLogMirror: compaction keeps the suffix, or resets when the log
// does not reach the snapshot with its term.
func TestLogMirror(t *testing.T) {
	var l logMirror
	for i := 1; i <= 5; i++ {
		l.push(entryMeta{term: 1, hash: uint64(i)})
	}
	l.compact(3, 1)
	if l.offset != 3 || l.last() != 5 {
		t.Fatalf("after compact(3): (%d, %d]", l.offset, l.last())
	}
	if m, ok := l.at(4); !ok || m.hash != 4 {
		t.Fatalf("at(4) = %v %v", m, ok)
	}
	if !l.holds(2, entryMeta{term: 9}) {
		t.Fatal("a compacted index must count as held")
	}
	l.compact(9, 2)
	if l.offset != 9 || l.last() != 9 || l.offTerm != 2 {
		t.Fatalf("snapshot beyond the log must reset it: (%d, %d] t%d", l.offset, l.last(), l.offTerm)
	}
}

// TestDisjointQuorums: the "no two disjoint majorities" check refuses a
// direct jump between configurations whose majorities need not overlap
// and accepts the steps of single-server changes and joint consensus.
func TestDisjointQuorums(t *testing.T) {
	cs := func(in, out []uint64) raftpb.ConfState { return raftpb.ConfState{Voters: in, VotersOutgoing: out} }
	old, joint, nw := cs([]uint64{1, 2, 3}, nil), cs([]uint64{1, 4, 5}, []uint64{1, 2, 3}), cs([]uint64{1, 4, 5}, nil)
	for _, ok := range [][2]raftpb.ConfState{{old, joint}, {joint, nw}, {old, cs([]uint64{1, 2, 3, 4}, nil)},
		{cs([]uint64{1, 2, 3, 4}, nil), cs([]uint64{1, 2, 4}, nil)}} {
		if a, b, bad := disjointQuorums(ok[0], ok[1]); bad {
			t.Errorf("%v -> %v: disjoint quorums %v %v reported", ok[0], ok[1], a, b)
		}
	}
	for _, bad := range [][2]raftpb.ConfState{{old, nw}, {cs([]uint64{1, 2, 3}, nil), cs([]uint64{1, 2, 3, 4, 5}, nil)}} {
		if _, _, found := disjointQuorums(bad[0], bad[1]); !found {
			t.Errorf("%v -> %v: disjoint quorums not found", bad[0], bad[1])
		}
	}
	// Learners never count.
	if isQuorum(raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4, 5}}, []uint64{1, 4, 5}) {
		t.Error("learners counted toward a quorum")
	}
}
