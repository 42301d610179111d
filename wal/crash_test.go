package wal

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

const (
	crashChildEnv  = "RAFTBENCH_WAL_CRASH_CHILD_DIR"
	crashAppendEnv = "RAFTBENCH_WAL_CRASH_CHILD_APPEND" // the child appends its segments (Options.AppendSegments)
)

// crashTerm is the deterministic term of entry i in the crash test.
func crashTerm(i uint64) uint64 { return 1 + i/97 }

// TestCrashChild is not a test on its own: TestCrashKill re-executes the
// test binary with only this test selected and crashChildEnv set. It
// appends (pipelined Submits, so group commit and segment rotation are
// exercised), compacts now and then (by CompactPrefix and by snapshots,
// whose covered segments are recycled), and prints "A <index>" for every
// acknowledged entry and "H <commit>" for every acknowledged hard state.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashKill")
	}
	w, err := Open(dir, Options{SegmentBytes: 2048, AppendSegments: os.Getenv(crashAppendEnv) != ""})
	if err != nil {
		fmt.Printf("OPEN-ERROR %v\n", err)
		os.Exit(3)
	}
	// Unbuffered: a line is out of the process once the ack is counted.
	var outMu sync.Mutex
	emit := func(format string, args ...any) {
		outMu.Lock()
		fmt.Fprintf(os.Stdout, format, args...)
		outMu.Unlock()
	}
	inflight := make(chan struct{}, 64)
	for i := w.LastIndex() + 1; ; i++ {
		inflight <- struct{}{}
		wr := Write{Entries: []raftpb.Entry{{Index: i, Term: crashTerm(i), Data: payload(i)}}}
		if i%10 == 0 {
			wr.HardState = &raftpb.HardState{Term: crashTerm(i), Vote: 1, Commit: i}
		}
		err := w.Submit(wr, func(err error) {
			if err != nil {
				fmt.Printf("ACK-ERROR %d %v\n", i, err)
				os.Exit(4)
			}
			emit("A %d\n", i)
			if wr.HardState != nil {
				emit("H %d\n", i)
			}
			<-inflight
		})
		if err != nil {
			fmt.Printf("SUBMIT-ERROR %d %v\n", i, err)
			os.Exit(5)
		}
		switch {
		case i%600 == 0:
			// A snapshot's compaction: its covered segments are recycled
			// as later segments (unless the child appends), so kills land
			// while a recycled tail holds old records.
			meta := raftpb.SnapshotMeta{Index: i - 200, Term: crashTerm(i - 200)}
			if err := w.SaveSnapshot(raftpb.Snapshot{Meta: meta}); err != nil {
				fmt.Printf("SNAPSHOT-ERROR %v\n", err)
				os.Exit(6)
			}
		case i%300 == 0 && i > 200:
			if err := w.CompactPrefix(i - 200); err != nil {
				fmt.Printf("COMPACT-ERROR %v\n", err)
				os.Exit(6)
			}
		}
	}
}

// TestCrashKill SIGKILLs a child that appends and syncs in a loop, at
// random moments (including during its recovery), then reopens the log
// and checks that every acknowledged entry and hard state is present
// and intact and that nothing in the log is corrupt.
func TestCrashKill(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	kills := 60
	if testing.Short() {
		kills = 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (set RAFTBENCH_WAL_CRASH_SEED to replay the kill timings)", seed)
	if s := os.Getenv("RAFTBENCH_WAL_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	var acked, ackedCommit uint64
	for k := 0; k < kills; k++ {
		// The child needs ~10-20 ms to start; some kills land during
		// its recovery, most during appends.
		delay := time.Duration(5_000+rng.IntN(120_000)) * time.Microsecond
		// Every other child runs on one P, where its fsyncs go through
		// the io_uring offload (offloadFsync); the others fsync directly.
		// Two kills in four append their segments, so the same log is
		// reopened in both modes after crashes in either.
		a, h := runAndKill(t, dir, delay, k%2 == 1, k%4 >= 2)
		acked, ackedCommit = max(acked, a), max(ackedCommit, h)
		verifyAfterCrash(t, dir, acked, ackedCommit)
	}
	t.Logf("%d kills, %d entries acknowledged in total, %d torn tails cut, %d recycled tails' old records cut", kills, acked, tornCuts.Load(), recycledCuts.Load())
}

// runAndKill starts the child, kills it after delay (measured from its
// first acknowledgement, or from start if delay is short) and returns
// the highest acknowledged index and hard-state commit.
func runAndKill(t *testing.T, dir string, delay time.Duration, oneP, appendSegs bool) (acked, commit uint64) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	if oneP {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	if appendSegs {
		cmd.Env = append(cmd.Env, crashAppendEnv+"=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	hardDeadline := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
	defer hardDeadline.Stop()
	for line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 || (f[0] != "A" && f[0] != "H") {
			if strings.Contains(line, "ERROR") {
				t.Fatalf("child: %s", line)
			}
			continue
		}
		v, _ := strconv.ParseUint(f[1], 10, 64)
		if f[0] == "A" {
			acked = max(acked, v)
		} else {
			commit = max(commit, v)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v", err)
	}
	return acked, commit
}

var tornCuts, recycledCuts atomic.Int64

// countingHandler counts what recovery cut: torn tails, recycled
// segments' old records.
type countingHandler struct{}

func (countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (countingHandler) Handle(_ context.Context, r slog.Record) error {
	switch {
	case strings.Contains(r.Message, "torn tail"):
		tornCuts.Add(1)
	case strings.Contains(r.Message, "recycled segment's old records"):
		recycledCuts.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

func verifyAfterCrash(t *testing.T, dir string, acked, commit uint64) {
	t.Helper()
	w, err := Open(dir, Options{SegmentBytes: 2048, Logger: slog.New(countingHandler{})})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer w.Close()
	first, last := w.FirstIndex(), w.LastIndex()
	if last < acked {
		t.Fatalf("acknowledged index %d lost: log is [%d, %d]", acked, first, last)
	}
	if first > 1 && first > acked+1 {
		t.Fatalf("first index %d beyond acknowledged %d", first, acked)
	}
	es, err := w.Entries(first, last+1)
	if err != nil {
		t.Fatalf("read [%d, %d]: %v", first, last, err)
	}
	for _, e := range es {
		if e.Term != crashTerm(e.Index) || string(e.Data) != string(payload(e.Index)) {
			t.Fatalf("entry %d damaged: term %d data %q", e.Index, e.Term, e.Data)
		}
	}
	if hs := w.HardState(); hs.Commit < commit {
		t.Fatalf("hard state %+v lost acknowledged commit %d", hs, commit)
	}
}
