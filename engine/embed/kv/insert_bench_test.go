package kv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkInsertWorstWrite writes KV_KEYS (default 1,000,000) new keys
// (16-byte keys, 128-byte values) into an empty store and reports the
// slowest single write (max-ns) beside the mean: with a growth that
// rehashes the whole index at once, the slowest write is that growth.
// Uses only the exported API, so it runs on older trees too (an A/B).
func BenchmarkInsertWorstWrite(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("KV_KEYS")); err == nil && v > 0 {
		n = v
	}
	val := bytes.Repeat([]byte{1}, 128)
	cmds := make([][]byte, n)
	for i := range cmds {
		cmds[i] = EncodeWrite([]byte(fmt.Sprintf("k%015d", i)), val)
	}
	var worst time.Duration
	for b.Loop() {
		s := NewStore()
		for _, c := range cmds {
			start := time.Now()
			s.Apply(c)
			worst = max(worst, time.Since(start))
		}
	}
	b.ReportMetric(float64(worst.Nanoseconds()), "max-ns")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/write")
}
