package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/embed/kv"
	"github.com/raftbench/raftbench/wal"
)

// TestFloorTargetServesTheLoad: the floor target under the load
// generator answers every operation, its history is linearizable, it
// counts its fsyncs, and after Close every log holds every write it
// answered, as records in answer order.
func TestFloorTargetServesTheLoad(t *testing.T) {
	for _, way := range []string{"append", "overwrite"} {
		t.Run(way, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			tg, err := openFloor(ctx, TargetConfig{Nodes: 3, Dir: dir, Fsync: true, Options: map[string]string{"log-writes": way}})
			if err != nil {
				t.Fatal(err)
			}
			cfg := shortConfig()
			cfg.Clients = 8
			cfg.History = &HistoryConfig{Keys: 50}
			sum, err := Run(ctx, cfg, tg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
			if sum.Ops == 0 || sum.Errors != 0 || sum.Results.OK == 0 || sum.OpsByOp["write"] == 0 || sum.OpsByOp["read"] == 0 {
				t.Fatalf("ops %d errors %d %v results %+v by op %v", sum.Ops, sum.Errors, sum.ErrorsByKind, sum.Results, sum.OpsByOp)
			}
			if r := check.Check(sum.History.Ops, check.Options{}); !r.OK() {
				t.Fatalf("history checked %v (bad key %s)", r.Linearizable, r.BadKey)
			}
			st := tg.Stats()
			if st.Fsyncs == 0 || st.FsyncEntries < st.Fsyncs || !st.SnapshotsCounted {
				t.Fatalf("stats %+v", st)
			}
			// The logs' cycle: every fsynced group commit counted and
			// timed, and the run's window averaged over them.
			if l := st.Log; l.Flushes != st.Fsyncs || l.FsyncNanos == 0 || l.WriteNanos == 0 || l.IdleNanos+l.LingerNanos == 0 {
				t.Fatalf("log cycle %+v over %d fsyncs", l, st.Fsyncs)
			}
			if c := sum.LogCycleUs; c == nil || c.Fsync <= 0 || c.Write <= 0 {
				t.Fatalf("summary's log cycle %+v", c)
			}
			if c := TargetContract(tg); c.Durability != DurabilityQuorumFsync || c.Reads != ReadsStore {
				t.Fatalf("contract %+v", c)
			}
			if way != "append" {
				return
			}
			// Every log holds the same records, at least one per write
			// or cas answered (the warm-up's and the preload's too).
			var first []byte
			for i := range 3 {
				b, err := os.ReadFile(filepath.Join(dir, "floor-log-"+string(rune('0'+i))))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for rest := b; len(rest) > 0; n++ {
					l, k := binary.Uvarint(rest)
					if k <= 0 || uint64(len(rest)-k) < l {
						t.Fatalf("log %d: record %d cut short", i, n)
					}
					if _, err := kv.DecodeCommand(rest[k : k+int(l)]); err != nil {
						t.Fatalf("log %d: record %d: %v", i, n, err)
					}
					rest = rest[k+int(l):]
				}
				if answered := sum.OpsByOp["write"] + sum.OpsByOp["cas"]; uint64(n) < answered {
					t.Fatalf("log %d holds %d records, %d writes and cas answered", i, n, answered)
				}
				if i == 0 {
					first = b
				} else if !bytes.Equal(b, first) {
					t.Fatalf("log %d differs from log 0", i)
				}
			}
		})
	}
}

// TestFloorTargetAnswersOnAMajority: a write is answered once a majority
// of the logs report it durable, not before, and writes are answered in
// their log order.
func TestFloorTargetAnswersOnAMajority(t *testing.T) {
	tg := newFloorTarget(3, true)
	defer tg.Close()
	for i := range 3 {
		l := &floorLog{t: tg, i: i, exited: make(chan struct{}), wakeAt: 1}
		l.cond.L = &l.mu
		tg.logs = append(tg.logs, l) // never run: the test reports durability itself
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := make(chan string, 2)
	do := func(key string, want uint64) {
		go func() {
			_, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte(key), Value: []byte("v")})
			if err != nil {
				answered <- "error: " + err.Error()
				return
			}
			answered <- key
		}()
		for { // wait until queued in every log
			tg.logs[2].mu.Lock()
			queued := tg.logs[2].last
			tg.logs[2].mu.Unlock()
			if queued == want {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	do("a", 1)
	do("b", 2)
	quiet := func(what string) {
		select {
		case k := <-answered:
			t.Fatalf("%s: %s answered", what, k)
		case <-time.After(50 * time.Millisecond):
		}
	}
	tg.durableIn(0, 2, nil)
	quiet("one log of three durable")
	tg.durableIn(1, 1, nil)
	if k := <-answered; k != "a" {
		t.Fatalf("after two logs hold write 1: %s answered", k)
	}
	quiet("write 2 on one log")
	tg.durableIn(2, 2, nil)
	if k := <-answered; k != "b" {
		t.Fatalf("after two logs hold write 2: %s answered", k)
	}
	res, err := tg.Do(ctx, Request{Op: kv.OpRead, Key: []byte("b")})
	if err != nil || res.Status != kv.StatusOK || string(res.Value) != "v" {
		t.Fatalf("read b: %+v %v", res, err)
	}
}

// TestFloorTargetLogFailure: a log that cannot write fails the writes
// waiting on it with an indeterminate error and every later one with
// "unavailable"; nothing hangs. (A write the other logs, a majority, made
// durable before the failure was noticed is still answered.)
func TestFloorTargetLogFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tg, err := openFloor(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"log-writes": "append"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	w := func() error {
		_, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte("k"), Value: []byte("v")})
		return err
	}
	if err := w(); err != nil {
		t.Fatal(err)
	}
	ft := tg.(*floorTarget)
	_ = ft.logs[1].f.Close() // its next write fails
	// A write queued before the failure is noticed may still be answered:
	// the other two logs are a majority. Once it is noticed, writes in
	// flight fail as indeterminate and every later one as unavailable,
	// naming the log.
	for i := 0; ; i++ {
		err := w()
		if errors.Is(err, ErrUnavailable) {
			if !strings.Contains(err.Error(), "log 1") {
				t.Fatalf("write after the failure: %v", err)
			}
			break
		}
		if err != nil && !errors.Is(err, ErrIndeterminate) {
			t.Fatalf("write over a failed log: %v", err)
		}
		if i == 100 {
			t.Fatalf("100 writes after the log failed, still answered (last: %v)", err)
		}
	}
	if err := w(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write after the failure: %v", err)
	}
}

func TestFloorTargetOptions(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]TargetConfig{
		"unknown option":    {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"x": "y"}},
		"bad log-writes":    {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"log-writes": "sideways"}},
		"bad commit-delay":  {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay": "-1ms"}},
		"long commit-delay": {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay": "2s"}},
		"negative share":    {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay-fsync-share": "-0.5"}},
		"share not a float": {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay-fsync-share": "most"}},
		"share NaN":         {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay-fsync-share": "NaN"}},
		"share over limit":  {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"commit-delay-fsync-share": "5"}},
		"too many nodes":    {Nodes: 16, Dir: t.TempDir()},
		"no stores":         {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"stores": "0"}},
		"stores over nodes": {Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"stores": "4"}},
		"no directory":      {Nodes: 3},
		"missing directory": {Nodes: 3, Dir: filepath.Join(t.TempDir(), "nope")},
	} {
		if tg, err := openFloor(ctx, cfg); err == nil {
			tg.Close()
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "floor target: ") {
			t.Errorf("%s: error %q does not say which target", name, err)
		}
	}
	tg, err := openFloor(ctx, TargetConfig{Nodes: 1, Dir: t.TempDir(), Options: map[string]string{"commit-delay": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tg.Do(ctx, Request{Op: kv.OpCas, Key: []byte("k"), From: []byte("a"), Value: []byte("b")})
	if err != nil || res.Status != kv.StatusNotFound {
		t.Errorf("cas on a missing key: %+v %v", res, err)
	}
	if c := TargetContract(tg); c.Durability != DurabilityNone {
		t.Errorf("fsync off, contract %+v", c)
	}
	tg.Close()
}

// TestFloorTargetStores: with stores=3 every copy of the state applies
// every committed write: after Close the three hold the same state.
func TestFloorTargetStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := openFloor(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: false, Options: map[string]string{"stores": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := shortConfig()
	cfg.Clients = 8
	if _, err := Run(ctx, cfg, tg, nil); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	ft := tg.(*floorTarget)
	if len(ft.replicas) != 2 {
		t.Fatalf("%d extra copies, want 2", len(ft.replicas))
	}
	want := ft.store.Snapshot()
	if ft.store.Len() == 0 {
		t.Fatal("no key written")
	}
	for i, r := range ft.replicas {
		if got := r.store.Snapshot(); !bytes.Equal(got, want) {
			t.Fatalf("copy %d holds %d keys, the first store %d", i+1, r.store.Len(), ft.store.Len())
		}
	}
	if n, one := tg.(StateSizer).StateBytes(), ft.store.MemoryBytes(); n < 3*one {
		t.Fatalf("StateBytes %d, want the three copies' (%d each)", n, one)
	}
}

// TestFloorTargetFsyncOffload: fsync-offload=ring sends every fsync
// through the log's io_uring, blocking none, and auto (the default) only
// a commit of FloorOffloadFromRecords records or more; each serves the
// load with a linearizable history. A bad mode is refused.
func TestFloorTargetFsyncOffload(t *testing.T) {
	if !wal.FsyncOffloadAvailable() {
		t.Skip("io_uring unavailable here")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, mode := range []string{"ring", "blocking", "auto"} {
		t.Run(mode, func(t *testing.T) {
			opts := map[string]string{"fsync-offload": mode}
			if mode == "auto" {
				opts = nil // the default
			}
			tg, err := openFloor(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			cfg := shortConfig()
			cfg.Clients = 8
			cfg.History = &HistoryConfig{Keys: 20}
			sum, err := Run(ctx, cfg, tg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Errors != 0 || sum.OpsByOp["write"] == 0 {
				t.Fatalf("errors %d %v, by op %v", sum.Errors, sum.ErrorsByKind, sum.OpsByOp)
			}
			if r := check.Check(sum.History.Ops, check.Options{}); !r.OK() {
				t.Fatalf("history checked %v (bad key %s)", r.Linearizable, r.BadKey)
			}
			ft := tg.(*floorTarget)
			fsyncs, offloaded := ft.fsyncs.Load(), ft.offloaded.Load()
			switch {
			case fsyncs == 0:
				t.Fatal("no fsync")
			case mode == "ring" && offloaded != fsyncs, mode == "blocking" && offloaded != 0:
				t.Fatalf("%s: %d of %d fsyncs through the ring", mode, offloaded, fsyncs)
			case mode == "auto" && offloaded*2 > fsyncs:
				// With 8 clients most commits are small; the slowest log's
				// queue, which no answer waits for, can still grow past the
				// rule's size now and then.
				t.Fatalf("auto: %d of %d fsyncs through the ring, want most of them blocking", offloaded, fsyncs)
			}
			if mode != "auto" {
				return
			}
			// A commit as large as the rule's size goes through the ring,
			// one record smaller does not.
			l := ft.logs[0]
			for _, c := range []struct {
				records int
				ring    bool
			}{{FloorOffloadFromRecords - 1, false}, {FloorOffloadFromRecords, true}} {
				before := ft.offloaded.Load()
				if err := l.write([]byte("x"), c.records); err != nil {
					t.Fatal(err)
				}
				if got := ft.offloaded.Load() > before; got != c.ring {
					t.Fatalf("a commit of %d records through the ring: %v, want %v", c.records, got, c.ring)
				}
			}
		})
	}
	tg, err := openFloor(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"fsync-offload": "sometimes"}})
	if err == nil {
		tg.Close()
		t.Fatal("fsync-offload=sometimes accepted")
	}
	if !strings.Contains(err.Error(), "fsync-offload") {
		t.Fatalf("refusal %q does not name the option", err)
	}
}
