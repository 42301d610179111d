package bench

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
	path := filepath.Join(t.TempDir(), "timeline.csv")
	if err := tl.WriteCSV(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		"start_ms,ops,errors,mean_ms,max_ms,events",
		"0,2,0,3.000,4.000,",
		"10,0,0,0.000,0.000,",
		"20,1,1,50.000,50.000,",
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

type countingObserver struct{ n, started int }

func (c *countingObserver) Started(time.Time, time.Time, int) { c.started++ }
func (c *countingObserver) Observe(int, ObservedOp)           { c.n++ }
