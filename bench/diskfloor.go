package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// DiskFloor is what the disk alone allows one client's replicated write:
// the time for Quorum of Nodes logs on this disk to make one record
// durable when they append it at once. With only the quorum's logs
// writing (Files == Quorum) it is a lower bound for any fsync-on Raft
// implementation with every replica's log on this disk (an in-process
// cluster, as compare runs), whatever its code: each write needs a
// quorum of fsyncs. With every replica's log writing (Files == Nodes;
// a log that falls behind writes and fsyncs its backlog at once, like
// a group commit) it is the floor for the usual design, in which every
// replica fsyncs each write as soon as it has it: the extra fsyncs
// share the disk.
type DiskFloor struct {
	Nodes       int     `json:"nodes"`
	Quorum      int     `json:"quorum"`
	Files       int     `json:"files"`
	RecordBytes int     `json:"record_bytes"`
	Rounds      int     `json:"rounds"`
	DurationS   float64 `json:"duration_s"`
	MeanUs      float64 `json:"mean_us"`
	P50Us       float64 `json:"p50_us"`
	P99Us       float64 `json:"p99_us"`
	// WritesPerSec is 1e6/MeanUs: the most writes one client can
	// complete per second on this disk.
	WritesPerSec float64 `json:"writes_per_s"`
}

// MeasureQuorumFloor measures DiskFloor for d in a fresh directory under
// dir (removed afterwards). Each round appends recordBytes to the files
// (quorum of them, or all nodes when everyReplica), one goroutine per
// file doing write+fsync, and ends when a quorum of them are durable;
// the rest keep going, and a file that lags writes everything it is
// behind with one write and one fsync.
func MeasureQuorumFloor(ctx context.Context, dir string, nodes, recordBytes int, everyReplica bool, d time.Duration) (*DiskFloor, error) {
	switch {
	case nodes < 1 || nodes > 15:
		return nil, fmt.Errorf("disk floor: nodes %d out of range 1..15", nodes)
	case recordBytes < 1 || recordBytes > 1<<20:
		return nil, fmt.Errorf("disk floor: record bytes %d out of range 1..1048576", recordBytes)
	case d <= 0:
		return nil, fmt.Errorf("disk floor: duration %v must be positive", d)
	}
	tmp, err := os.MkdirTemp(dir, "disk-floor-")
	if err != nil {
		return nil, fmt.Errorf("disk floor: %w", err)
	}
	defer os.RemoveAll(tmp)
	quorum := nodes/2 + 1
	files := quorum
	if everyReplica {
		files = nodes
	}
	q := &floorQuorum{durable: make([]atomic.Uint64, files), wake: make(chan struct{}, 1)}
	rounds := make([]chan struct{}, files)
	var wg sync.WaitGroup
	for i := range rounds {
		f, err := os.Create(filepath.Join(tmp, fmt.Sprintf("log%d", i)))
		if err != nil {
			for _, r := range rounds[:i] {
				close(r)
			}
			wg.Wait()
			return nil, fmt.Errorf("disk floor: %w", err)
		}
		rounds[i] = make(chan struct{}, 1<<12)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			appendRounds(f, rounds[i], recordBytes, func(n int, err error) { q.done(i, n, err) })
		}()
	}
	h := newHist()
	start := time.Now()
	end := start.Add(d)
	var runErr error
	k := uint64(0)
	for time.Now().Before(end) && ctx.Err() == nil && runErr == nil {
		k++
		t0 := time.Now()
		for _, r := range rounds {
			r <- struct{}{}
		}
		runErr = q.wait(ctx, k, quorum)
		recordUs(h, time.Since(t0))
	}
	elapsed := time.Since(start)
	for _, r := range rounds {
		close(r)
	}
	wg.Wait()
	if runErr == nil {
		runErr = q.failed()
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	if runErr != nil {
		return nil, fmt.Errorf("disk floor: %w", runErr)
	}
	mean := h.Mean()
	return &DiskFloor{
		Nodes: nodes, Quorum: quorum, Files: files, RecordBytes: recordBytes, Rounds: int(h.TotalCount()),
		DurationS: elapsed.Seconds(), MeanUs: mean,
		P50Us: float64(h.ValueAtQuantile(50)), P99Us: float64(h.ValueAtQuantile(99)),
		WritesPerSec: 1e6 / mean,
	}, nil
}

// appendRounds makes each round durable in f: it takes every round
// queued, writes their records with one write, fsyncs, and reports how
// many rounds that covered.
func appendRounds(f *os.File, rounds <-chan struct{}, recordBytes int, done func(n int, err error)) {
	var buf []byte
	for range rounds {
		n := 1
	drain:
		for {
			select {
			case _, ok := <-rounds:
				if !ok {
					break drain
				}
				n++
			default:
				break drain
			}
		}
		if cap(buf) < n*recordBytes {
			buf = make([]byte, n*recordBytes)
		}
		_, err := f.Write(buf[:n*recordBytes])
		if err == nil {
			err = f.Sync()
		}
		done(n, err)
	}
}

// floorQuorum counts, per log, how many rounds are durable (each log
// completes its rounds in order).
type floorQuorum struct {
	durable []atomic.Uint64
	wake    chan struct{}
	mu      sync.Mutex
	err     error
}

func (q *floorQuorum) done(i, rounds int, err error) {
	if err != nil {
		q.mu.Lock()
		q.err = errors.Join(q.err, err)
		q.mu.Unlock()
	}
	q.durable[i].Add(uint64(rounds))
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *floorQuorum) failed() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// wait returns once quorum logs have made round k durable.
func (q *floorQuorum) wait(ctx context.Context, k uint64, quorum int) error {
	for {
		n := 0
		for i := range q.durable {
			if q.durable[i].Load() >= k {
				n++
			}
		}
		if n >= quorum {
			return q.failed()
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
