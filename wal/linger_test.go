package wal

import (
	"math"
	"sync"
	"testing"
	"time"
)

// commitThen makes the flusher commit the n writes from+1..from+n
// together (queued behind the write from, which holds the flusher), and
// submits the next k writes from the last one's done callback, so the
// flusher's next take finds exactly k queued after a commit of n. It
// returns the Stats taken once the holding write was committed (a
// linger before it is not the one under test) and the next free index.
func commitThen(t *testing.T, w *WAL, from uint64, n, k int) (Stats, uint64) {
	t.Helper()
	return commitSizesThen(t, w, from, ones(n), ones(k))
}

// commitSizesThen is commitThen with writes of several entries: the
// committed writes carry committed[i] entries each, the queued ones
// queued[j].
func commitSizesThen(t *testing.T, w *WAL, from uint64, committed, queued []int) (Stats, uint64) {
	t.Helper()
	release := blockFlusher(t, w, from)
	before := w.Stats()
	var wg sync.WaitGroup
	wg.Add(len(committed) + len(queued))
	done := func(err error) {
		if err != nil {
			t.Error(err)
		}
		wg.Done()
	}
	next := from + 1
	for i, size := range committed {
		cb := done
		if i == len(committed)-1 {
			at := next + uint64(size)
			cb = func(err error) {
				for _, qs := range queued {
					if err := w.Submit(Write{Entries: ents(at, at+uint64(qs)-1, 1)}, done); err != nil {
						t.Error(err)
						wg.Done()
					}
					at += uint64(qs)
				}
				done(err)
			}
		}
		if err := w.Submit(Write{Entries: ents(next, next+uint64(size)-1, 1)}, cb); err != nil {
			t.Fatal(err)
		}
		next += uint64(size)
	}
	release()
	wg.Wait()
	for _, qs := range queued {
		next += uint64(qs)
	}
	return before, next
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// The flusher lingers after a commit of n records while fewer than n are
// queued, and Stats counts each linger and each that ran to its delay
// (here all: nobody submits during them). It counts records (entries),
// not writes: a node hands its log one write per Ready, so the same
// commands arrive as one write one time and several the next. Counted in
// writes, four of the cases of several entries would go the other way:
// the first two would not linger (one write committed), nor the last
// (four writes queued after two), and the third would (one write queued
// after three).
func TestLingerCounts(t *testing.T) {
	w, err := Open(t.TempDir(), Options{MaxCommitDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := uint64(1)
	for _, c := range []struct {
		committed, queued []int
		linger            bool
	}{
		// Writes of one entry each.
		{committed: ones(3), queued: ones(2), linger: true},
		{committed: ones(4), queued: ones(3), linger: true},
		{committed: ones(2), queued: ones(1), linger: true},
		{committed: ones(8), queued: ones(8), linger: false}, // all back: nothing to wait for
		{committed: ones(2), queued: ones(3), linger: false},
		// Writes of several.
		{committed: []int{6}, queued: []int{2, 2}, linger: true},
		{committed: []int{6}, queued: []int{5}, linger: true},
		{committed: []int{1, 1, 1}, queued: []int{4}, linger: false},
		{committed: []int{2, 3}, queued: []int{3, 2}, linger: false},
		{committed: []int{2, 3}, queued: []int{1, 1, 1, 1}, linger: true},
	} {
		before, n := commitSizesThen(t, w, next, c.committed, c.queued)
		next = n
		st := w.Stats()
		lingers, ranOut := st.Lingers-before.Lingers, st.LingersRunOut-before.LingersRunOut
		want := uint64(0)
		if c.linger {
			want = 1
		}
		if lingers != want || ranOut != want {
			t.Errorf("writes of %v entries queued after a commit of %v: %d lingers, %d ran out; want %d and %d",
				c.queued, c.committed, lingers, ranOut, want, want)
		}
	}
	wantLog(t, w, 1, next-1, constTerm(1))
}

// A linger ends as soon as the writes it waits for are queued, not at
// its delay.
func TestLingerEndsOnTheCount(t *testing.T) {
	// A delay no test run reaches: the linger must end on the count.
	w, err := Open(t.TempDir(), Options{MaxCommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, next := commitThen(t, w, 1, 2, 0)
	const rounds = 5
	for r := range rounds {
		// The first write of a pair starts a linger (one of two
		// queued); the second, submitted once it lingers, ends it.
		var wg sync.WaitGroup
		wg.Add(2)
		done := func(err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		}
		if err := w.Submit(Write{Entries: ents(next, next, 1)}, done); err != nil {
			t.Fatal(err)
		}
		for w.Stats().Lingers != uint64(r+1) {
			time.Sleep(100 * time.Microsecond)
		}
		if err := w.Submit(Write{Entries: ents(next+1, next+1, 1)}, done); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		next += 2
	}
	if st := w.Stats(); st.Lingers != rounds || st.LingersRunOut != 0 {
		t.Fatalf("%d lingers, %d ran out; want %d and 0", st.Lingers, st.LingersRunOut, rounds)
	}
	wantLog(t, w, 1, next-1, constTerm(1))
}

// Stats splits the flusher's time between group commits: waiting with
// nothing queued (IdleNanos), lingering (LingerNanos) and writing the
// segments (WriteNanos), each at least as long as the test made it;
// with fsync off only the linger is timed.
func TestFlusherTimeSplit(t *testing.T) {
	for _, noFsync := range []bool{false, true} {
		const delay = 20 * time.Millisecond
		w, err := Open(t.TempDir(), Options{MaxCommitDelay: delay, UnsafeNoFsync: noFsync})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(ents(1, 1, 1)); err != nil {
			t.Fatal(err)
		}
		// Idle: nothing queued for at least 30 ms before the next write.
		before := w.Stats()
		const idle = 30 * time.Millisecond
		time.Sleep(idle)
		if err := w.Append(ents(2, 2, 1)); err != nil {
			t.Fatal(err)
		}
		mid := w.Stats()
		// A linger that runs out: one record queued after a commit of two.
		commitThen(t, w, 3, 2, 1)
		after := w.Stats()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if after.LingersRunOut-mid.LingersRunOut != 1 {
			t.Fatalf("fsync off %v: %d lingers ran out, want 1", noFsync, after.LingersRunOut-mid.LingersRunOut)
		}
		if got := time.Duration(after.LingerNanos - mid.LingerNanos); got < delay {
			t.Errorf("fsync off %v: %v lingering, want at least the run-out linger's %v", noFsync, got, delay)
		}
		if noFsync {
			if after.IdleNanos != 0 || after.WriteNanos != 0 {
				t.Errorf("fsync off: idle %d ns, write %d ns; want both untimed (0)", after.IdleNanos, after.WriteNanos)
			}
			continue
		}
		if got := time.Duration(mid.IdleNanos - before.IdleNanos); got < idle {
			t.Errorf("%v idle, want at least the %v with nothing queued", got, idle)
		}
		if after.WriteNanos <= mid.WriteNanos || mid.WriteNanos == 0 {
			t.Errorf("write time %d → %d ns over %d → %d flushes: want it to grow with every write", mid.WriteNanos, after.WriteNanos, mid.Flushes, after.Flushes)
		}
	}
}

// The linger's limit is the commit delay, or the fsync share of the
// recent fsyncs when that is longer; the moving mean follows the fsyncs.
func TestLingerLimit(t *testing.T) {
	const ms = time.Millisecond
	for _, c := range []struct {
		delay, mean time.Duration
		share       float64
		want        time.Duration
	}{
		{delay: ms / 5, share: 0.75, mean: 0, want: ms / 5},                           // no fsync yet (or fsync off)
		{delay: ms / 5, share: 0.75, mean: ms / 5, want: ms / 5},                      // fast disk: the delay
		{delay: ms / 5, share: 0.75, mean: 2 * ms, want: 3 * ms / 2},                  // slow disk: the share
		{delay: ms / 5, share: -1, mean: 2 * ms, want: ms / 5},                        // share off
		{delay: 5 * ms, share: 0.75, mean: 2 * ms, want: 5 * ms},                      // a longer delay wins
		{delay: ms / 5, share: MaxCommitDelayFsyncShareLimit, mean: ms, want: 4 * ms}, // the largest share
	} {
		if got := LingerLimit(c.delay, c.share, c.mean); got != c.want {
			t.Errorf("LingerLimit(%v, %v, %v) = %v, want %v", c.delay, c.share, c.mean, got, c.want)
		}
	}
	var mean time.Duration
	for range 40 {
		mean = FsyncMean(mean, 8*ms)
	}
	if mean < 7900*time.Microsecond || mean > 8*ms {
		t.Errorf("after 40 fsyncs of 8 ms the mean is %v", mean)
	}
	if m := FsyncMean(8*ms, 16*ms); m != 9*ms {
		t.Errorf("one fsync of 16 ms after a mean of 8 ms: %v, want 9 ms (an eighth of the step)", m)
	}
}

// MaxCommitDelayFsyncShare: 0 takes the default, negative stays off, and
// NaN or beyond the limit is refused.
func TestLingerShareOptions(t *testing.T) {
	for _, c := range []struct {
		share, want float64
		bad         bool
	}{
		{share: 0, want: DefaultMaxCommitDelayFsyncShare},
		{share: -1, want: -1},
		{share: 2, want: 2},
		{share: MaxCommitDelayFsyncShareLimit, want: MaxCommitDelayFsyncShareLimit},
		{share: MaxCommitDelayFsyncShareLimit + 0.5, bad: true},
		{share: math.NaN(), bad: true},
		{share: math.Inf(1), bad: true},
	} {
		o, err := Options{MaxCommitDelayFsyncShare: c.share}.withDefaults()
		switch {
		case c.bad && err == nil:
			t.Errorf("share %v accepted", c.share)
		case !c.bad && err != nil:
			t.Errorf("share %v: %v", c.share, err)
		case !c.bad && o.MaxCommitDelayFsyncShare != c.want:
			t.Errorf("share %v became %v, want %v", c.share, o.MaxCommitDelayFsyncShare, c.want)
		}
	}
}

// AwaitLinger returns at once when the flusher is not lingering, and
// otherwise only when the linger ends: on the count it waits for, at its
// limit, or on Close.
func TestAwaitLinger(t *testing.T) {
	awaiting := func(w *WAL) <-chan bool {
		ch := make(chan bool, 1)
		go func() { ch <- w.AwaitLinger() }()
		return ch
	}
	lingerOn := func(w *WAL, next uint64, lingers uint64) {
		t.Helper()
		if err := w.Submit(Write{Entries: ents(next, next, 1)}, func(err error) {
			if err != nil && !errorsIs(err, ErrClosed) {
				t.Error(err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		for w.Stats().Lingers != lingers {
			time.Sleep(100 * time.Microsecond)
		}
	}
	held := func(ch <-chan bool, what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("AwaitLinger returned while the linger held (%s)", what)
		case <-time.After(30 * time.Millisecond):
		}
	}
	released := func(ch <-chan bool, what string) {
		t.Helper()
		select {
		case waited := <-ch:
			if !waited {
				t.Fatalf("AwaitLinger said it did not wait (%s)", what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("AwaitLinger still waiting after the linger ended (%s)", what)
		}
	}

	// A limit no test run reaches: the linger ends on the count or Close.
	w, err := Open(t.TempDir(), Options{MaxCommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.AwaitLinger() {
		t.Fatal("AwaitLinger waited on an idle log")
	}
	_, next := commitThen(t, w, 1, 2, 0)
	lingerOn(w, next, 1) // one of the two records it waits for
	ch := awaiting(w)
	held(ch, "one record of two queued")
	if err := w.Submit(Write{Entries: ents(next+1, next+1, 1)}, func(error) {}); err != nil {
		t.Fatal(err)
	}
	released(ch, "the second record queued")
	next += 2
	lingerOn(w, next, 2)
	ch = awaiting(w)
	held(ch, "before Close")
	go w.Close()
	released(ch, "on Close")

	// A short limit: the linger runs out with nothing more queued.
	const limit = 300 * time.Millisecond
	w, err = Open(t.TempDir(), Options{MaxCommitDelay: limit, MaxCommitDelayFsyncShare: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, next = commitThen(t, w, 1, 2, 0)
	start := time.Now()
	lingerOn(w, next, 1)
	ch = awaiting(w)
	released(ch, "at the limit")
	if since := time.Since(start); since < limit {
		t.Fatalf("AwaitLinger returned after %v, before the linger's limit of %v", since, limit)
	}
}
