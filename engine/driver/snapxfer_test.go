package driver

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// xferNet is three drivers on a hand-run network: Send queues, run
// delivers until quiet. filter may drop (false) or alter a message.
type xferNet struct {
	t       *testing.T
	d       map[uint64]*Driver
	st      map[uint64]*fakeStorage
	queue   []raftpb.Message
	down    map[uint64]bool
	filter  func(m *raftpb.Message) bool
	refused []error
}

type netTransport struct{ n *xferNet }

func (tr netTransport) Send(msgs []raftpb.Message) {
	for _, m := range msgs {
		if m.Snapshot != nil { // the receiver must not share the sender's buffers
			s := *m.Snapshot
			s.Data = bytes.Clone(s.Data)
			m.Snapshot = &s
		}
		tr.n.queue = append(tr.n.queue, m)
	}
}

func newXferNet(t *testing.T, tc TransferConfig) *xferNet {
	t.Helper()
	n := &xferNet{t: t, d: map[uint64]*Driver{}, st: map[uint64]*fakeStorage{}, down: map[uint64]bool{}}
	for id := uint64(1); id <= 3; id++ {
		core, err := engine.New(engine.Config{ID: id, Voters: []uint64{1, 2, 3}, ElectionTicks: 10, HeartbeatTicks: 1, Seed: id})
		if err != nil {
			t.Fatal(err)
		}
		n.st[id] = &fakeStorage{}
		if n.d[id], err = New(Config{Core: core, Storage: n.st[id], Transport: netTransport{n}, Transfer: tc}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// run handles every Ready, makes every write durable and delivers every
// message, until nothing moves.
func (n *xferNet) run() {
	for range 10000 {
		moved := false
		for id, d := range n.d {
			for d.Core().HasReady() {
				rd := d.Ready()
				if _, err := d.Handle(&rd); err != nil {
					n.t.Fatal(err)
				}
				moved = true
			}
			n.st[id].syncAll()
			d.Release(uint64(n.st[id].synced))
		}
		q := n.queue
		n.queue = nil
		for i := range q {
			m := &q[i]
			moved = true
			if n.down[m.To] || n.down[m.From] || (n.filter != nil && !n.filter(m)) {
				continue
			}
			if err := n.d[m.To].Step(*m); err != nil {
				if !errors.Is(err, ErrSnapshotTransfer) {
					n.t.Fatalf("step %v: %v", m, err)
				}
				n.refused = append(n.refused, err)
			}
		}
		if !moved {
			return
		}
	}
	n.t.Fatal("network never went quiet")
}

func (n *xferNet) tick(k int) {
	for range k {
		for _, d := range n.d {
			d.Tick()
		}
		n.run()
	}
}

// leaderWithSnapshot elects node 1 with node 3 down, commits entries,
// and compacts the leader's log behind a snapshot of data.
func (n *xferNet) leaderWithSnapshot(data []byte) raftpb.SnapshotMeta {
	n.down[3] = true
	for i := 0; i < 50 && n.d[1].Core().Role() != engine.Leader; i++ {
		n.d[1].Tick()
		n.run()
	}
	if n.d[1].Core().Role() != engine.Leader {
		n.t.Fatal("node 1 not elected")
	}
	for i := range 20 {
		if err := n.d[1].Core().Propose([]byte(fmt.Sprint("e", i))); err != nil {
			n.t.Fatal(err)
		}
		n.run()
	}
	st := n.d[1].Core().Status()
	meta := raftpb.SnapshotMeta{Index: st.Commit, Term: st.Term}
	if err := n.d[1].Compact(raftpb.Snapshot{Meta: meta, Data: data}); err != nil {
		n.t.Fatal(err)
	}
	return meta
}

func testData(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// installed returns the snapshot node 3's storage saved, or nil.
func (n *xferNet) installed() *raftpb.Snapshot {
	if s := n.st[3].snaps; len(s) > 0 {
		return &s[len(s)-1]
	}
	return nil
}

// TestStreamedSnapshotInChunks: a follower that missed the compacted
// log gets the snapshot in chunks of ChunkBytes, never more than
// ChunksInFlight unacknowledged, and installs exactly the leader's bytes.
func TestStreamedSnapshotInChunks(t *testing.T) {
	n := newXferNet(t, TransferConfig{ChunkBytes: 1000, ChunksInFlight: 3})
	data := testData(10_500)
	meta := n.leaderWithSnapshot(data)
	inFlight, maxInFlight := 0, 0
	n.filter = func(m *raftpb.Message) bool {
		switch m.Type {
		case raftpb.MsgSnapChunk:
			if len(m.Snapshot.Data) > 1000 {
				t.Errorf("chunk of %d bytes", len(m.Snapshot.Data))
			}
			inFlight++
			maxInFlight = max(maxInFlight, inFlight)
		case raftpb.MsgSnapChunkResp:
			inFlight--
		}
		return true
	}
	n.down[3] = false
	n.tick(3)
	s := n.installed()
	if s == nil || s.Meta.Index != meta.Index || !bytes.Equal(s.Data, data) {
		t.Fatalf("installed %v, want index %d with the leader's %d bytes", s, meta.Index, len(data))
	}
	if maxInFlight > 3 {
		t.Errorf("%d chunks in flight, window is 3", maxInFlight)
	}
	ls, fs := n.d[1].TransferStats(), n.d[3].TransferStats()
	if ls.ChunksSent != 11 || ls.SendsCompleted != 1 || fs.RecvsCompleted != 1 || fs.BytesReceived != uint64(len(data)) {
		t.Errorf("leader %+v follower %+v", ls, fs)
	}
	if fs.RecvInProgress || ls.SendsInProgress != 0 {
		t.Errorf("transfer still in progress: leader %+v follower %+v", ls, fs)
	}
	if st := n.d[3].Core().Status(); st.Commit < meta.Index {
		t.Errorf("follower commit %d after installing %d", st.Commit, meta.Index)
	}
}

// TestCorruptChunkIsResent: a chunk whose bytes do not match its
// checksum is refused and re-sent; the snapshot installed is the
// leader's, never the corrupted bytes.
func TestCorruptChunkIsResent(t *testing.T) {
	n := newXferNet(t, TransferConfig{ChunkBytes: 512, ChunksInFlight: 2})
	data := testData(4000)
	n.leaderWithSnapshot(data)
	corrupted := false
	n.filter = func(m *raftpb.Message) bool {
		if m.Type == raftpb.MsgSnapChunk && m.Index == 1024 && !corrupted {
			corrupted = true
			m.Snapshot.Data[7] ^= 0x40
		}
		return true
	}
	n.down[3] = false
	n.tick(3)
	s := n.installed()
	if !corrupted || s == nil || !bytes.Equal(s.Data, data) {
		t.Fatalf("corrupted=%v installed=%v", corrupted, s != nil)
	}
	if fs := n.d[3].TransferStats(); fs.ChunksRejected == 0 {
		t.Errorf("corrupted chunk not counted as rejected: %+v", fs)
	}
	if len(n.refused) == 0 || !bytes.Contains([]byte(n.refused[0].Error()), []byte("checksum")) {
		t.Errorf("refusal errors %v, want one naming the checksum", n.refused)
	}
}

// TestCutTransferResumes: a link that drops every chunk past an offset
// stalls the stream; once it is back the leader resumes from the
// follower's offset rather than from the start.
func TestCutTransferResumes(t *testing.T) {
	n := newXferNet(t, TransferConfig{ChunkBytes: 1000, ChunksInFlight: 2, RetryTicks: 3})
	data := testData(20_000)
	n.leaderWithSnapshot(data)
	cut := true
	n.filter = func(m *raftpb.Message) bool {
		return !(cut && m.Type == raftpb.MsgSnapChunk && m.Index >= 8000)
	}
	n.down[3] = false
	n.tick(4)
	if n.installed() != nil {
		t.Fatal("installed with chunks missing")
	}
	if fs := n.d[3].TransferStats(); !fs.RecvInProgress || fs.RecvBytes != 8000 {
		t.Fatalf("follower during the cut: %+v", fs)
	}
	cut = false
	n.tick(6)
	if s := n.installed(); s == nil || !bytes.Equal(s.Data, data) {
		t.Fatal("not installed after the link came back")
	}
	// Resumed: at most a window and a few retries' worth re-sent, far
	// from a second full copy.
	if ls := n.d[1].TransferStats(); ls.BytesSent >= uint64(len(data))+10_000 {
		t.Errorf("leader sent %d bytes for %d: restarted instead of resuming (%+v)", ls.BytesSent, len(data), ls)
	}
}

// TestRestartedFollowerStartsOver: a follower that lost its partial
// transfer (a crash) asks for offset 0 and still installs the whole
// snapshot, not a mix.
func TestRestartedFollowerStartsOver(t *testing.T) {
	n := newXferNet(t, TransferConfig{ChunkBytes: 1000, ChunksInFlight: 1, RetryTicks: 2})
	data := testData(6000)
	n.leaderWithSnapshot(data)
	delivered := 0
	n.filter = func(m *raftpb.Message) bool {
		if m.Type == raftpb.MsgSnapChunk {
			delivered++
			if delivered == 4 {
				// The follower "crashes": its partial transfer is gone.
				n.d[3].xf.in.w.Abort()
				n.d[3].xf.in = nil
			}
		}
		return true
	}
	n.down[3] = false
	n.tick(10)
	if s := n.installed(); s == nil || !bytes.Equal(s.Data, data) {
		t.Fatal("no correct install after the follower lost its partial transfer")
	}
}

// TestChunkBadInput: chunks at a wrong offset, of a wrong size, of a
// stale term or from an unknown transfer are refused with a clear error,
// the follower answers with the offset it wants, and nothing is
// installed; a new leader's transfer replaces the old one.
func TestChunkBadInput(t *testing.T) {
	d, st, tr, _ := follower(t)
	meta := raftpb.SnapshotMeta{Index: 50, Term: 2, Voters: []uint64{1, 2, 3}}
	data := testData(300)
	chunk := func(from, term, off, n uint64) raftpb.Message {
		p := data[off : off+n]
		return raftpb.ChunkMessage(from, 1, term, raftpb.SnapChunk{Meta: meta, Offset: off, Total: uint64(len(data)),
			Checksum: raftpb.ChunkChecksum(p), Done: off+n == uint64(len(data)), Data: p})
	}
	lastResp := func() raftpb.Message {
		for i := len(tr.sent) - 1; i >= 0; i-- {
			if tr.sent[i].Type == raftpb.MsgSnapChunkResp {
				return tr.sent[i]
			}
		}
		t.Fatal("no chunk answer")
		return raftpb.Message{}
	}
	mustRefuse := func(m raftpb.Message, want string) {
		t.Helper()
		err := d.Step(m)
		if !errors.Is(err, ErrSnapshotTransfer) || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Fatalf("err = %v, want one containing %q", err, want)
		}
	}
	mustRefuse(chunk(2, 3, 100, 100), "no transfer started")
	if r := lastResp(); !r.Reject || r.Index != 0 {
		t.Fatalf("answer %v, want a refusal asking for 0", r)
	}
	if err := d.Step(chunk(2, 3, 0, 100)); err != nil {
		t.Fatal(err)
	}
	mustRefuse(chunk(2, 3, 150, 100), "expected 100")
	bad := chunk(2, 3, 100, 100)
	bad.Commit = 90 // total smaller than the chunk's end
	mustRefuse(bad, "past its total")
	bad = chunk(2, 3, 100, 100)
	bad.RejectHint ^= 1
	mustRefuse(bad, "checksum")
	if r := lastResp(); !r.Reject || r.Index != 100 {
		t.Fatalf("answer %v, want a refusal asking for 100", r)
	}
	mustRefuse(chunk(2, 1, 100, 100), "term")
	// A new leader (3, term 4) starts its own transfer: a chunk past 0 is
	// refused, one at 0 replaces the old partial transfer.
	mustRefuse(chunk(3, 4, 100, 100), "unknown transfer")
	if err := d.Step(chunk(3, 4, 0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := d.Step(chunk(3, 4, 100, 100)); err != nil {
		t.Fatal(err)
	}
	handleAll(t, d)
	if len(st.snaps) != 0 {
		t.Fatal("installed before the last chunk")
	}
	if err := d.Step(chunk(3, 4, 200, 100)); err != nil {
		t.Fatal(err)
	}
	bs := handleAll(t, d)
	if len(st.snaps) != 1 || !bytes.Equal(st.snaps[0].Data, data) || st.snaps[0].Meta.Index != 50 {
		t.Fatalf("saved %v", st.snaps)
	}
	if len(bs) == 0 || bs[0].Snapshot == nil || !bytes.Equal(bs[0].Snapshot.Data, data) {
		t.Fatal("snapshot not handed to the applier")
	}
	if fs := d.TransferStats(); fs.RecvsAborted != 1 || fs.RecvsCompleted != 1 {
		t.Errorf("stats %+v", fs)
	}
}

// TestSilentFollowerStreamIsDropped: a follower that never answers does
// not get windows re-sent forever; the stream is dropped after 10 retry
// periods, and the core's next MsgSnap resumes it once the follower is back.
func TestSilentFollowerStreamIsDropped(t *testing.T) {
	n := newXferNet(t, TransferConfig{ChunkBytes: 1000, ChunksInFlight: 2, RetryTicks: 2})
	data := testData(8000)
	n.leaderWithSnapshot(data)
	n.filter = func(m *raftpb.Message) bool { return m.Type != raftpb.MsgSnapChunkResp }
	n.down[3] = false
	n.tick(25)
	ls := n.d[1].TransferStats()
	if ls.SendsAborted == 0 {
		t.Fatalf("stream to a silent follower never dropped: %+v", ls)
	}
	sent := ls.ChunksSent
	n.tick(5)
	n.filter = nil
	n.tick(40)
	if s := n.installed(); s == nil || !bytes.Equal(s.Data, data) {
		t.Fatalf("not installed once the follower answered again (chunks sent %d, stats %+v)", sent, n.d[1].TransferStats())
	}
}
