package bench

import (
	"encoding/csv"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTimelineBucketsByIntendedTime: operations land in the bucket of
// their intended send time with their latency from it, errors are
// counted apart, a GC cycle shows in the events column, and every
// observation reaches the next observer.
func TestTimelineBucketsByIntendedTime(t *testing.T) {
	next := &countingObserver{}
	tl := NewTimeline(10*time.Millisecond, nil, next)
	start := time.Now()
	tl.Started(start, start, 1)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	tl.Observe(0, ObservedOp{Intended: at(1), Done: at(3)})   // bucket 0, 2 ms
	tl.Observe(0, ObservedOp{Intended: at(5), Done: at(9)})   // bucket 0, 4 ms
	tl.Observe(0, ObservedOp{Intended: at(25), Done: at(75)}) // bucket 2, 50 ms
	tl.Observe(0, ObservedOp{Intended: at(26), Done: at(27), Err: errors.New("x")})
	runtime.GC()
	time.Sleep(30 * time.Millisecond) // the watcher polls every 5 ms
	tl.Close()
	b := writeTimelineCSV(t, tl)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"start_ms,ops,errors,mean_ms,max_ms,saving,events",
		"0,2,0,3.000,4.000,,",
		"10,0,0,0.000,0.000,,",
		"20,1,1,50.000,50.000,,",
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Fatalf("timeline.csv line %d = %q, want prefix %q\n%s", i, lines[min(i, len(lines)-1)], w, b)
		}
	}
	if !strings.Contains(string(b), "gc cycles ended") {
		t.Errorf("no GC event recorded after runtime.GC:\n%s", b)
	}
	if next.n != 4 || next.started != 1 {
		t.Errorf("next observer saw %d ops and %d starts, want 4 and 1", next.n, next.started)
	}
}

// TestTimelineSnapshotWindows: a node's snapshot shows as the window
// from "begun" to "taken", every bucket polled inside it names the node
// in the saving column, a save shorter than a poll still marks a bucket,
// and SnapshotWindows compares the measured buckets inside and outside
// the windows (the warm-up's left out).
func TestTimelineSnapshotWindows(t *testing.T) {
	tl := NewTimeline(20*time.Millisecond, nil, nil)
	var mu sync.Mutex
	state := map[uint64]nodeSnapshots{1: {}, 2: {}}
	set := func(id uint64, s nodeSnapshots) {
		mu.Lock()
		state[id] = s
		mu.Unlock()
	}
	tl.nodes = func() map[uint64]nodeSnapshots {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(state)
	}
	start := time.Now()
	tl.Started(start, start.Add(20*time.Millisecond), 1)
	since := func() time.Duration { return time.Since(start) }
	sleepUntil := func(d time.Duration) { time.Sleep(d - since()) }
	sleepUntil(100 * time.Millisecond)
	set(2, nodeSnapshots{saving: true})
	sleepUntil(200 * time.Millisecond)
	set(2, nodeSnapshots{taken: 1})
	sleepUntil(300 * time.Millisecond)
	set(1, nodeSnapshots{taken: 1}) // begun and taken between two polls
	sleepUntil(400 * time.Millisecond)
	tl.Close()
	// Operations: 5 per bucket outside the window, 1 inside (slow).
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	for ms := 0; ms < 400; ms += 4 {
		lat := 1
		if ms >= 110 && ms < 190 {
			if ms%20 != 10 {
				continue
			}
			lat = 30
		}
		tl.Observe(0, ObservedOp{Intended: at(ms), Done: at(ms + lat)})
	}
	b := writeTimelineCSV(t, tl)
	text := string(b)
	for _, want := range []string{"snapshot begun by node 2", "snapshot taken by node 2", "snapshot taken by node 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline.csv has no %q:\n%s", want, text)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	saving := map[string][]int{}
	for _, r := range rows[1:] {
		ms, _ := strconv.Atoi(r[0])
		if r[5] != "" {
			saving[r[5]] = append(saving[r[5]], ms)
		}
	}
	if got := saving["2"]; len(got) < 3 || got[0] > 140 || got[len(got)-1] < 180 || got[len(got)-1] > 260 {
		t.Errorf("node 2 saving in buckets %v, want those from about 100 ms to about 200 ms", got)
	}
	if got := saving["1"]; len(got) != 1 || got[0] < 280 || got[0] > 360 {
		t.Errorf("node 1 saving in buckets %v, want the one bucket around 300 ms", got)
	}
	sw := tl.SnapshotWindows()
	if sw == nil {
		t.Fatal("no snapshot windows")
	}
	if sw.Share <= 0.1 || sw.Share >= 0.6 {
		t.Errorf("share %.2f, want the window's ~5 of 18 measured buckets", sw.Share)
	}
	if sw.OpsPerSecInside >= sw.OpsPerSecOutside {
		t.Errorf("inside %.0f ops/s, outside %.0f: the window's buckets had fewer operations", sw.OpsPerSecInside, sw.OpsPerSecOutside)
	}
	// 18 measured buckets: 20 ms to 380 ms (the warm-up's first and the
	// last, cut short, left out).
	if sw.WorstInside < 4 || sw.Worst != 18 {
		t.Errorf("%d of the %d worst buckets inside, want the 4 slow ones at least", sw.WorstInside, sw.Worst)
	}
	if NewTimeline(0, nil, nil).SnapshotWindows() != nil {
		t.Error("a timeline without nodes reported snapshot windows")
	}
}

// writeTimelineCSV writes tl's timeline.csv in a temporary directory
// and returns its bytes.
func writeTimelineCSV(t *testing.T, tl *Timeline) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "timeline.csv")
	if err := tl.WriteCSV(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type countingObserver struct{ n, started int }

func (c *countingObserver) Started(time.Time, time.Time, int) { c.started++ }
func (c *countingObserver) Observe(int, ObservedOp)           { c.n++ }
