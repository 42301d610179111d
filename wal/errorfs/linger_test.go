package errorfs_test

import (
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/wal"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// On a disk whose fsyncs take far longer than the commit delay, a linger
// nobody feeds lasts the configured share of the log's recent fsync time
// (Options.MaxCommitDelayFsyncShare), and with the share turned off only
// the commit delay. Only lower bounds are timed, plus one upper bound with
// a margin of nine commit delays.
func TestLingerFollowsSlowFsyncs(t *testing.T) {
	const (
		fsync = 20 * time.Millisecond
		delay = time.Millisecond
	)
	for _, share := range []float64{0.75, -1} {
		efs := errorfs.New()
		// Blocking fsyncs: through the io_uring they would bypass the
		// file system under test.
		w := openWith(t, t.TempDir(), wal.Options{FS: efs, MaxCommitDelay: delay,
			MaxCommitDelayFsyncShare: share, BlockingFsync: true})
		efs.Inject(errorfs.Rule{Op: errorfs.OpSync, Delay: fsync})
		// Twenty-four commits of one record: the moving mean of the
		// fsyncs reaches 96% of them; a lone record never lingers.
		next := uint64(1)
		for ; next <= 24; next++ {
			if err := w.Append([]raftpb.Entry{entry(next)}); err != nil {
				t.Fatal(err)
			}
		}
		// A commit of one, behind it a commit of two (queued during the
		// first's fsync), behind that one record: the flusher lingers
		// for a second one that never comes.
		var wg sync.WaitGroup
		submit := func(then func()) {
			t.Helper()
			wg.Add(1)
			i := next
			next++
			err := w.Submit(wal.Write{Entries: []raftpb.Entry{entry(i)}}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				if then != nil {
					then()
				}
				wg.Done()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// The first commit's fsync is held until the two behind it are
		// queued, so they make one commit of two however late this
		// goroutine runs on a busy machine.
		held := make(chan struct{})
		efs.Clear()
		efs.Inject(errorfs.Rule{Op: errorfs.OpSync, Delay: fsync, Hold: held, Times: 1})
		efs.Inject(errorfs.Rule{Op: errorfs.OpSync, Delay: fsync})
		before := w.Stats()
		delayed := efs.Stats().Delayed
		submit(nil)
		for deadline := time.Now().Add(10 * time.Second); efs.Stats().Delayed == delayed; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatal("the first commit never reached its fsync")
			}
		}
		submit(func() { submit(nil) }) // queued once the commit of two is durable
		submit(nil)
		close(held)
		wg.Wait()
		after := w.Stats()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		lingers, ranOut := after.Lingers-before.Lingers, after.LingersRunOut-before.LingersRunOut
		took := time.Duration(after.LingerNanos - before.LingerNanos)
		if lingers != 1 || ranOut != 1 {
			t.Fatalf("share %v: %d lingers, %d ran out; want 1 and 1", share, lingers, ranOut)
		}
		if share > 0 {
			if want := time.Duration(0.9 * share * float64(fsync) * 0.96); took < want {
				t.Errorf("share %v: lingered %v with fsyncs of %v; want at least %v", share, took, fsync, want)
			}
		} else if took < delay || took >= 10*delay {
			t.Errorf("share off: lingered %v; want the commit delay %v (less than %v)", took, delay, 10*delay)
		}
	}
}
