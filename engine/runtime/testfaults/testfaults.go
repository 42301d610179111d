package testfaults

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/node"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// A fault command (the JSON the harness sends):
//
//	{"fault":"disk","mode":"eio"|"enospc"|"slow"|"ok"}
//	{"fault":"clock","mode":"jump","offset_ms":N}
//	{"fault":"clock","mode":"drift","rate":R}
//	{"fault":"clock","mode":"ok"}
//
// Disk faults go through the WAL's file system seam: eio fails every
// later write and fsync, enospc every later write and file creation, slow
// adds SlowDiskDelay to each write and fsync; a WAL that fails stops its
// node. Clock faults go through the node's clock: a jump moves Now by
// offset_ms; a drift makes the clock run at rate × real time from now on
// (Now and the tickers both: a slow clock ticks slowly and its reading
// falls behind); ok puts the clock right again.
type Command struct {
	Fault    string  `json:"fault"`
	Mode     string  `json:"mode"`
	OffsetMs int64   `json:"offset_ms,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
}

// SlowDiskDelay is what the slow disk adds to every write and fsync.
const SlowDiskDelay = 20 * time.Millisecond

// Faults is the injectable disk and clock of one node: give Disk to
// wal.Options.FS and Clock to node.Config.Clock.
type Faults struct {
	Disk  *errorfs.FS
	Clock *Clock
}

// New returns a healthy disk and a correct clock.
func New() *Faults { return &Faults{Disk: errorfs.New(), Clock: NewClock()} }

// ApplyJSON decodes and applies one command.
func (f *Faults) ApplyJSON(raw []byte) error {
	var c Command
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("fault command: %w", err)
	}
	return f.Apply(c)
}

// Apply applies one command; an unknown one is an error and changes
// nothing.
func (f *Faults) Apply(c Command) error {
	switch c.Fault + "/" + c.Mode {
	case "disk/eio":
		f.Disk.Clear()
		f.Disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpSync, Err: errorfs.EIO})
	case "disk/enospc":
		f.Disk.Clear()
		f.Disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpCreate, Err: errorfs.ENOSPC})
	case "disk/slow":
		f.Disk.Clear()
		f.Disk.Inject(errorfs.Rule{Op: errorfs.OpWrite | errorfs.OpSync, Delay: SlowDiskDelay})
	case "disk/ok":
		f.Disk.Clear()
	case "clock/jump":
		f.Clock.Jump(time.Duration(c.OffsetMs) * time.Millisecond)
	case "clock/drift":
		if !(c.Rate >= MinRate && c.Rate <= MaxRate) {
			return fmt.Errorf("fault command: drift rate %v outside [%v, %v]", c.Rate, MinRate, MaxRate)
		}
		f.Clock.SetRate(c.Rate)
	case "clock/ok":
		f.Clock.Reset()
	default:
		return fmt.Errorf("fault command: unknown fault %q mode %q", c.Fault, c.Mode)
	}
	return nil
}

// Drift rates accepted by a clock command.
const (
	MinRate = 0.01
	MaxRate = 10
)

// Clock is a node.Clock whose reading can jump and whose rate can drift.
// Its reading is anchor + rate × (real time since the anchor) + offset;
// a rate change re-anchors, so the reading never jumps on a drift.
type Clock struct {
	mu         sync.Mutex
	anchorReal time.Time // real time of the last rate change
	anchorRead time.Time // the clock's reading then (without offset)
	rate       float64
	offset     time.Duration
}

// NewClock returns a clock that reads the real time.
func NewClock() *Clock {
	now := time.Now()
	return &Clock{anchorReal: now, anchorRead: now, rate: 1}
}

// Now is the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readLocked(time.Now()).Add(c.offset)
}

func (c *Clock) readLocked(real time.Time) time.Time {
	return c.anchorRead.Add(time.Duration(float64(real.Sub(c.anchorReal)) * c.rate))
}

// Jump moves the reading by d (negative: backwards).
func (c *Clock) Jump(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// SetRate makes the clock run at r × real time from now on.
func (c *Clock) SetRate(r float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.anchorRead, c.anchorReal, c.rate = c.readLocked(now), now, r
}

// Rate is the current rate.
func (c *Clock) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// Reset puts the clock right: real time, rate 1.
func (c *Clock) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.anchorReal, c.anchorRead, c.rate, c.offset = now, now, 1, 0
}

// AfterFunc runs f after d of real time (timers bound real work: request
// deadlines, not protocol time).
func (c *Clock) AfterFunc(d time.Duration, f func()) node.Timer { return time.AfterFunc(d, f) }

// NewTicker ticks every d of the clock's time (d/rate of real time, the
// rate read anew each period), dropping ticks a slow reader misses as
// time.Ticker does.
func (c *Clock) NewTicker(d time.Duration) node.Ticker {
	t := &ticker{ch: make(chan time.Time, 1), stop: make(chan struct{})}
	go func() {
		for {
			period := time.Duration(float64(d) / c.Rate())
			timer := time.NewTimer(period)
			select {
			case <-t.stop:
				timer.Stop()
				return
			case now := <-timer.C:
				select {
				case t.ch <- now:
				default:
				}
			}
		}
	}()
	return t
}

type ticker struct {
	ch   chan time.Time
	stop chan struct{}
	once sync.Once
}

func (t *ticker) C() <-chan time.Time { return t.ch }
func (t *ticker) Stop()               { t.once.Do(func() { close(t.stop) }) }

var _ node.Clock = (*Clock)(nil)
