package engine

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// benchCluster drives three cores in memory with instant persistence: it
// measures the core alone (no disk, no network, no goroutines).
type benchCluster struct {
	cores   [4]*Core // index by ID 1..3
	queue   []raftpb.Message
	next    []raftpb.Message
	applied [4]uint64
}

func newBenchCluster(b *testing.B) *benchCluster {
	bc := &benchCluster{}
	for id := uint64(1); id <= 3; id++ {
		c, err := New(Config{ID: id, Voters: []uint64{1, 2, 3}, Seed: 1, PreVote: true, CheckQuorum: true})
		if err != nil {
			b.Fatal(err)
		}
		bc.cores[id] = c
	}
	c := bc.cores[1]
	for c.Role() != Leader {
		c.Tick()
		bc.round()
	}
	for i := 0; i < 3; i++ {
		bc.round()
	}
	return bc
}

// drainReadies takes every pending Ready, persisting at once (the
// benchmark has no disk) and queueing the messages it carries.
func (bc *benchCluster) drainReadies() {
	for id := 1; id <= 3; id++ {
		c := bc.cores[id]
		for c.HasReady() {
			rd := c.Ready()
			c.Advance(rd)
			bc.queue = append(bc.queue, rd.Messages...)
			if n := len(rd.Entries); n > 0 {
				c.Persisted(rd.Entries[n-1].Index, rd.Entries[n-1].Term)
			}
			bc.queue = append(bc.queue, rd.MessagesAfterPersist...)
			if n := len(rd.CommittedEntries); n > 0 {
				bc.applied[id] = rd.CommittedEntries[n-1].Index
			}
		}
	}
}

// round processes every Ready and delivers the resulting messages.
func (bc *benchCluster) round() {
	bc.drainReadies()
	for len(bc.queue) > 0 {
		bc.queue, bc.next = bc.next[:0], bc.queue
		for i := range bc.next {
			m := bc.next[i]
			bc.next[i] = raftpb.Message{} // drop references for the GC
			if err := bc.cores[m.To].Step(m); err != nil {
				panic(err)
			}
		}
		bc.drainReadies()
	}
}

// compact keeps memory bounded on long runs, as a real node would.
func (bc *benchCluster) compact() {
	for id := 1; id <= 3; id++ {
		c := bc.cores[id]
		idx := c.log.applied
		if idx <= c.log.offset {
			continue
		}
		t, _ := c.log.term(idx)
		if err := c.Compact(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: idx, Term: t}}); err != nil {
			panic(err)
		}
	}
}

// BenchmarkCluster3 measures committed entries per second of a 3-node
// cluster of cores in memory, for proposals of 1 and 64 entries (128-byte
// payloads). One op is one Propose call plus the round that commits it.
func BenchmarkCluster3(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", batch), func(b *testing.B) {
			bc := newBenchCluster(b)
			leader := bc.cores[1]
			payload := make([]byte, 128)
			data := make([][]byte, batch)
			for i := range data {
				data[i] = payload
			}
			start := leader.log.committed
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := leader.Propose(data...); err != nil {
					b.Fatal(err)
				}
				bc.round()
				if i%256 == 255 {
					bc.compact()
				}
			}
			bc.round()
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			committed := float64(leader.log.committed - start)
			if committed < float64(b.N*batch) {
				b.Fatalf("committed %v of %d entries", committed, b.N*batch)
			}
			b.ReportMetric(committed/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/committed, "allocs/entry")
		})
	}
}

// BenchmarkCluster3Pipelined is BenchmarkCluster3 with a pipelined
// leader, as under many clients: 16 single-entry proposals, each taken
// in its own leader Ready (its own AppendEntries to each follower)
// before the followers run, so each follower handles 16 AppendEntries
// in one turn. One op is the 16 proposals and the round that commits
// them.
func BenchmarkCluster3Pipelined(b *testing.B) {
	const proposals = 16
	bc := newBenchCluster(b)
	leader := bc.cores[1]
	payload := make([]byte, 128)
	start := leader.log.committed
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := 0; k < proposals; k++ {
			if err := leader.Propose(payload); err != nil {
				b.Fatal(err)
			}
			bc.drainReadies() // the leader's Ready; nothing is delivered yet
		}
		bc.round()
		if i%16 == 15 {
			bc.compact()
		}
	}
	b.StopTimer()
	if got := leader.log.committed - start; got < uint64(b.N*proposals) {
		b.Fatalf("committed %d of %d entries", got, b.N*proposals)
	}
}
