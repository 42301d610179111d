package engine

import (
	"fmt"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// contiguousLog is the log as it was before blocks, kept here to compare
// against in the same benchmark run: one slice, regrown by doubling, and
// copied into a fresh array of max(cap, 2*rest) at each compaction.
type contiguousLog struct {
	offset uint64
	ents   []raftpb.Entry
}

func (l *contiguousLog) append(ents ...raftpb.Entry) { l.ents = append(l.ents, ents...) }

func (l *contiguousLog) compact(index uint64) {
	rest := l.ents[index-l.offset:]
	l.ents = append(make([]raftpb.Entry, 0, max(cap(l.ents), 2*len(rest))), rest...)
	l.offset = index
}

// BenchmarkLogAppendCompact is a follower's log under a steady write
// load: entries arrive in batches of 64, and each time the log holds
// keep+every entries past its snapshot it is compacted down to keep (a
// snapshot every `every` entries, written while `keep` more arrive). keep
// 150k is the 1M-key case (a snapshot takes seconds), 2k the 10k-key
// case. One op is one entry appended; B/op and allocs/op are per entry.
func BenchmarkLogAppendCompact(b *testing.B) {
	data := make([]byte, 128)
	batch := make([]raftpb.Entry, 64)
	for _, keep := range []int{2_000, 150_000} {
		const every = 100_000
		b.Run(fmt.Sprintf("contiguous/keep=%d", keep), func(b *testing.B) {
			var l contiguousLog
			b.ReportAllocs()
			next := uint64(1)
			for i := 0; i < b.N; i += len(batch) {
				for j := range batch {
					batch[j] = raftpb.Entry{Term: 1, Index: next, Data: data}
					next++
				}
				l.append(batch...)
				if len(l.ents) >= keep+every {
					l.compact(next - 1 - uint64(keep))
				}
			}
		})
		b.Run(fmt.Sprintf("blocks/keep=%d", keep), func(b *testing.B) {
			var l raftLog
			b.ReportAllocs()
			next := uint64(1)
			for i := 0; i < b.N; i += len(batch) {
				for j := range batch {
					batch[j] = raftpb.Entry{Term: 1, Index: next, Data: data}
					next++
				}
				l.append(batch...)
				if l.last-l.offset >= uint64(keep+every) {
					l.compact(next-1-uint64(keep), 1)
				}
			}
		})
	}
}
