package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/wal"
)

// The floor target: what the disk allows the clients' writes, measured
// through the same harness as every system.
//
// compare's disk floor (MeasureQuorumFloor) drives the logs with writers
// of its own: no load generator, no request encoding, no histograms, no
// state machine, and GOMAXPROCS raised so a blocked fsync never waits for
// a P. On a machine with few CPUs that leaves out everything a closed
// loop spends between one write becoming durable and the next arriving,
// which no system can skip. The floor target is the other bound: the
// smallest replicated state machine that can stand in for a system under
// `run` and `compare`. Each write or cas is encoded as a record and
// queued, in one order, to every one of Nodes logs on the data directory's
// disk; one goroutine per log takes everything queued, writes it with one
// write and makes it durable with one fsync (group commit); once a
// majority of the logs hold a write durable it is applied to one kv.Store
// in log order and answered (with the option stores=N, N-1 more copies
// of the state each apply every committed write on a goroutine of their
// own, as followers do, and nobody waits for them; with model-fsync=D
// each fsync is a wait of D instead, as on the inproc target). A large
// commit's fsync goes through an io_uring, as our WAL's do in a process
// with several logs, so that a blocked fsync does not keep a P from the
// clients; a small one blocks, which costs less CPU (option
// fsync-offload, FloorOffloadFromRecords). Reads are
// served by the first store with no round trip. No leader, no messages, no
// consensus, no snapshots, no recovery: nothing survives a restart, and
// it is never a system to use. A system's row over the floor target's row
// in the same run says what its own work costs; the floor target's row
// over the disk floor says what the harness and the machine cost any
// system.
func init() { Register("floor", openFloor) }

// floorTarget is the floor target (see above).
type floorTarget struct {
	quorum int
	fsync  bool
	store  *kv.Store

	// submitMu gives every write one place in every log.
	submitMu sync.Mutex
	next     uint64 // the last write's sequence number (the first is 1)
	logs     []*floorLog

	applyMu   sync.Mutex
	pending   []floorOp // writes committed+1 ... not yet applied, in order
	durable   []uint64  // per log: every write up to here is durable in it
	committed uint64    // every write up to here is durable on a majority
	applied   uint64    // every write up to here is applied and answered
	failed    error     // a log could not write: nothing more is answered
	wake      chan struct{}
	exited    chan struct{}

	// replicas are the extra copies of the state (option stores), each
	// applying every committed write on a goroutine of its own, as a
	// follower does; nobody waits for them.
	replicas []*floorReplica

	// model replaces every fsync by a fixed wait (option model-fsync).
	model *ModelDisk

	closeOnce sync.Once
	fsyncs    atomic.Uint64
	offloaded atomic.Uint64 // fsyncs through an io_uring (fsync-offload)
	entries   atomic.Uint64
	// The logs' group-commit cycle (TargetStats.Log), timed with fsync
	// on as our WAL times its own.
	flushes, idleNanos, lingerNanos, writeNanos, fsyncNanos atomic.Uint64
}

// floorOp is a write waiting to be applied and answered.
type floorOp struct {
	cmd  []byte
	done chan []byte // capacity 1: the applier never blocks
}

// floorLog is one replica's log: records queued by Do, written and
// fsynced by run.
type floorLog struct {
	t     *floorTarget
	i     int
	f     *os.File
	ring  int64 // overwrite: the preallocated file's size (0: append)
	fsync bool

	// The fsync offload (option fsync-offload): uring is this log's
	// io_uring (nil: every fsync blocks); offloadFrom is the size of a
	// commit, in records, from which its fsync goes through it.
	uring       *wal.FsyncRing
	offloadFrom int

	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte // records queued, each a uvarint length and the command
	n       int    // records in buf
	last    uint64 // the last queued write's sequence number
	closing bool
	off     int64 // overwrite: where the next write goes (run only)

	// Linger (commit-delay and commit-delay-fsync-share, the WAL's
	// MaxCommitDelay rule): after a commit of k >= 2 records, the next
	// waits until k are queued, up to delay or share of fsyncMean, this
	// log's recent fsync time, if longer (wal.LingerLimit). add wakes run
	// once n reaches wakeAt.
	delay     time.Duration
	share     float64
	fsyncMean time.Duration // run only
	wakeAt    int
	timer     *time.Timer

	started bool          // run was started (exited will close)
	exited  chan struct{} // closed when run returns
}

// floorRingBytes is each log's preallocated file with the default
// log-writes=overwrite (the disk floor's OverwriteBytes).
const floorRingBytes = OverwriteBytes

func openFloor(_ context.Context, cfg TargetConfig) (Target, error) {
	overwrite := true
	delay := wal.DefaultMaxCommitDelay
	share := wal.DefaultMaxCommitDelayFsyncShare
	stores := 1
	offload := floorOffloadAuto
	var model *ModelDisk
	for k, v := range cfg.Options {
		switch k {
		case "commit-delay":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > time.Second {
				return nil, fmt.Errorf("floor target: commit-delay=%q: want a duration from 0 (no linger) to 1s", v)
			}
			delay = d
		case "commit-delay-fsync-share":
			f, err := parseFsyncShare("floor target", k, v)
			if err != nil {
				return nil, err
			}
			share = f
		case "stores":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 15 {
				return nil, fmt.Errorf("floor target: stores=%q: want 1 to 15 copies of the state", v)
			}
			stores = n
		case "log-writes":
			switch v {
			case "overwrite":
			case "append":
				overwrite = false
			default:
				return nil, fmt.Errorf("floor target: log-writes=%q: want overwrite (a preallocated file overwritten, fdatasync) or append (fsync)", v)
			}
		case "fsync-offload":
			switch v {
			case "auto":
				offload = floorOffloadAuto
			case "ring":
				offload = floorOffloadRing
			case "blocking":
				offload = floorOffloadBlocking
			default:
				return nil, fmt.Errorf("floor target: fsync-offload=%q: want auto (the io_uring for commits of %d records or more), ring (every fsync through the io_uring) or blocking (every fsync a blocking syscall)", v, FloorOffloadFromRecords)
			}
		case ModelFsyncOption:
			m, err := NewModelDisk("floor target", v, cfg.Fsync)
			if err != nil {
				return nil, err
			}
			model = m
		default:
			return nil, fmt.Errorf("floor target: unknown option %q (known: log-writes, commit-delay, commit-delay-fsync-share, stores, fsync-offload, model-fsync)", k)
		}
	}
	nodes := max(cfg.Nodes, 1)
	if nodes > 15 {
		return nil, fmt.Errorf("floor target: nodes %d out of range 1..15", nodes)
	}
	if cfg.Dir == "" {
		return nil, errors.New("floor target: no data directory")
	}
	if stores > nodes {
		return nil, fmt.Errorf("floor target: stores=%d: more copies of the state than nodes (%d)", stores, nodes)
	}
	t := newFloorTarget(nodes, cfg.Fsync)
	t.model = model
	t.startReplicas(stores - 1)
	for i := range nodes {
		f, err := os.Create(filepath.Join(cfg.Dir, fmt.Sprintf("floor-log-%d", i)))
		if err == nil && overwrite {
			if err = fillZeros(f, floorRingBytes); err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("floor target: %w", err)
		}
		l := &floorLog{t: t, i: i, f: f, fsync: cfg.Fsync, exited: make(chan struct{}), delay: delay, share: share, wakeAt: 1}
		if overwrite {
			l.ring = floorRingBytes
		}
		l.cond.L = &l.mu
		t.logs = append(t.logs, l)
		if err := l.setOffload(offload, cfg.Fsync && model == nil); err != nil {
			_ = t.Close()
			return nil, err
		}
	}
	for _, l := range t.logs {
		l.started = true
		go l.run()
	}
	return t, nil
}

// newFloorTarget returns a floor target of nodes logs with its applier
// running and no log yet.
func newFloorTarget(nodes int, fsync bool) *floorTarget {
	t := &floorTarget{quorum: nodes/2 + 1, fsync: fsync, store: kv.NewStore(), durable: make([]uint64, nodes),
		wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go t.applier()
	return t
}

func (t *floorTarget) Name() string { return "floor" }

// Contract: durable on a majority of the logs like a Raft commit, but
// with no leader and one store, so reads need no round trip.
func (t *floorTarget) Contract() Contract {
	c := Contract{Durability: DurabilityNone, FsyncsPerCommit: "none",
		Acks:        "applied to the one store once a majority of the logs hold it written (not fsynced)",
		Reads:       ReadsStore,
		ReadsDetail: "the one store answers at once: no leader to confirm, no replica to lag"}
	switch {
	case t.model != nil:
		c = t.model.Contract(c)
		c.Acks = "applied to the one store once a majority of the logs hold it through a modelled fsync"
	case t.fsync:
		c.Durability = DurabilityQuorumFsync
		c.FsyncsPerCommit = "a majority of the logs, each by its own group commit; no leader, every log counts alike"
		c.Acks = "applied to the one store once a majority of the logs hold it durable"
	}
	return c
}

func (t *floorTarget) Do(ctx context.Context, req Request) (kv.Result, error) {
	var cmd []byte
	switch req.Op {
	case kv.OpRead:
		return kv.DecodeResult(t.store.Query(EncodeCommand(0, kv.Command{Op: kv.OpRead, Key: req.Key})))
	case kv.OpWrite:
		cmd = EncodeCommand(0, kv.Command{Op: kv.OpWrite, Key: req.Key, Value: req.Value})
	case kv.OpCas:
		cmd = EncodeCommand(0, kv.Command{Op: kv.OpCas, Key: req.Key, From: req.From, Value: req.Value})
	default:
		return kv.Result{}, fmt.Errorf("floor target: unknown op %v", req.Op)
	}
	done := make(chan []byte, 1)
	t.submitMu.Lock()
	t.applyMu.Lock()
	err := t.failed
	if err == nil {
		t.pending = append(t.pending, floorOp{cmd: cmd, done: done})
	}
	t.applyMu.Unlock()
	if err != nil {
		t.submitMu.Unlock()
		return kv.Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	t.next++
	for _, l := range t.logs {
		l.add(t.next, cmd)
	}
	t.submitMu.Unlock()
	select {
	case res, ok := <-done:
		if !ok {
			// Queued but never durable on a majority: it may still be in
			// a log, so it may or may not count as written.
			return kv.Result{}, fmt.Errorf("%w: floor target stopped: %w", ErrIndeterminate, t.failure())
		}
		return kv.DecodeResult(res)
	case <-ctx.Done():
		return kv.Result{}, ctx.Err()
	}
}

func (t *floorTarget) failure() error {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	return t.failed
}

// add queues the record of write seq.
func (l *floorLog) add(seq uint64, cmd []byte) {
	l.mu.Lock()
	l.buf = binary.AppendUvarint(l.buf, uint64(len(cmd)))
	l.buf = append(l.buf, cmd...)
	l.n++
	l.last = seq
	if l.n == l.wakeAt {
		l.cond.Signal()
	}
	l.mu.Unlock()
}

// run is the log's group commit: take every queued record, one write,
// one fsync, report, repeat.
func (l *floorLog) run() {
	defer close(l.exited)
	var spare []byte
	lastN := 0
	for {
		l.mu.Lock()
		if l.n == 0 && !l.closing {
			var from time.Time
			if l.fsync {
				from = time.Now()
			}
			for l.n == 0 && !l.closing {
				l.cond.Wait()
			}
			if l.fsync {
				l.t.idleNanos.Add(uint64(time.Since(from)))
			}
		}
		if l.n == 0 {
			l.mu.Unlock()
			return
		}
		l.linger(lastN)
		buf, n, last := l.buf, l.n, l.last
		lastN = n
		l.buf, l.n = spare[:0], 0
		l.mu.Unlock()
		err := l.write(buf, n)
		spare = buf
		if err == nil && l.fsync {
			l.t.fsyncs.Add(1)
			l.t.entries.Add(uint64(n))
			l.t.flushes.Add(1)
		}
		l.t.durableIn(l.i, last, err)
		if err != nil {
			return
		}
	}
}

// parseFsyncShare reads a target's option for
// wal.Options.MaxCommitDelayFsyncShare: a share of the recent fsync time
// from 0 (the commit delay alone) to the WAL's limit.
func parseFsyncShare(target, key, v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > wal.MaxCommitDelayFsyncShareLimit {
		return 0, fmt.Errorf("%s: %s=%q: want a share of the recent fsync time from 0 (the commit delay alone) to %v", target, key, v, wal.MaxCommitDelayFsyncShareLimit)
	}
	return f, nil
}

// linger waits, up to the WAL's limit (wal.LingerLimit), until as many
// records as the last commit had are queued (the WAL's rule). Caller
// holds mu; the wait releases it.
func (l *floorLog) linger(want int) {
	if want < 2 || l.delay <= 0 || l.n >= want {
		return
	}
	limit := wal.LingerLimit(l.delay, l.share, l.fsyncMean)
	from := time.Now()
	deadline := from.Add(limit)
	defer func() { l.t.lingerNanos.Add(uint64(time.Since(from))) }()
	if l.timer == nil {
		l.timer = time.AfterFunc(limit, func() {
			l.mu.Lock()
			l.cond.Signal()
			l.mu.Unlock()
		})
	} else {
		l.timer.Reset(limit)
	}
	l.wakeAt = want
	for l.n < want && !l.closing && time.Now().Before(deadline) {
		l.cond.Wait()
	}
	l.wakeAt = 1
	l.timer.Stop()
}

// The floor target's ways to fsync (option fsync-offload).
const (
	floorOffloadAuto = iota
	floorOffloadRing
	floorOffloadBlocking
)

// FloorOffloadFromRecords is the commit size, in records, from which the
// floor target's logs fsync through the io_uring by default
// (fsync-offload=auto); smaller commits fsync with a blocking syscall.
//
// Why a size: a blocking fsync keeps its goroutine's P (GOMAXPROCS slot)
// for the whole fsync, and with three logs on 2 CPUs two fsyncs in flight
// hold both; the ring's submission, kernel worker and completion
// wake-ups cost tens of µs of CPU per fsync instead. Which costs more
// follows how much work waits for a P during an fsync, and in a closed
// loop that is the clients answered by the last commit: about as many as
// the commit carried. Measured with the floor target on this project's
// 2-CPU VM (results/compare/NOTES.md, round 37), every fsync through the
// ring against every fsync blocking: 1 client 0.68-0.92x, 16 clients
// (16 records a commit) 0.65-0.74x, 64 clients (40-60) 0.96-1.26x on the
// default mix but 0.77-0.88x write-only, 256 clients (100-185)
// 1.28-2.52x. No size wins at 64 clients on both workloads; perf-goals
// therefore runs the floor targets both ways.
const FloorOffloadFromRecords = 64

// setOffload sets up how the log fsyncs: with fsync on (and no modelled
// disk) and an offload mode other than blocking, an io_uring of its own,
// which ring demands and auto does without where the kernel forbids it.
func (l *floorLog) setOffload(mode int, fsync bool) error {
	if !fsync || mode == floorOffloadBlocking {
		return nil
	}
	r, err := wal.NewFsyncRing()
	switch {
	case err != nil && mode == floorOffloadRing:
		return fmt.Errorf("floor target: fsync-offload=ring: %w", err)
	case err != nil:
		return nil // auto without io_uring: every fsync blocks
	}
	l.uring = r
	if mode == floorOffloadAuto {
		l.offloadFrom = FloorOffloadFromRecords
	}
	return nil
}

func (l *floorLog) write(b []byte, records int) error {
	var err error
	var from time.Time
	if l.fsync {
		from = time.Now()
	}
	if l.ring > 0 {
		if l.off+int64(len(b)) > l.ring {
			l.off = 0
		}
		_, err = l.f.WriteAt(b, l.off)
		l.off += int64(len(b))
	} else {
		_, err = l.f.Write(b)
	}
	var synced time.Time
	if l.fsync {
		synced = time.Now()
		l.t.writeNanos.Add(uint64(synced.Sub(from)))
	}
	switch {
	case err != nil || !l.fsync:
	case l.t.model != nil:
		l.t.model.Wait()
	case l.uring != nil && records >= l.offloadFrom:
		err = l.uring.Sync(l.f, l.ring > 0)
		l.t.offloaded.Add(1)
	case l.ring > 0:
		err = wal.Fdatasync(l.f)
	default:
		err = l.f.Sync()
	}
	if l.fsync {
		d := time.Since(synced)
		l.t.fsyncNanos.Add(uint64(d))
		if err == nil {
			l.fsyncMean = wal.FsyncMean(l.fsyncMean, d)
		}
	}
	if err != nil {
		return fmt.Errorf("log %d: %w", l.i, err)
	}
	return nil
}

// durableIn records that log i holds every write up to last durable (or
// failed) and wakes the applier when a majority's position moved.
func (t *floorTarget) durableIn(i int, last uint64, err error) {
	t.applyMu.Lock()
	if err != nil {
		if t.failed == nil {
			t.failed = err
		}
	} else {
		t.durable[i] = last
	}
	var positions [15]uint64
	p := positions[:len(t.durable)]
	copy(p, t.durable)
	slices.Sort(p)
	moved := false
	if q := p[len(p)-t.quorum]; q > t.committed {
		t.committed, moved = q, true
	}
	t.applyMu.Unlock()
	if moved || err != nil {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// applier applies committed writes in order and answers them; once a log
// failed or the target closed it answers the rest with a closed channel.
func (t *floorTarget) applier() {
	defer close(t.exited)
	var batch []floorOp
	var results [][]byte
	for range t.wake {
		t.applyMu.Lock()
		n := int(t.committed - t.applied)
		batch = append(batch[:0], t.pending[:n]...)
		rest := copy(t.pending, t.pending[n:])
		clear(t.pending[rest:])
		t.pending = t.pending[:rest]
		t.applied = t.committed
		failed := t.failed
		var abandoned []floorOp
		if failed != nil {
			abandoned, t.pending = t.pending, nil
		}
		t.applyMu.Unlock()
		if len(batch) > 0 {
			// Applied a group at a time with its index slots and records
			// prefetched (kv.Store.ApplyBatch), as our Applier does.
			cmds := make([][]byte, len(batch))
			for i, op := range batch {
				cmds[i] = op.cmd
			}
			for _, r := range t.replicas {
				r.batches <- cmds
			}
			results = t.store.ApplyBatch(cmds, results[:0])
			for i, op := range batch {
				op.done <- results[i]
			}
			clear(results)
		}
		clear(batch)
		for _, op := range abandoned {
			close(op.done)
		}
		if failed != nil {
			return
		}
	}
}

// floorReplica is an extra copy of the state (option stores).
type floorReplica struct {
	store   *kv.Store
	batches chan [][]byte // closed by Close once the applier exited
	exited  chan struct{}
}

// startReplicas starts n extra copies of the state.
func (t *floorTarget) startReplicas(n int) {
	for range n {
		r := &floorReplica{store: kv.NewStore(), batches: make(chan [][]byte, 1024), exited: make(chan struct{})}
		t.replicas = append(t.replicas, r)
		go func() {
			defer close(r.exited)
			var results [][]byte
			for cmds := range r.batches {
				results = r.store.ApplyBatch(cmds, results[:0])
				clear(results)
			}
		}()
	}
}

func (t *floorTarget) Stats() TargetStats {
	return TargetStats{Fsyncs: t.fsyncs.Load(), FsyncEntries: t.entries.Load(), SnapshotsCounted: true,
		Log: LogCycle{Flushes: t.flushes.Load(), IdleNanos: t.idleNanos.Load(), LingerNanos: t.lingerNanos.Load(),
			WriteNanos: t.writeNanos.Load(), FsyncNanos: t.fsyncNanos.Load()}}
}

// StateBytes is the stores' memory (one copy of the state unless the
// option stores asks for more; a system keeps one per node).
func (t *floorTarget) StateBytes() uint64 {
	n := t.store.MemoryBytes()
	for _, r := range t.replicas {
		n += r.store.MemoryBytes()
	}
	return n
}

// Close stops the logs after what is queued is written, then the applier;
// a write still unanswered then gets an indeterminate error.
func (t *floorTarget) Close() error {
	t.closeOnce.Do(func() {
		t.closeLogs()
		t.applyMu.Lock()
		if t.failed == nil {
			t.failed = errors.New("closed")
		}
		t.applyMu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
		<-t.exited
		for _, r := range t.replicas {
			close(r.batches)
			<-r.exited
		}
		if t.model != nil {
			t.model.Close()
		}
	})
	return nil
}

// closeLogs stops every log goroutine once its queue is written and
// closes the files.
func (t *floorTarget) closeLogs() {
	for _, l := range t.logs {
		l.mu.Lock()
		l.closing = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}
	for _, l := range t.logs {
		if l.started {
			<-l.exited
		}
		if l.f != nil {
			_ = l.f.Close()
		}
		if l.uring != nil {
			_ = l.uring.Close()
		}
	}
}
