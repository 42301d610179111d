package maelstrom

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// Process-level fault injection for chaos runs, switched on only by
// Options.TestFaults (raft-maelstrom --test-faults, which the chaos
// harness passes when it runs disk or clock faults). The harness then
// sends lines whose body type is FaultMessageType:
//
//	{"type":"raftbench_fault","fault":"disk","mode":"eio"|"enospc"|"slow"|"ok"}
//	{"type":"raftbench_fault","fault":"clock","mode":"jump","offset_ms":N}
//	{"type":"raftbench_fault","fault":"clock","mode":"drift","rate":R}
//	{"type":"raftbench_fault","fault":"clock","mode":"ok"}
//
// Disk faults go through the WAL's file system seam (wal/errorfs): eio
// fails every later write and fsync, enospc every later write, slow adds
// 20 ms to each; the WAL then fails and the node stops itself, and
// OnStorageFailure (the command exits) is called. Clock faults go
// through the node's injectable clock: a jump moves Now by offset_ms, a
// drift makes ticks run at rate × real time. No reply is sent.

// FaultMessageType is the body type of a fault-injection line.
const FaultMessageType = "raftbench_fault"

type faultBody struct {
	Fault    string  `json:"fault"`
	Mode     string  `json:"mode"`
	OffsetMs int64   `json:"offset_ms"`
	Rate     float64 `json:"rate"`
}

// testFaults is the injectable disk and clock of one node.
type testFaults struct {
	disk  *errorfs.FS
	clock *faultClock
}

func newTestFaults() *testFaults {
	return &testFaults{disk: errorfs.New(), clock: newFaultClock()}
}

// apply applies one fault line's body.
func (f *testFaults) apply(raw json.RawMessage) error {
	var b faultBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	switch b.Fault + "/" + b.Mode {
	case "disk/eio":
		f.disk.Clear()
		f.disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpSync, Err: errorfs.EIO})
	case "disk/enospc":
		f.disk.Clear()
		f.disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpCreate, Err: errorfs.ENOSPC})
	case "disk/slow":
		f.disk.Clear()
		f.disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpSync, Delay: 20 * time.Millisecond})
	case "disk/ok":
		f.disk.Clear()
	case "clock/jump":
		f.clock.offset.Add(int64(time.Duration(b.OffsetMs) * time.Millisecond))
	case "clock/drift":
		if !(b.Rate > 0.1 && b.Rate < 10) || math.IsNaN(b.Rate) {
			return fmt.Errorf("drift rate %v outside (0.1, 10)", b.Rate)
		}
		f.clock.setRate(b.Rate)
	case "clock/ok":
		f.clock.offset.Store(0)
		f.clock.setRate(1)
	default:
		return fmt.Errorf("unknown fault %q mode %q", b.Fault, b.Mode)
	}
	return nil
}

// faultClock is a node.Clock whose Now can jump and whose tickers can
// run fast or slow.
type faultClock struct {
	offset atomic.Int64  // added to Now, nanoseconds
	rate   atomic.Uint64 // math.Float64bits of the tick rate
}

func newFaultClock() *faultClock {
	c := &faultClock{}
	c.setRate(1)
	return c
}

func (c *faultClock) setRate(r float64) { c.rate.Store(math.Float64bits(r)) }

func (c *faultClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *faultClock) AfterFunc(d time.Duration, f func()) node.Timer {
	return time.AfterFunc(d, f)
}

// NewTicker ticks every d/rate of real time, the rate read anew each
// period (drift), dropping ticks a slow reader misses as time.Ticker does.
func (c *faultClock) NewTicker(d time.Duration) node.Ticker {
	t := &driftTicker{ch: make(chan time.Time, 1), stop: make(chan struct{})}
	go func() {
		for {
			period := time.Duration(float64(d) / math.Float64frombits(c.rate.Load()))
			select {
			case <-t.stop:
				return
			case now := <-time.After(period):
				select {
				case t.ch <- now:
				default:
				}
			}
		}
	}()
	return t
}

type driftTicker struct {
	ch   chan time.Time
	stop chan struct{}
	once sync.Once
}

func (t *driftTicker) C() <-chan time.Time { return t.ch }
func (t *driftTicker) Stop()               { t.once.Do(func() { close(t.stop) }) }
