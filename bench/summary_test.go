package bench

import "testing"

// logCycleOver averages each part of the cycle over the group commits
// between two samples, and says nothing where no commit was made or
// none was timed (fsync off).
func TestLogCycleOver(t *testing.T) {
	from := LogCycle{Flushes: 10, IdleNanos: 1e6, LingerNanos: 2e6, WriteNanos: 3e5, FsyncNanos: 4e6}
	to := LogCycle{Flushes: 110, IdleNanos: 1e6 + 4.5e6, LingerNanos: 2e6 + 15.6e6, WriteNanos: 3e5 + 1.1e6, FsyncNanos: 4e6 + 39.2e6}
	c := logCycleOver(from, to)
	if c == nil || c.Idle != 45 || c.Linger != 156 || c.Write != 11 || c.Fsync != 392 {
		t.Fatalf("cycle %+v, want idle 45, linger 156, write 11, fsync 392 µs", c)
	}
	if c := logCycleOver(to, to); c != nil {
		t.Errorf("no commit between the samples: %+v, want nil", c)
	}
	untimed := to
	untimed.FsyncNanos = from.FsyncNanos
	if c := logCycleOver(from, untimed); c != nil {
		t.Errorf("no fsync timed (fsync off): %+v, want nil", c)
	}
}
