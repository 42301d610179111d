package peertest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Expect is what a target's Stats must show after the smoke rounds beyond
// what every target shows (LeaderChanges >= 1; Fsyncs > 0 exactly when
// cfg.Fsync is on).
type Expect struct {
	// CountsAppends: the target counts AppendEntries messages, so there
	// must be some and their entries must cover every replicated command.
	CountsAppends bool
	// FsyncsPerEntryMax bounds Fsyncs against FsyncEntries when fsync is
	// on: FsyncEntries >= Fsyncs/FsyncsPerEntryMax. It is 1 where every
	// fsync carries entries; more where a fsync may carry only a term or
	// vote. 0 counts as 1.
	FsyncsPerEntryMax uint64
}

// Smoke starts a cluster with f and cfg, runs the smoke rounds on it,
// checks its Stats against want, closes it and checks Do then fails.
func Smoke(t *testing.T, f bench.Factory, cfg bench.TargetConfig, want Expect) {
	tg := Start(t, f, cfg)
	exercise(t, tg, Workers, Rounds)
	checkStats(t, tg.Stats(), cfg.Fsync, want)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Do(context.Background(), bench.Request{Op: kv.OpRead, Key: []byte("x")}); err == nil {
		t.Error("Do after Close succeeded")
	}
}

func checkStats(t *testing.T, st bench.TargetStats, fsync bool, want Expect) {
	t.Helper()
	if st.LeaderChanges < 1 {
		t.Errorf("stats %+v: LeaderChanges = 0, want a leader", st)
	}
	if want.CountsAppends && (st.AppendMsgs == 0 || st.AppendEntries < Workers*Rounds*WritesPerRound) {
		t.Errorf("stats %+v: want appends carrying every write", st)
	}
	perEntry := max(want.FsyncsPerEntryMax, 1)
	if fsync && (st.Fsyncs == 0 || st.FsyncEntries < st.Fsyncs/perEntry) {
		t.Errorf("fsync on: stats %+v, want fsyncs carrying entries (at most %d fsyncs per entry)", st, perEntry)
	}
	if !fsync && st.Fsyncs != 0 {
		t.Errorf("fsync off: Fsyncs = %d, want 0", st.Fsyncs)
	}
}

// exercise runs rounds on distinct keys from several goroutines; at least
// 3/4 of the rounds must complete.
func exercise(t *testing.T, tg bench.Target, workers, rounds int) {
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				key := []byte(fmt.Sprintf("k-%d-%d", w, r))
				if round(t, tg, key, []byte(fmt.Sprint("v1-", r)), []byte(fmt.Sprint("v2-", r))) {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if total := int64(workers * rounds); done.Load()*4 < total*3 {
		t.Errorf("%d of %d rounds completed, want at least 3/4", done.Load(), total)
	}
}

// round checks the lin-kv answers on one fresh key; false if abandoned.
// It replicates WritesPerRound commands.
func round(t *testing.T, tg bench.Target, key, v1, v2 []byte) bool {
	steps := []struct {
		req  bench.Request
		want kv.Status
		val  []byte
	}{
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusNotFound, nil},
		{bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusNotFound, nil},
		{bench.Request{Op: kv.OpWrite, Key: key, Value: v1}, kv.StatusOK, nil},
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK, v1},
		{bench.Request{Op: kv.OpCas, Key: key, From: v2, Value: v1}, kv.StatusMismatch, nil},
		{bench.Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusOK, nil},
		{bench.Request{Op: kv.OpRead, Key: key}, kv.StatusOK, v2},
	}
	for _, st := range steps {
		got, ok := try(t, tg, st.req, st.want)
		if !ok {
			return false
		}
		if st.val != nil && !bytes.Equal(got.Value, st.val) {
			t.Errorf("read %s = %q, want %q", key, got.Value, st.val)
		}
	}
	return true
}
