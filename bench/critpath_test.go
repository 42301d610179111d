package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
)

// TestCritPathReport feeds the recorder one write's stages on a leader
// (1) and two followers (2, 3) at known times and checks the hops, the
// replica that completed the quorum and the critical-path column.
func TestCritPathReport(t *testing.T) {
	r := newCritPathRecorder(0)
	base := r.base
	at := func(us int) time.Time { return base.Add(time.Duration(us) * time.Microsecond) }
	r.Mark(1, node.StageProposed, 0, 10, at(1)) // arms the window after index 10
	if r.lo.Load() != 11 {
		t.Fatalf("window starts at %d, want 11", r.lo.Load())
	}
	const i = 11
	mark := func(id uint64, s node.Stage, us int) { r.Mark(id, s, 0, i, at(us)) }
	r.Mark(1, node.StageQueued, i, i, at(100))
	mark(1, node.StageProposed, 110)
	mark(1, node.StageHanded, 120)
	mark(1, node.StageDurable, 500)
	mark(1, node.StageReleased, 520)
	for id, off := range map[uint64]int{2: 0, 3: 100} {
		mark(id, node.StageReceived, 121+off)
		mark(id, node.StageStepped, 130+off)
		mark(id, node.StageHanded, 135+off)
		mark(id, node.StageDurable, 400+off)
		mark(id, node.StageAckReceived, 405+off)
		mark(id, node.StageAckStepped, 410+off)
	}
	mark(1, node.StageCommitted, 515)
	r.Mark(1, node.StageAnswered, i, i, at(560))
	r.Mark(1, node.StageReturned, i, i, at(600))
	// A later report of an index already seen keeps the first time.
	mark(1, node.StageDurable, 900)

	rep, err := r.report()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Leader != 1 || rep.Writes != 1 {
		t.Fatalf("leader %d, writes %d; want 1, 1", rep.Leader, rep.Writes)
	}
	// Reports: follower 2 at 410, follower 3 at 510, leader at 520: the
	// quorum's second is follower 3's ack, both before the leader's own.
	if rep.Quorum != (QuorumMakers{Follower: 1, FollowersBeforeOwn: 1}) {
		t.Fatalf("quorum %+v, want completed by a follower", rep.Quorum)
	}
	hop := func(name string) CritPathHop {
		for _, h := range rep.Hops {
			if h.Name == name {
				return h
			}
		}
		t.Fatalf("no hop %q", name)
		return CritPathHop{}
	}
	for name, want := range map[string][2]float64{ // mean, on-path mean
		"queue": {10, 10}, "leader ready": {10, 10}, "leader wal write": {380, 0},
		"follower loop": {9, 9}, "follower wal write": {265, 265}, "commit": {5, 5}, "apply": {45, 45}, "reply": {40, 40},
	} {
		if h := hop(name); h.MeanUs != want[0] || h.OnPathMeanUs != want[1] {
			t.Errorf("%s: mean %v on path %v, want %v", name, h.MeanUs, h.OnPathMeanUs, want)
		}
	}
	if rep.Total.MeanUs != 500 {
		t.Errorf("total %v µs, want 500", rep.Total.MeanUs)
	}
	sum := 0.0
	for _, h := range rep.Hops {
		sum += h.OnPathMeanUs
	}
	if sum != rep.Total.MeanUs {
		t.Errorf("on-path hops sum to %v, total %v", sum, rep.Total.MeanUs)
	}
	rep.WAL = []NodeFsyncs{{Node: rep.Leader, Flushes: 10, Fsyncs: 10, FsyncMeanUs: 372, Lingers: 7, LingersRunOut: 3, IdleMeanUs: 45, LingerMeanUs: 156, WriteMeanUs: 11}}
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b, "t"); err != nil || !strings.Contains(b.String(), "| follower wal write | 265 |") ||
		!strings.Contains(b.String(), "(leader) 10 fsyncs, mean 372 µs, 7 lingers of which 3 ran out; per group commit 45 µs idle, 156 µs lingering, 11 µs writing") {
		t.Errorf("markdown (%v):\n%s", err, b.String())
	}
	if rep.Reads != nil {
		t.Errorf("reads %+v without a read round", rep.Reads)
	}
}

// TestCritPathReads: ReadIndex rounds are split into their hops on the
// node that served most of them; incomplete rounds and rounds that began
// before the warm-up delay are left out.
func TestCritPathReads(t *testing.T) {
	r := newCritPathRecorder(time.Millisecond)
	base := r.base
	at := func(us int) time.Time { return base.Add(time.Duration(us) * time.Microsecond) }
	round := func(id, n uint64, start int, hops ...int) {
		t := start
		r.MarkRead(id, n, node.ReadQueued, at(t))
		for k, h := range hops {
			t += h
			r.MarkRead(id, n, node.ReadIssued+node.ReadStage(k), at(t))
		}
	}
	round(1, 1, 500, 1, 10, 2, 3)                 // before the warm-up delay: not recorded
	round(1, 2, 2000, 2, 20, 4, 6)                // queue 2, round 20, apply 4, reply 6
	round(1, 3, 3000, 4, 40, 8, 2)                // queue 4, round 40, apply 8, reply 2
	round(1, 4, 4000, 1, 1)                       // never confirmed: incomplete
	round(2, 1, 2000, 1, 1, 1, 1)                 // another node's single round
	r.MarkRead(1, 2, node.ReadReturned, at(9000)) // a later report keeps the first
	rd := r.readReport()
	if rd == nil || rd.Node != 1 || rd.Rounds != 2 {
		t.Fatalf("reads %+v, want node 1 with 2 complete rounds", rd)
	}
	for k, want := range []float64{3, 30, 6, 4} {
		if h := rd.Hops[k]; h.MeanUs != want {
			t.Errorf("%s: mean %v µs, want %v", h.Name, h.MeanUs, want)
		}
	}
	if rd.Total.MeanUs != 43 {
		t.Errorf("total %v µs, want 43", rd.Total.MeanUs)
	}
}

// TestCritPathNeedsAQuorumOfNodes: a window without followers' writes is
// an error, not an empty table.
func TestCritPathNeedsAQuorumOfNodes(t *testing.T) {
	r := newCritPathRecorder(0)
	r.Mark(1, node.StageProposed, 0, 1, time.Now())
	r.Mark(1, node.StageProposed, 0, 2, time.Now())
	if _, err := r.report(); err == nil {
		t.Fatal("report without followers succeeded")
	}
}

// TestInprocCriticalPath: the inproc target's critical-path option
// records a short run and writes a report whose hops cover the writes
// (with fsync off, so it stays fast; the floor needs fsync and is refused
// without it).
func TestInprocCriticalPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "cp")
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{
		"critical-path": out, "critical-path-floor": "4"}}); err == nil {
		t.Fatal("critical-path-floor accepted with fsync off")
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), ValueBytes: 128, Options: map[string]string{
		"critical-path": out, "critical-path-after": "0s"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := shortConfig()
	cfg.Clients = 4
	cfg.Mix = Mix{Write: 1, Read: 1}
	if _, err := Run(ctx, cfg, tg, nil); err != nil {
		tg.Close()
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	var rep CritPathReport
	js, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Writes == 0 || rep.Quorum.Leader+rep.Quorum.Follower != rep.Writes || len(rep.Hops) != len(critPathHops) || len(rep.WAL) != 3 {
		t.Fatalf("report: %d writes, quorum %+v, %d hops, %d WALs", rep.Writes, rep.Quorum, len(rep.Hops), len(rep.WAL))
	}
	if rep.Reads == nil || rep.Reads.Rounds == 0 || len(rep.Reads.Hops) != len(critPathReadHops) || rep.Reads.Total.MeanUs <= 0 {
		t.Fatalf("reads: %+v", rep.Reads)
	}
	if md, err := os.ReadFile(out + ".md"); err != nil || !strings.Contains(string(md), "| apply |") || !strings.Contains(string(md), "| reply |") || !strings.Contains(string(md), "| heartbeat round |") {
		t.Fatalf("markdown: %v\n%s", err, md)
	}
}
