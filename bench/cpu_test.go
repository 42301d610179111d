package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// A window's CPU time divides over its operations, user and kernel
// apart; without operations or CPU time there is no figure.
func TestCPUPerOp(t *testing.T) {
	c := CPUTimes{User: 3 * time.Millisecond, Kernel: time.Millisecond}.Sub(CPUTimes{User: time.Millisecond})
	if got := cpuPerOp(c, 1000); got == nil || *got != (CPUPerOp{User: 2, Kernel: 1}) {
		t.Fatalf("2 ms user and 1 ms kernel over 1000 ops: %+v, want 2 and 1 µs", got)
	}
	if cpuPerOp(c, 0) != nil || cpuPerOp(CPUTimes{}, 10) != nil {
		t.Fatal("a figure without operations or without CPU time")
	}
}

// ProcessCPU puts a busy loop's time in User and system calls' time in
// Kernel (where the platform reports it).
func TestProcessCPUSplit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the split is checked where getrusage is known to account it (Linux)")
	}
	start, ok := ProcessCPU()
	if !ok {
		t.Fatal("ProcessCPU unknown on Linux")
	}
	grew := func(part func(CPUTimes) time.Duration, work func()) bool {
		from, _ := ProcessCPU()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			work()
			if now, _ := ProcessCPU(); part(now) > part(from) {
				return true
			}
		}
		return false
	}
	sink := 0
	if !grew(func(c CPUTimes) time.Duration { return c.User }, func() {
		for i := 0; i < 1e6; i++ {
			sink += i * i
		}
	}) {
		t.Fatal("a busy loop added no user time")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1)
	if !grew(func(c CPUTimes) time.Duration { return c.Kernel }, func() {
		for i := 0; i < 1000; i++ {
			_, _ = f.Read(buf)
			_, _ = f.Stat()
		}
	}) {
		t.Fatal("system calls added no kernel time")
	}
	if end, _ := ProcessCPU(); end.Sub(start).Total() <= 0 || sink == -1 {
		t.Fatalf("CPU time went from %+v to %+v", start, end)
	}
}
