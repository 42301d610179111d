package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// TestInprocSnapshotWriteRateOption: the snapshot-write-rate option
// takes bytes per second (0: unpaced) and refuses anything else with a
// message naming it.
func TestInprocSnapshotWriteRateOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"-1", "fast", "1.5"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-write-rate": bad}})
		if err == nil || !strings.Contains(err.Error(), "snapshot-write-rate") {
			t.Fatalf("snapshot-write-rate=%s: %v, want an error naming the option", bad, err)
		}
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"snapshot-write-rate": "67108864"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInprocSnapshotLogRatioOption: the snapshot-log-ratio and
// resident-log-ratio options take a ratio >= 0 and refuse anything else
// with a message naming the option.
func TestInprocSnapshotLogRatioOption(t *testing.T) {
	ctx := context.Background()
	for _, opt := range []string{"snapshot-log-ratio", "resident-log-ratio"} {
		for _, bad := range []string{"-1", "many", "NaN", "+Inf"} {
			_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{opt: bad}})
			if err == nil || !strings.Contains(err.Error(), opt) {
				t.Fatalf("%s=%s: %v, want an error naming the option", opt, bad, err)
			}
		}
		for _, good := range []string{"0", "2"} {
			tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{opt: good}})
			if err != nil {
				t.Fatalf("%s=%s: %v", opt, good, err)
			}
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestInprocWALOffloadLoneOption: wal-offload-lone takes a boolean and
// refuses anything else with a message naming it.
func TestInprocWALOffloadLoneOption(t *testing.T) {
	ctx := context.Background()
	_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-offload-lone": "sometimes"}})
	if err == nil || !strings.Contains(err.Error(), "wal-offload-lone") {
		t.Fatalf("wal-offload-lone=sometimes: %v, want an error naming the option", err)
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-offload-lone": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInprocWALBlockingFsyncOption: wal-blocking-fsync takes a boolean,
// refuses anything else with a message naming it, and the cluster it
// builds (every fsync blocking) commits.
func TestInprocWALBlockingFsyncOption(t *testing.T) {
	checkFsyncOption(t, "wal-blocking-fsync", "mostly")
}

// TestInprocWALOffloadLeaderOption: wal-offload-leader takes a boolean,
// refuses anything else with a message naming it, and set alone the
// cluster it builds still commits.
func TestInprocWALOffloadLeaderOption(t *testing.T) {
	checkFsyncOption(t, "wal-offload-leader", "often")
}

// checkFsyncOption checks that a boolean option of the nodes' fsyncs
// refuses the value bad with an error naming it, and that a cluster with
// it set (fsync on) commits writes.
func checkFsyncOption(t *testing.T, name, bad string) {
	t.Helper()
	ctx := context.Background()
	_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{name: bad}})
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("%s=%s: %v, want an error naming the option", name, bad, err)
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{name: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	commitWrites(t, tg, name+"=true")
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

// commitWrites writes 20 keys through tg and fails the test, naming
// what, unless every write is answered OK.
func commitWrites(t *testing.T, tg Target, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
			t.Fatalf("%s: write: %v %v", what, r.Status, err)
		}
	}
}

func TestInprocWALPreallocateOption(t *testing.T) {
	ctx := context.Background()
	_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-preallocate": "maybe"}})
	if err == nil || !strings.Contains(err.Error(), "wal-preallocate") {
		t.Fatalf("wal-preallocate=maybe: %v, want an error naming the option", err)
	}
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-preallocate": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInprocWALMinSyncIntervalOption: wal-min-sync-interval takes a
// duration of zero or more and refuses anything else with a message
// naming it.
func TestInprocWALMinSyncIntervalOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"soon", "-1ms"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-min-sync-interval": bad}})
		if err == nil || !strings.Contains(err.Error(), "wal-min-sync-interval") {
			t.Fatalf("wal-min-sync-interval=%s: %v, want an error naming the option", bad, err)
		}
	}
	// Set alone, it reaches the nodes: writes one after another are
	// committed about the interval apart (a bound with slack: a write is
	// durable on two of three spaced logs).
	const writes, interval = 5, 100 * time.Millisecond
	tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"wal-min-sync-interval": interval.String()}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	for i := range writes {
		if r, err := tg.Do(wctx, Request{Op: kv.OpWrite, Key: []byte{byte(i)}, Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
			t.Fatalf("write: %v %v", r.Status, err)
		}
	}
	took := time.Since(start)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if took < (writes-2)*interval {
		t.Fatalf("%d writes one after another took %v with commits %v apart", writes, took, interval)
	}
}

// TestInprocCommitDelayShareOption: wal-commit-delay-fsync-share takes a
// share from 0 to the WAL's limit and refuses anything else with a
// message naming it.
func TestInprocCommitDelayShareOption(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"most", "-0.5", "NaN", "+Inf", "5"} {
		_, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"wal-commit-delay-fsync-share": bad}})
		if err == nil || !strings.Contains(err.Error(), "wal-commit-delay-fsync-share") {
			t.Fatalf("wal-commit-delay-fsync-share=%s: %v, want an error naming the option", bad, err)
		}
	}
	for _, good := range []string{"0", "0.5", "4"} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"wal-commit-delay-fsync-share": good}})
		if err != nil {
			t.Fatalf("wal-commit-delay-fsync-share=%s: %v", good, err)
		}
		if r, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte("k"), Value: []byte("v")}); err != nil || r.Status != kv.StatusOK {
			t.Fatalf("wal-commit-delay-fsync-share=%s: write %v %v", good, r.Status, err)
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInprocKVHugePagesOption: kv-huge-pages reaches every node's store
// (and only when set), and a bad value is refused naming the option.
func TestInprocKVHugePagesOption(t *testing.T) {
	ctx := context.Background()
	if _, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"kv-huge-pages": "sometimes"}}); err == nil || !strings.Contains(err.Error(), "kv-huge-pages") {
		t.Fatalf("kv-huge-pages=sometimes: %v, want an error naming the option", err)
	}
	for _, c := range []struct {
		opts map[string]string
		want bool
	}{{nil, false}, {map[string]string{"kv-huge-pages": "true"}, true}, {map[string]string{"kv-huge-pages": "true", "settle-blind": "false"}, true}} {
		tg, err := openInproc(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: c.opts})
		if err != nil {
			t.Fatal(err)
		}
		in := tg.(*inprocTarget)
		for _, id := range in.c.IDs() {
			sm := in.c.StateMachine(id)
			if nb, ok := sm.(kvNoBlind); ok {
				sm = nb.Store
			}
			s, ok := sm.(*kv.Store)
			if !ok || s.Options().HugePages != c.want {
				t.Errorf("options %v: node %d's state machine %T, huge pages %v; want a *kv.Store with %v", c.opts, id, sm, ok && s.Options().HugePages, c.want)
			}
		}
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
