package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftbench/raftbench/wal"
)

// FloorConfig describes a disk floor measurement (MeasureQuorumFloor).
type FloorConfig struct {
	Nodes       int // replicas, one log file each; a write needs a majority
	RecordBytes int // bytes one write adds to a log
	// Writers are closed-loop clients: each starts its next write when
	// the last one is durable on a quorum.
	Writers int
	// Rate, if positive, replaces the writers with an open loop: one
	// write due every 1/Rate seconds on a fixed schedule, each write's
	// latency counted from when it was due (a late submission counts as
	// latency, as in the open-loop runs). Writers must then be 0.
	Rate float64
	// EveryReplica: every replica's log writes; otherwise only a
	// quorum's (see DiskFloor).
	EveryReplica bool
	// Overwrite writes each log into a file of OverwriteBytes filled with
	// zeros and fsynced beforehand, from its start and again from its start
	// when full, and makes each write durable with fdatasync: no write
	// changes the file's size or block map, so on a journaling file system
	// (ext4) an fdatasync flushes the data alone, without a journal commit
	// (what preallocating logs, as etcd's WAL does, buys). Otherwise each
	// log appends and fsyncs, as our WAL does.
	Overwrite bool
	// SyncInterval, if positive, spaces each log's fsyncs at least this
	// far apart (from one's start to the next's): writes queue meanwhile
	// and the next fsync covers them all. It asks whether a disk that
	// stalls above some rate of flushes (an I/O budget) gives lower tails
	// to fewer, larger flushes.
	SyncInterval time.Duration
	// OneFlushAtATime makes the logs take turns: one log's write and
	// flush at a time in the process, where each log otherwise flushes
	// whenever it holds records. It asks whether the stalls come with
	// overlapping flushes rather than with their rate or bytes, and what
	// taking turns costs the writes. (On the project's VMs they do: there
	// the stalls are the host pausing the whole machine, which three logs
	// flushing at once bring on; BenchmarkDiskFloorPausesTheMachine.)
	OneFlushAtATime bool
	Duration        time.Duration
}

// OverwriteBytes is the size of each log file in FloorConfig.Overwrite.
const OverwriteBytes = 16 << 20

// DiskFloor is what the disk alone allows replicated writes: Writers
// clients write records to the logs of Nodes replicas in one file system,
// each write done once Quorum logs have it durable. Each log is written
// by one goroutine that takes every record queued, writes them with one
// write and fsyncs, one fsync at a time: group commit with nothing else
// in the way.
//
// With every replica's log writing (Files == Nodes) it is the floor of
// the usual design of a Raft implementation with every replica's log on
// this disk (an in-process cluster, as compare runs), in which each
// replica fsyncs each write as soon as it has it. With only a quorum's
// logs writing (Files == Quorum) the disk carries less, but a write must
// wait for the slower of those logs instead of the quorum's fastest, so
// neither figure bounds the other.
type DiskFloor struct {
	Nodes       int     `json:"nodes"`
	Quorum      int     `json:"quorum"`
	Files       int     `json:"files"`
	Overwrite   bool    `json:"overwrite,omitempty"`
	Writers     int     `json:"writers,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	RecordBytes int     `json:"record_bytes"`
	Writes      int     `json:"writes"`
	DurationS   float64 `json:"duration_s"`
	// Latency of one write, from submit to durable on a quorum.
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	// WritesPerSec is the writers' throughput: Writers / mean latency, as
	// no client waits on anything but its writes; in an open loop, the
	// writes made durable per second.
	WritesPerSec float64 `json:"writes_per_s"`
	// The disk's stalls: stretches in which at least one log's fsync took
	// StallFsync or longer (overlapping slow fsyncs of several logs are
	// one stretch). A disk that throttles its I/O (a virtual disk's rate
	// limiter), or a host that pauses the whole virtual machine
	// (BenchmarkDiskFloorPausesTheMachine tells the two apart), shows them
	// at a fixed spacing, whatever writes to it, and every write in flight
	// then waits as long: they set the tails of anything on that disk, not
	// only of this floor.
	Stalls int `json:"stalls"`
	// FsyncsPerSec counts every log's fsyncs (fdatasyncs with Overwrite):
	// the rate the disk was asked to flush at, to set beside a system's own.
	FsyncsPerSec float64 `json:"fsyncs_per_s"`
	// StallMs is the stretches' total length, StallP50Ms their median
	// length, and StallSpacingMs the median time from one stretch's
	// start to the next's (0 with fewer than two).
	StallMs        float64 `json:"stall_ms"`
	StallP50Ms     float64 `json:"stall_p50_ms"`
	StallSpacingMs float64 `json:"stall_spacing_ms"`
}

// StallFsync is the fsync duration from which the floor counts a disk
// stall: several times a lone fsync's latency on the disks we measure
// (0.2-0.5 ms), well under the 10-15 ms stretches a throttled virtual
// disk shows.
const StallFsync = 5 * time.Millisecond

// MeasureBetterFloor measures cfg's floor both ways a log can be written
// (appended with fsync, then overwriting a preallocated file with
// fdatasync: FloorConfig.Overwrite, whatever cfg says) and returns the one
// better prefers, then the other. Which way the disk does faster depends
// on the disk and the load, and a system may write its log either way, so
// a floor set against a system's figures is the better of the two.
func MeasureBetterFloor(ctx context.Context, dir string, cfg FloorConfig, better func(a, b *DiskFloor) bool) (best, other *DiskFloor, err error) {
	cfg.Overwrite = false
	appended, err := MeasureQuorumFloor(ctx, dir, cfg)
	if err != nil {
		return nil, nil, err
	}
	cfg.Overwrite = true
	overwritten, err := MeasureQuorumFloor(ctx, dir, cfg)
	if err != nil {
		return nil, nil, err
	}
	if better(overwritten, appended) {
		return overwritten, appended, nil
	}
	return appended, overwritten, nil
}

// MoreWrites prefers the floor with more writes per second (closed loop).
func MoreWrites(a, b *DiskFloor) bool { return a.WritesPerSec > b.WritesPerSec }

// LowerP99 prefers the floor with the lower p99 (open loop at one rate).
func LowerP99(a, b *DiskFloor) bool { return a.P99Us < b.P99Us }

// Way names how a floor's logs were written.
func (f *DiskFloor) Way() string { return FloorWay(f.Overwrite) }

// FloorWay names a way of writing the floor's logs (FloorConfig.Overwrite).
func FloorWay(overwrite bool) string {
	if overwrite {
		return "overwrite + fdatasync"
	}
	return "append + fsync"
}

// MeasureQuorumFloor measures DiskFloor for cfg.Duration in a fresh
// directory under dir (removed afterwards). For its duration it raises
// GOMAXPROCS above the number of logs: a goroutine blocked in fsync keeps
// its P, and with more logs than Ps the writers would wait for the
// scheduler, not the disk. Run nothing else beside it.
func MeasureQuorumFloor(ctx context.Context, dir string, cfg FloorConfig) (*DiskFloor, error) {
	switch {
	case cfg.Nodes < 1 || cfg.Nodes > 15:
		return nil, fmt.Errorf("disk floor: nodes %d out of range 1..15", cfg.Nodes)
	case cfg.RecordBytes < 1 || cfg.RecordBytes > 1<<20:
		return nil, fmt.Errorf("disk floor: record bytes %d out of range 1..1048576", cfg.RecordBytes)
	case cfg.Rate < 0 || cfg.Rate > 1e7:
		return nil, fmt.Errorf("disk floor: rate %v out of range 0..10000000", cfg.Rate)
	case cfg.Rate > 0 && cfg.Writers != 0:
		return nil, fmt.Errorf("disk floor: writers %d with a rate: an open loop has no writers", cfg.Writers)
	case cfg.Rate == 0 && (cfg.Writers < 1 || cfg.Writers > MaxClients):
		return nil, fmt.Errorf("disk floor: writers %d out of range 1..%d", cfg.Writers, MaxClients)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("disk floor: duration %v must be positive", cfg.Duration)
	}
	tmp, err := os.MkdirTemp(dir, "disk-floor-")
	if err != nil {
		return nil, fmt.Errorf("disk floor: %w", err)
	}
	defer os.RemoveAll(tmp)
	quorum := cfg.Nodes/2 + 1
	files := quorum
	if cfg.EveryReplica {
		files = cfg.Nodes
	}
	if procs := runtime.GOMAXPROCS(0); procs < files+2 {
		runtime.GOMAXPROCS(files + 2)
		defer runtime.GOMAXPROCS(procs)
	}
	q := newFloorQuorum(files, quorum)
	var stalls stallLog
	var turn *sync.Mutex // OneFlushAtATime: held around each log's write and flush
	if cfg.OneFlushAtATime {
		turn = new(sync.Mutex)
	}
	logs := make([]chan uint64, files)
	var logsDone sync.WaitGroup
	for i := range logs {
		f, err := os.Create(filepath.Join(tmp, fmt.Sprintf("log%d", i)))
		if err == nil && cfg.Overwrite {
			if err = fillZeros(f, OverwriteBytes); err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			for _, l := range logs[:i] {
				close(l)
			}
			logsDone.Wait()
			return nil, fmt.Errorf("disk floor: %w", err)
		}
		depth := cfg.Writers // a writer has one write outstanding
		if cfg.Rate > 0 {
			depth = 1 << 16 // the schedule does not wait for the disk
		}
		logs[i] = make(chan uint64, depth)
		logsDone.Add(1)
		go func() {
			defer logsDone.Done()
			defer f.Close()
			var ring int64 // append
			if cfg.Overwrite {
				ring = OverwriteBytes
			}
			groupCommit(f, ring, cfg.SyncInterval, turn, logs[i], cfg.RecordBytes, &stalls, func(last uint64, err error) { q.durable(i, last, err) })
		}()
	}

	var submit sync.Mutex // orders each write into every log alike
	seq := uint64(0)
	h := newHist()
	var hmu sync.Mutex
	start := time.Now()
	end := start.Add(cfg.Duration)
	var writers sync.WaitGroup
	errs := make([]error, max(cfg.Writers, 1))
	if cfg.Rate > 0 {
		q.open(h)
		writers.Add(1)
		go func() {
			defer writers.Done()
			errs[0] = openLoopWrites(ctx, cfg.Rate, start, end, logs, q)
		}()
	}
	for w := range cfg.Writers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				submit.Lock()
				seq++
				s := seq
				for _, l := range logs {
					l <- s
				}
				submit.Unlock()
				if errs[w] = q.wait(ctx, s); errs[w] != nil {
					return
				}
				d := time.Since(t0)
				hmu.Lock()
				recordUs(h, d)
				hmu.Unlock()
			}
		}()
	}
	writers.Wait()
	elapsed := time.Since(start)
	for _, l := range logs {
		close(l)
	}
	logsDone.Wait()
	runErr := errors.Join(errs...)
	if runErr == nil {
		runErr = q.failed()
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	if runErr == nil && h.TotalCount() == 0 {
		runErr = errors.New("no write completed")
	}
	if runErr != nil {
		return nil, fmt.Errorf("disk floor: %w", runErr)
	}
	mean := h.Mean()
	perSec := float64(cfg.Writers) * 1e6 / mean
	if cfg.Rate > 0 {
		perSec = float64(h.TotalCount()) / elapsed.Seconds()
	}
	fl := &DiskFloor{
		Nodes: cfg.Nodes, Quorum: quorum, Files: files, Overwrite: cfg.Overwrite, Writers: cfg.Writers, Rate: cfg.Rate, RecordBytes: cfg.RecordBytes,
		Writes: int(h.TotalCount()), DurationS: elapsed.Seconds(), MeanUs: mean,
		P50Us: float64(h.ValueAtQuantile(50)), P99Us: float64(h.ValueAtQuantile(99)),
		P999Us: float64(h.ValueAtQuantile(99.9)), MaxUs: float64(h.Max()),
		WritesPerSec: perSec,
	}
	fl.Stalls, fl.StallMs, fl.StallP50Ms, fl.StallSpacingMs = stalls.summary()
	fl.FsyncsPerSec = float64(stalls.fsyncs.Load()) / elapsed.Seconds()
	return fl, nil
}

// stallLog collects the logs' slow fsyncs (StallFsync or longer).
type stallLog struct {
	fsyncs atomic.Int64 // every fsync, slow or not
	mu     sync.Mutex
	spans  [][2]time.Time // start, end
}

func (l *stallLog) add(start, end time.Time) {
	l.fsyncs.Add(1)
	if end.Sub(start) < StallFsync {
		return
	}
	l.mu.Lock()
	l.spans = append(l.spans, [2]time.Time{start, end})
	l.mu.Unlock()
}

// summary merges overlapping slow fsyncs into stretches and returns
// their count, total and median length, and the median spacing of
// their starts, in ms.
func (l *stallLog) summary() (n int, totalMs, p50Ms, spacingMs float64) {
	l.mu.Lock()
	spans := slices.Clone(l.spans)
	l.mu.Unlock()
	slices.SortFunc(spans, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var merged [][2]time.Time
	for _, s := range spans {
		if k := len(merged) - 1; k >= 0 && !s[0].After(merged[k][1]) {
			if s[1].After(merged[k][1]) {
				merged[k][1] = s[1]
			}
			continue
		}
		merged = append(merged, s)
	}
	if len(merged) == 0 {
		return 0, 0, 0, 0
	}
	lengths := make([]float64, len(merged))
	for i, s := range merged {
		lengths[i] = float64(s[1].Sub(s[0]).Microseconds()) / 1000
		totalMs += lengths[i]
	}
	slices.Sort(lengths)
	p50Ms = lengths[len(lengths)/2]
	if len(merged) > 1 {
		gaps := make([]float64, len(merged)-1)
		for i := 1; i < len(merged); i++ {
			gaps[i-1] = float64(merged[i][0].Sub(merged[i-1][0]).Microseconds()) / 1000
		}
		slices.Sort(gaps)
		spacingMs = gaps[len(gaps)/2]
	}
	return len(merged), totalMs, p50Ms, spacingMs
}

// openLoopWrites submits write k to every log at start + k/rate until end
// and then waits until a quorum has made the last one durable. Submitting
// never waits for the disk; a submission the process made late still
// counts from its due time (q.open records every write's latency).
func openLoopWrites(ctx context.Context, rate float64, start, end time.Time, logs []chan uint64, q *floorQuorum) error {
	sl := newSleeper()
	defer sl.close()
	var last uint64
	for k := uint64(0); ; k++ {
		due := start.Add(time.Duration(float64(k) * 1e9 / rate))
		if !due.Before(end) {
			break
		}
		for wait := time.Until(due); wait >= 20*time.Microsecond; wait = time.Until(due) {
			sl.sleep(wait, ctx.Done())
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		last = q.due(due)
		for _, l := range logs {
			l <- last
		}
	}
	if last == 0 {
		return nil
	}
	return q.wait(ctx, last)
}

// groupCommit makes the writes queued on seqs durable in f: it takes
// every write queued, writes their records with one write, fsyncs, and
// reports the last write it covered. Slow fsyncs go to stalls. With ring
// > 0 it overwrites the first ring bytes of the zero-filled file instead
// of appending (from its start again when a batch would pass ring) and
// fdatasyncs. With turn, it holds it around each write and flush
// (FloorConfig.OneFlushAtATime).
func groupCommit(f *os.File, ring int64, interval time.Duration, turn *sync.Mutex, seqs <-chan uint64, recordBytes int, stalls *stallLog, done func(last uint64, err error)) {
	var buf []byte
	var off int64
	var lastSync time.Time
	for s := range seqs {
		if wait := interval - time.Since(lastSync); interval > 0 && wait > 0 {
			time.Sleep(wait)
		}
		n, last := 1, s
	take:
		for {
			select {
			case s, ok := <-seqs:
				if !ok {
					break take
				}
				n, last = n+1, s
			default:
				break take
			}
		}
		if cap(buf) < n*recordBytes {
			buf = make([]byte, n*recordBytes)
		}
		var err error
		if turn != nil {
			turn.Lock()
		}
		if ring > 0 {
			if off+int64(n*recordBytes) > ring {
				off = 0
			}
			_, err = f.WriteAt(buf[:n*recordBytes], off)
			off += int64(n * recordBytes)
		} else {
			_, err = f.Write(buf[:n*recordBytes])
		}
		if err == nil {
			t0 := time.Now()
			lastSync = t0
			if ring > 0 {
				err = wal.Fdatasync(f)
			} else {
				err = f.Sync()
			}
			stalls.add(t0, time.Now())
		}
		if turn != nil {
			turn.Unlock()
		}
		done(last, err)
	}
}

// floorQuorum tracks, per log, the last write it made durable (each log
// makes writes durable in order).
type floorQuorum struct {
	mu     sync.Mutex
	cond   sync.Cond
	last   []uint64
	quorum int
	err    error

	// Open loop only (open): each write's due time, from write
	// firstDue on, and the latency of each write a quorum made durable.
	hist      *hdr.Histogram
	dueTimes  []time.Time
	firstDue  uint64 // the write dueTimes[0] is for
	committed uint64 // every write up to here is durable on a quorum
}

// open makes q record, into h, each write's latency from its due time
// (the writes' seqs must come from due, in order).
func (q *floorQuorum) open(h *hdr.Histogram) {
	q.mu.Lock()
	q.hist, q.firstDue = h, 1
	q.mu.Unlock()
}

// due numbers the next write of an open loop and notes when it was due.
func (q *floorQuorum) due(t time.Time) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dueTimes = append(q.dueTimes, t)
	return q.firstDue + uint64(len(q.dueTimes)) - 1
}

// quorumLast is the last write a quorum of logs has made durable.
func (q *floorQuorum) quorumLast() uint64 {
	var buf [15]uint64 // at most 15 logs
	l := append(buf[:0], q.last...)
	slices.Sort(l)
	return l[len(l)-q.quorum]
}

func newFloorQuorum(files, quorum int) *floorQuorum {
	q := &floorQuorum{last: make([]uint64, files), quorum: quorum}
	q.cond.L = &q.mu
	return q
}

func (q *floorQuorum) durable(i int, last uint64, err error) {
	q.mu.Lock()
	q.err = errors.Join(q.err, err)
	q.last[i] = last
	if q.hist != nil && err == nil {
		if c := q.quorumLast(); c > q.committed {
			now := time.Now()
			for s := q.committed + 1; s <= c; s++ {
				recordUs(q.hist, now.Sub(q.dueTimes[s-q.firstDue]))
			}
			q.committed = c
			// Forget the due times of durable writes, in chunks.
			if drop := int(c - q.firstDue + 1); drop >= 4096 && drop*2 >= len(q.dueTimes) {
				q.dueTimes = append(q.dueTimes[:0], q.dueTimes[drop:]...)
				q.firstDue += uint64(drop)
			}
		}
	}
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *floorQuorum) failed() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// wait returns once a quorum of logs made write s durable, or a log
// failed, or ctx ended.
func (q *floorQuorum) wait(ctx context.Context, s uint64) error {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock() // the waiter is before its check or in Wait, not between
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.err != nil {
			return q.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		for _, l := range q.last {
			if l >= s {
				n++
			}
		}
		if n >= q.quorum {
			return nil
		}
		q.cond.Wait()
	}
}

// fillZeros writes n zero bytes to f from its start and fsyncs it, so
// later writes within them overwrite allocated, written blocks.
func fillZeros(f *os.File, n int) error {
	zeros := make([]byte, 1<<20)
	for off := 0; off < n; off += len(zeros) {
		if _, err := f.WriteAt(zeros[:min(len(zeros), n-off)], int64(off)); err != nil {
			return err
		}
	}
	return f.Sync()
}
