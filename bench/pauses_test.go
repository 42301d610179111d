package bench

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// machinePauses spins threads goroutines, each locked to its own thread
// and reading the clock in a loop, for d, and returns the stretches of
// MachinePause or longer in which every one of them saw its clock jump:
// every CPU the spinners ran on stood still at once, which the guest's
// own scheduler does not do to runnable threads on separate CPUs but a
// host that throttles a virtual machine's CPU time (a quota per period)
// does. Each returned pair is the stretch's start and length from the
// start of the measurement.
func machinePauses(threads int, d time.Duration) [][2]time.Duration {
	const machinePause = 3 * time.Millisecond
	start := time.Now()
	gaps := make([][][2]time.Duration, threads)
	var wg sync.WaitGroup
	for th := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			last := time.Now()
			for last.Sub(start) < d {
				now := time.Now()
				if now.Sub(last) >= machinePause {
					gaps[th] = append(gaps[th], [2]time.Duration{last.Sub(start), now.Sub(start)})
				}
				last = now
			}
		}()
	}
	wg.Wait()
	return overlapAll(gaps, machinePause)
}

// overlapAll returns the stretches of at least minLen covered by a gap
// of every list at once, as (start, length).
func overlapAll(gaps [][][2]time.Duration, minLen time.Duration) [][2]time.Duration {
	if len(gaps) == 0 {
		return nil
	}
	common := gaps[0]
	for _, other := range gaps[1:] {
		var next [][2]time.Duration
		for _, a := range common {
			for _, b := range other {
				lo, hi := max(a[0], b[0]), min(a[1], b[1])
				if hi > lo {
					next = append(next, [2]time.Duration{lo, hi})
				}
			}
		}
		common = next
	}
	var out [][2]time.Duration
	for _, c := range common {
		if c[1]-c[0] >= minLen {
			out = append(out, [2]time.Duration{c[0], c[1] - c[0]})
		}
	}
	slices.SortFunc(out, func(a, b [2]time.Duration) int { return int(a[0] - b[0]) })
	return out
}

func TestOverlapAllKeepsOnlyCommonStretches(t *testing.T) {
	ms := time.Millisecond
	gaps := [][][2]time.Duration{
		{{100 * ms, 110 * ms}, {300 * ms, 302 * ms}, {500 * ms, 512 * ms}},
		{{101 * ms, 112 * ms}, {300 * ms, 310 * ms}, {700 * ms, 720 * ms}},
	}
	got := overlapAll(gaps, 3*ms)
	// 101-110 is common (9 ms); 300-302 is common but short; 500 and 700 are one thread's only.
	if len(got) != 1 || got[0] != [2]time.Duration{101 * ms, 9 * ms} {
		t.Fatalf("overlapAll = %v, want one stretch at 101 ms of 9 ms", got)
	}
	if overlapAll(nil, ms) != nil {
		t.Fatal("no lists: want no stretch")
	}
}

// BenchmarkMachinePauses measures whether the machine itself stands
// still: 1 and 2 threads spinning on the clock for 2 s (machinePauses),
// reporting the stretches per second in which every spinner stood still
// at once, their median length and the median spacing of their starts.
// On a virtual machine whose host throttles its CPU time per period, such
// stretches recur at the period (100 ms for Linux CFS bandwidth control)
// and every process in the machine, disk waits included, stops during
// them: they are the tails of whatever runs there, not of one program.
// Compare the rate with nothing else running and beside a load. Run with
// -benchtime 1x; scripts/tails.sh runs it.
func BenchmarkMachinePauses(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			for range b.N {
				const d = 2 * time.Second
				ps := machinePauses(threads, d)
				var lengths, spacing []float64
				for i, p := range ps {
					lengths = append(lengths, float64(p[1].Microseconds())/1000)
					if i > 0 {
						spacing = append(spacing, float64((p[0]-ps[i-1][0]).Microseconds())/1000)
					}
				}
				b.ReportMetric(float64(len(ps))/d.Seconds(), "pauses/s")
				b.ReportMetric(median(lengths), "pause-ms")
				b.ReportMetric(median(spacing), "pause-spacing-ms")
			}
		})
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
