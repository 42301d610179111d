package kv

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/driver"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// answerClock notes, per client command, how long after its batch
// reached the Applier its answer was ready: at Applied (plainHooks), or
// at Settled when the hooks are also driver.SettleHooks.
type answerClock struct {
	start   time.Time
	answers int
	total   time.Duration
	settled map[uint64]bool
}

func (c *answerClock) answer(client uint64) {
	if c.settled[client] {
		return
	}
	c.settled[client] = true
	c.answers++
	c.total += time.Since(c.start)
}

type plainHooks struct{ c *answerClock }

func (h plainHooks) Applying(*raftpb.Entry) {}
func (h plainHooks) Applied(r *driver.Result) {
	if r.Kind == driver.Applied {
		h.c.answer(r.Client)
	}
}
func (h plainHooks) Restored(raftpb.SnapshotMeta) {}

type settlingHooks struct{ plainHooks }

func (h settlingHooks) Settled(r *driver.Result) { h.c.answer(r.Client) }

// BenchmarkSettleAnswerDelay applies batches of BATCH writes (random keys
// of a 100,000-key store, 128-byte values, one session per write as the
// cluster's clients use them) through the driver's Applier, as the
// runtime's apply goroutine does, and reports answer-us: the mean time
// from a batch reaching the Applier to a write's answer being ready —
// after its own apply (plain), or before any apply (settle: kv writes
// are blind). ns/op is per batch.
func BenchmarkSettleAnswerDelay(b *testing.B) {
	const keys, batch = 100_000, 34
	val := bytes.Repeat([]byte{1}, 128)
	key := []byte("k000000000000000")
	cmd := func(i int) []byte {
		copy(key[1:], fmt.Sprintf("%015d", i))
		return EncodeWrite(key, val)
	}
	for _, mode := range []string{"plain", "settle"} {
		b.Run(mode, func(b *testing.B) {
			s := NewStore()
			a, err := driver.NewApplier(driver.ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: s})
			if err != nil {
				b.Fatal(err)
			}
			index, x := uint64(0), uint64(88172645463325252)
			next := func(client uint64) raftpb.Entry {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				index++
				return raftpb.Entry{Index: index, Term: 1, Data: append(driver.AppendHeader(nil, client, index), cmd(int(x%keys))...)}
			}
			for i := 0; i < keys; i += batch {
				bt := driver.Batch{}
				for j := range batch {
					bt.Entries = append(bt.Entries, next(uint64(j+1)))
				}
				if err := a.Apply(&bt, plainHooks{&answerClock{settled: map[uint64]bool{}}}); err != nil {
					b.Fatal(err)
				}
			}
			c := &answerClock{settled: map[uint64]bool{}}
			var h driver.Hooks = plainHooks{c}
			if mode == "settle" {
				h = settlingHooks{plainHooks{c}}
			}
			bt := driver.Batch{Entries: make([]raftpb.Entry, batch)}
			for b.Loop() {
				b.StopTimer()
				for j := range bt.Entries {
					bt.Entries[j] = next(uint64(j + 1))
				}
				clear(c.settled)
				b.StartTimer()
				c.start = time.Now()
				if err := a.Apply(&bt, h); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(c.total.Seconds()*1e6/float64(max(1, c.answers)), "answer-us")
		})
	}
}
