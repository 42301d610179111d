package peerutil

import (
	"context"
	"fmt"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// ReadFunc serves an encoded kv query (kv.EncodeRead's encoding, in
// bytes from bench.CommandBytes) linearizably and returns the encoded kv
// result.
type ReadFunc func(ctx context.Context, query []byte) ([]byte, error)

// WriteFunc replicates a kv command and returns the encoded kv result of
// applying it. It takes the command unencoded so a backend can frame it
// (for example behind a request id) without copying it; it encodes it
// with bench.EncodeCommand, as every target's harness side does.
type WriteFunc func(ctx context.Context, cmd kv.Command) ([]byte, error)

// Do implements bench.Target.Do on top of a backend's read and write
// paths: reads go to read, writes and cas to write, and the kv result is
// decoded. A missing key or cas mismatch is a Result; an error means the
// backend could not say whether the operation happened.
func Do(ctx context.Context, system string, req bench.Request, read ReadFunc, write WriteFunc) (kv.Result, error) {
	var res []byte
	var err error
	switch req.Op {
	case kv.OpRead:
		res, err = read(ctx, bench.EncodeCommand(0, kv.Command{Op: kv.OpRead, Key: req.Key}))
	case kv.OpWrite:
		res, err = write(ctx, kv.Command{Op: kv.OpWrite, Key: req.Key, Value: req.Value})
	case kv.OpCas:
		res, err = write(ctx, kv.Command{Op: kv.OpCas, Key: req.Key, From: req.From, Value: req.Value})
	default:
		return kv.Result{}, fmt.Errorf("%s: unknown op %v", system, req.Op)
	}
	if err != nil {
		return kv.Result{}, err
	}
	return kv.DecodeResult(res)
}

// pollInterval is how often PollLeader asks again while there is no
// leader: short beside any election timeout, long beside a scan of at
// most a few nodes.
const pollInterval = time.Millisecond

// PollLeader returns what find reports as the current leader, asking
// again every pollInterval. It gives up with an error once wait has
// passed, with ctx's error when ctx ends, with closed once stop is
// closed, and with find's error as soon as find returns one (a target
// that has failed).
func PollLeader[N any](ctx context.Context, stop <-chan struct{}, closed error, system string,
	wait time.Duration, find func() (N, bool, error)) (N, error) {
	var zero N
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-stop:
			return zero, closed
		default:
		}
		n, ok, err := find()
		if err != nil {
			return zero, err
		}
		if ok {
			return n, nil
		}
		if time.Now().After(deadline) {
			return zero, fmt.Errorf("%s: no leader for %v", system, wait)
		}
		if err := Sleep(ctx, stop, closed, pollInterval); err != nil {
			return zero, err
		}
	}
}

// Sleep pauses for d; it returns ctx's error if ctx ends first and
// closed if stop is closed first.
func Sleep(ctx context.Context, stop <-chan struct{}, closed error, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return closed
	case <-timer.C:
		return nil
	}
}
