package bench

import (
	"runtime"
	"testing"
	"time"
)

// ReadGCWork counts what this process allocates and collects, and
// gcSummary turns a window of it into per-operation figures.
func TestGCWork(t *testing.T) {
	before, ok := ReadGCWork()
	if !ok {
		t.Fatal("this Go runtime lacks a metric ReadGCWork reads")
	}
	var keep [][]byte
	for range 1000 {
		keep = append(keep, make([]byte, 1024))
	}
	runtime.KeepAlive(keep)
	runtime.GC()
	after, _ := ReadGCWork()
	w := after.Sub(before)
	if w.AllocBytes < 1000*1024 || w.Cycles < 1 {
		t.Fatalf("after 1 MiB allocated and a collection: %+v", w)
	}
	s := gcSummary(GCWork{AllocBytes: 4000, Cycles: 2, GC: 10 * time.Millisecond, Assist: 4 * time.Millisecond, User: 90 * time.Millisecond}, 10, 4*time.Second)
	if s.AllocBytesPerOp != 400 || s.Cycles != 2 || s.CyclesPerSec != 0.5 || s.CPUShare != 0.1 || s.AssistShare != 0.04 {
		t.Fatalf("gcSummary: %+v", s)
	}
	if gcSummary(w, 0, time.Second) != nil {
		t.Fatal("a window without operations has no per-operation figures")
	}
}
