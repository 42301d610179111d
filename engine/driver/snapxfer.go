package driver

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// Streamed snapshots (thesis §5.4, as etcd's and hashicorp's raft do
// it): the core asks for a snapshot to be sent with one MsgSnap; the
// driver turns that into a stream of MsgSnapChunk of at most ChunkBytes
// each, at most ChunksInFlight unacknowledged per follower. The follower
// writes each chunk to a SnapshotWriter (a temporary file in the runtime,
// memory in the simulator) in order, refuses a chunk at the wrong
// offset or with a bad checksum (the leader resends from the offset the
// follower names), and only once every byte arrived does it step the
// whole snapshot into its core, which installs it like any MsgSnap. A
// chunk never reaches the core, so a corrupt or partial transfer can
// never be installed.
//
// A transfer is named by (leader, term, snapshot index and term, size):
// anything else from another leader or of another snapshot restarts the
// follower's side from offset 0. A leader that sends the same snapshot
// again (the core re-sends MsgSnap after a timeout) resumes where the
// follower is; a follower that restarted has nothing and asks for 0.

// SnapshotReader is the bytes of a snapshot a leader streams.
type SnapshotReader interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// SnapshotSource opens the data of a snapshot the core asked to send.
// The default serves Snapshot.Data from memory.
type SnapshotSource interface {
	OpenSnapshot(s *raftpb.Snapshot) (SnapshotReader, error)
}

// SnapshotWriter receives one snapshot's bytes, in order.
type SnapshotWriter interface {
	// Write appends the next chunk.
	Write(p []byte) error
	// Finish ends a complete transfer and returns the snapshot's data.
	Finish() ([]byte, error)
	// Abort drops a transfer that will not complete.
	Abort()
}

// SnapshotSink creates the writer for an incoming snapshot of total
// bytes. The default keeps it in memory.
type SnapshotSink interface {
	CreateSnapshot(meta raftpb.SnapshotMeta, total uint64) (SnapshotWriter, error)
}

// Defaults of the transfer knobs.
const (
	DefaultSnapshotChunkBytes     = 1 << 20
	DefaultSnapshotChunksInFlight = 4
	DefaultSnapshotRetryTicks     = 10
)

// TransferConfig sets how snapshots are streamed.
type TransferConfig struct {
	// ChunkBytes is the most data one MsgSnapChunk carries.
	ChunkBytes int
	// ChunksInFlight bounds the unacknowledged chunks per follower.
	ChunksInFlight int
	// RetryTicks: a leader whose transfer made no progress for this many
	// ticks resends from the last acknowledged offset, and gives the
	// stream up after 10 times as long (the core's next MsgSnap resumes
	// it); a follower drops a partial transfer that saw nothing for 10
	// times as long.
	RetryTicks uint64
	// MaxSnapshotBytes refuses transfers announcing more (0: no bound
	// beyond the sink's).
	MaxSnapshotBytes uint64
	Source           SnapshotSource
	Sink             SnapshotSink
}

func (c *TransferConfig) withDefaults() TransferConfig {
	out := *c
	if out.ChunkBytes <= 0 {
		out.ChunkBytes = DefaultSnapshotChunkBytes
	}
	if out.ChunksInFlight <= 0 {
		out.ChunksInFlight = DefaultSnapshotChunksInFlight
	}
	if out.RetryTicks == 0 {
		out.RetryTicks = DefaultSnapshotRetryTicks
	}
	if out.Source == nil {
		out.Source = memSource{}
	}
	if out.Sink == nil {
		out.Sink = memSink{}
	}
	return out
}

// TransferStats counts snapshot streaming on this node. Plain counters,
// like Stats.
type TransferStats struct {
	SendsStarted    uint64 // transfers this node started as leader
	SendsResumed    uint64 // re-sent MsgSnap that continued a transfer
	SendsCompleted  uint64 // transfers the follower fully acknowledged
	SendsAborted    uint64 // dropped: leadership lost or snapshot replaced
	ChunksSent      uint64
	BytesSent       uint64 // chunk data bytes sent (resends included)
	Resends         uint64 // rewinds after a refusal or a timeout
	RecvsStarted    uint64
	RecvsCompleted  uint64 // complete snapshots stepped into the core
	RecvsAborted    uint64
	ChunksReceived  uint64
	BytesReceived   uint64 // chunk bytes written to a SnapshotWriter
	ChunksRejected  uint64 // refused chunks (offset, size, checksum, stale)
	SendsInProgress int    // now
	RecvInProgress  bool   // now
	RecvBytes       uint64 // bytes of the transfer in progress so far
	RecvTotal       uint64 // its size
}

// ErrSnapshotTransfer wraps errors of the snapshot stream.
var ErrSnapshotTransfer = errors.New("driver: snapshot transfer")

type outTransfer struct {
	to       uint64
	term     uint64
	snap     *raftpb.Snapshot
	r        SnapshotReader
	total    uint64
	acked    uint64 // the follower holds every byte before acked
	sent     uint64 // next offset to send
	idle     uint64 // ticks without progress
	finished bool   // the last byte was acknowledged
}

type inTransfer struct {
	from, term uint64
	meta       raftpb.SnapshotMeta
	total      uint64
	next       uint64
	w          SnapshotWriter
	idle       uint64
}

// transfers is the driver's streaming state, both directions.
type transfers struct {
	cfg   TransferConfig
	out   map[uint64]*outTransfer
	in    *inTransfer
	stats TransferStats
}

func newTransfers(cfg TransferConfig) *transfers {
	return &transfers{cfg: cfg.withDefaults(), out: make(map[uint64]*outTransfer)}
}

// TransferStats returns the streaming counters so far.
func (d *Driver) TransferStats() TransferStats {
	s := d.xf.stats
	s.SendsInProgress = 0
	for _, t := range d.xf.out {
		if !t.finished {
			s.SendsInProgress++
		}
	}
	if in := d.xf.in; in != nil {
		s.RecvInProgress, s.RecvBytes, s.RecvTotal = true, in.next, in.total
	}
	return s
}

// Step hands a message from the network to the core, except snapshot
// chunks and their answers, which the driver's stream handles.
func (d *Driver) Step(m raftpb.Message) error {
	switch m.Type {
	case raftpb.MsgSnapChunk:
		return d.recvChunk(&m)
	case raftpb.MsgSnapChunkResp:
		d.chunkResp(&m)
		return nil
	}
	return d.core.Step(m)
}

// sendSnapshots takes the core's MsgSnap out of msgs and starts (or
// resumes) a stream for each; the rest is returned to be sent.
func (d *Driver) sendSnapshots(msgs []raftpb.Message) []raftpb.Message {
	k := 0
	for i := range msgs {
		if msgs[i].Type != raftpb.MsgSnap || msgs[i].Snapshot == nil {
			msgs[k] = msgs[i]
			k++
			continue
		}
		d.startSend(&msgs[i])
	}
	clear(msgs[k:])
	return msgs[:k]
}

func (d *Driver) startSend(m *raftpb.Message) {
	x := d.xf
	if t := x.out[m.To]; t != nil {
		same := t.term == m.Term && t.snap.Meta.Index == m.Snapshot.Meta.Index && t.snap.Meta.Term == m.Snapshot.Meta.Term
		// A newer snapshot does not replace one that is still moving:
		// with frequent snapshots and a slow link the transfer would
		// restart forever. The follower installs the older one and the
		// core catches it up from there (by log, or by another stream).
		moving := t.term == m.Term && !t.finished && t.idle < x.cfg.RetryTicks
		if same || moving {
			if !t.finished {
				x.stats.SendsResumed++
				d.pump(t)
			}
			if same && t.finished {
				// The follower has every byte and already answered the
				// core; a re-sent MsgSnap means that answer was lost:
				// stream it again from the start.
				d.closeOut(t)
			} else {
				return
			}
		} else {
			d.closeOut(t)
			x.stats.SendsAborted++
		}
	}
	r, err := x.cfg.Source.OpenSnapshot(m.Snapshot)
	if err != nil {
		// The core retries after a timeout; nothing else to do here.
		return
	}
	t := &outTransfer{to: m.To, term: m.Term, snap: m.Snapshot, r: r, total: uint64(r.Size())}
	x.out[m.To] = t
	x.stats.SendsStarted++
	d.pump(t)
}

func (d *Driver) closeOut(t *outTransfer) {
	_ = t.r.Close()
	delete(d.xf.out, t.to)
}

// pump sends chunks while the window allows.
func (d *Driver) pump(t *outTransfer) {
	x := d.xf
	chunk, window := uint64(x.cfg.ChunkBytes), uint64(x.cfg.ChunkBytes)*uint64(x.cfg.ChunksInFlight)
	var msgs []raftpb.Message
	for !t.finished && t.sent-t.acked < window && (t.sent < t.total || t.total == 0 && len(msgs) == 0) {
		n := min(chunk, t.total-t.sent)
		data := make([]byte, n)
		if _, err := t.r.ReadAt(data, int64(t.sent)); err != nil && !(errors.Is(err, io.EOF) && uint64(len(data)) == n) {
			return // unreadable now: the retry timer tries again
		}
		c := raftpb.SnapChunk{Meta: t.snap.Meta, Offset: t.sent, Total: t.total,
			Checksum: raftpb.ChunkChecksum(data), Done: t.sent+n == t.total, Data: data}
		msgs = append(msgs, raftpb.ChunkMessage(d.core.ID(), t.to, t.term, c))
		x.stats.ChunksSent++
		x.stats.BytesSent += n
		t.sent += n
		if t.total == 0 {
			break
		}
	}
	if len(msgs) > 0 {
		d.tr.Send(msgs)
	}
}

// chunkResp moves a leader's stream on: acknowledged bytes open the
// window, a refusal rewinds to the follower's offset.
func (d *Driver) chunkResp(m *raftpb.Message) {
	t := d.xf.out[m.From]
	if t == nil || m.Snapshot == nil || t.term != d.core.Term() || d.core.Role() != engine.Leader ||
		m.Snapshot.Meta.Index != t.snap.Meta.Index || m.Snapshot.Meta.Term != t.snap.Meta.Term || m.Commit != t.total {
		return // stale: another transfer or another term
	}
	if m.Index > t.total {
		return
	}
	switch {
	case m.Reject:
		// The follower holds exactly the bytes before Index (fewer than
		// acknowledged if it restarted): resend from there.
		d.xf.stats.Resends++
		t.acked, t.sent, t.idle = m.Index, m.Index, 0
	case m.Index > t.acked:
		t.acked, t.idle = m.Index, 0
		t.sent = max(t.sent, t.acked)
	}
	if t.acked == t.total && t.sent >= t.total {
		if !t.finished {
			t.finished = true
			d.xf.stats.SendsCompleted++
		}
		return
	}
	d.pump(t)
}

// tickTransfers rewinds stalled streams, drops those of a past term and
// gives up on a partial incoming transfer nobody continues.
func (d *Driver) tickTransfers() {
	x := d.xf
	for _, t := range x.out {
		if t.term != d.core.Term() || d.core.Role() != engine.Leader {
			d.closeOut(t)
			if !t.finished {
				x.stats.SendsAborted++
			}
			continue
		}
		if t.finished {
			continue
		}
		if t.idle++; t.idle >= 10*x.cfg.RetryTicks {
			// Nobody answers (the follower is down or gone): stop
			// re-sending windows into the void. The core sends MsgSnap
			// again when it probes, and the stream resumes where the
			// follower is.
			d.closeOut(t)
			x.stats.SendsAborted++
			continue
		}
		if t.idle%x.cfg.RetryTicks == 0 {
			t.sent = t.acked
			x.stats.Resends++
			d.pump(t)
		}
	}
	if in := x.in; in != nil {
		if in.idle++; in.idle >= 10*x.cfg.RetryTicks {
			d.abortIn()
		}
	}
}

func (d *Driver) abortIn() {
	d.xf.in.w.Abort()
	d.xf.in = nil
	d.xf.stats.RecvsAborted++
}

// recvChunk writes an incoming chunk if it is the next one of the
// current transfer and answers the leader. A chunk that is not (wrong
// offset, size or checksum, unknown transfer not starting at 0) is
// refused with the offset the follower wants, and nothing is written;
// the returned error says why, for the caller's log.
func (d *Driver) recvChunk(m *raftpb.Message) error {
	x := d.xf
	c, err := m.Chunk()
	if err != nil {
		x.stats.ChunksRejected++
		if m.Snapshot != nil {
			d.answerChunk(m, m.Snapshot.Meta, m.Commit, d.expected(m), true)
		}
		return fmt.Errorf("%w: from %d: %w", ErrSnapshotTransfer, m.From, err)
	}
	if term := max(d.core.Term(), x.inTerm()); m.Term < term {
		// A deposed leader's: never let it replace a newer transfer.
		x.stats.ChunksRejected++
		return fmt.Errorf("%w: chunk from %d at term %d, ours is %d", ErrSnapshotTransfer, m.From, m.Term, term)
	}
	if x.cfg.MaxSnapshotBytes > 0 && c.Total > x.cfg.MaxSnapshotBytes {
		x.stats.ChunksRejected++
		return fmt.Errorf("%w: snapshot of %d bytes from %d exceeds the limit %d", ErrSnapshotTransfer, c.Total, m.From, x.cfg.MaxSnapshotBytes)
	}
	if c.Meta.Index <= d.core.Status().Commit {
		// Already covered: the leader may stop streaming, and the core
		// answers as for any old MsgSnap (it acknowledges its commit
		// index), without the data.
		d.answerChunk(m, c.Meta, c.Total, c.Total, false)
		return d.core.Step(raftpb.Message{Type: raftpb.MsgSnap, From: m.From, To: m.To, Term: m.Term,
			Snapshot: &raftpb.Snapshot{Meta: c.Meta}})
	}
	in := x.in
	if in != nil && !(in.from == m.From && in.term == m.Term && in.meta.Index == c.Meta.Index &&
		in.meta.Term == c.Meta.Term && in.total == c.Total) {
		if c.Offset != 0 {
			// Another transfer's chunk: ask for its start; keep ours
			// until a chunk at 0 replaces it.
			x.stats.ChunksRejected++
			d.answerChunk(m, c.Meta, c.Total, 0, true)
			return fmt.Errorf("%w: chunk at %d of an unknown transfer from %d", ErrSnapshotTransfer, c.Offset, m.From)
		}
		d.abortIn()
		in = nil
	}
	if in == nil {
		if c.Offset != 0 {
			x.stats.ChunksRejected++
			d.answerChunk(m, c.Meta, c.Total, 0, true)
			return fmt.Errorf("%w: chunk at %d from %d, no transfer started", ErrSnapshotTransfer, c.Offset, m.From)
		}
		w, err := x.cfg.Sink.CreateSnapshot(c.Meta, c.Total)
		if err != nil {
			return fmt.Errorf("%w: create: %w", ErrSnapshotTransfer, err)
		}
		in = &inTransfer{from: m.From, term: m.Term, meta: c.Meta, total: c.Total, w: w}
		x.in = in
		x.stats.RecvsStarted++
	}
	in.idle = 0
	switch {
	case c.Offset < in.next:
		// A duplicate (resend or resume probe): say how far we are.
		d.answerChunk(m, c.Meta, c.Total, in.next, false)
		return nil
	case c.Offset > in.next:
		x.stats.ChunksRejected++
		d.answerChunk(m, c.Meta, c.Total, in.next, true)
		return fmt.Errorf("%w: chunk at %d from %d, expected %d", ErrSnapshotTransfer, c.Offset, m.From, in.next)
	case !c.Verify():
		x.stats.ChunksRejected++
		d.answerChunk(m, c.Meta, c.Total, in.next, true)
		return fmt.Errorf("%w: chunk at %d from %d: checksum mismatch", ErrSnapshotTransfer, c.Offset, m.From)
	}
	if err := in.w.Write(c.Data); err != nil {
		d.abortIn()
		return fmt.Errorf("%w: write chunk at %d: %w", ErrSnapshotTransfer, c.Offset, err)
	}
	in.next += uint64(len(c.Data))
	x.stats.ChunksReceived++
	x.stats.BytesReceived += uint64(len(c.Data))
	if !c.Done {
		d.answerChunk(m, c.Meta, c.Total, in.next, false)
		return nil
	}
	data, err := in.w.Finish()
	x.in = nil
	if err != nil {
		x.stats.RecvsAborted++
		return fmt.Errorf("%w: finish snapshot %d: %w", ErrSnapshotTransfer, c.Meta.Index, err)
	}
	x.stats.RecvsCompleted++
	d.answerChunk(m, c.Meta, c.Total, in.next, false)
	return d.core.Step(raftpb.Message{Type: raftpb.MsgSnap, From: m.From, To: m.To, Term: m.Term,
		Snapshot: &raftpb.Snapshot{Meta: c.Meta, Data: data}})
}

func (x *transfers) inTerm() uint64 {
	if x.in == nil {
		return 0
	}
	return x.in.term
}

// expected is the offset this follower wants next for m's transfer.
func (d *Driver) expected(m *raftpb.Message) uint64 {
	if in := d.xf.in; in != nil && m.Snapshot != nil && in.from == m.From && in.term == m.Term &&
		in.meta.Index == m.Snapshot.Meta.Index && in.meta.Term == m.Snapshot.Meta.Term {
		return in.next
	}
	return 0
}

func (d *Driver) answerChunk(m *raftpb.Message, meta raftpb.SnapshotMeta, total, next uint64, reject bool) {
	d.tr.Send([]raftpb.Message{{Type: raftpb.MsgSnapChunkResp, From: d.core.ID(), To: m.From, Term: m.Term,
		Index: next, Commit: total, Reject: reject, Snapshot: &raftpb.Snapshot{Meta: meta}}})
}

// memSource serves Snapshot.Data.
type memSource struct{}

func (memSource) OpenSnapshot(s *raftpb.Snapshot) (SnapshotReader, error) {
	return bytesReader(s.Data), nil
}

type bytesReader []byte

func (b bytesReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (b bytesReader) Size() int64  { return int64(len(b)) }
func (b bytesReader) Close() error { return nil }

// memSink keeps an incoming snapshot in memory (the simulator's sink).
type memSink struct{}

func (memSink) CreateSnapshot(raftpb.SnapshotMeta, uint64) (SnapshotWriter, error) {
	return &memWriter{}, nil
}

type memWriter struct{ b []byte }

func (w *memWriter) Write(p []byte) error    { w.b = append(w.b, p...); return nil }
func (w *memWriter) Finish() ([]byte, error) { return w.b, nil }
func (w *memWriter) Abort()                  { w.b = nil }
