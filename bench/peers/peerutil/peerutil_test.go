package peerutil

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

var errTestClosed = errors.New("test: closed")

func TestDoRoutesAndDecodes(t *testing.T) {
	var gotQuery []byte
	var gotCmd kv.Command
	read := func(_ context.Context, q []byte) ([]byte, error) {
		gotQuery = q
		return kv.AppendResult(nil, kv.Result{Status: kv.StatusOK, Value: []byte("v")}), nil
	}
	write := func(_ context.Context, c kv.Command) ([]byte, error) {
		gotCmd = c
		return kv.AppendResult(nil, kv.Result{Status: kv.StatusMismatch}), nil
	}
	ctx := context.Background()

	res, err := Do(ctx, "sys", bench.Request{Op: kv.OpRead, Key: []byte("k")}, read, write)
	if err != nil || res.Status != kv.StatusOK || string(res.Value) != "v" {
		t.Fatalf("read: %+v, %v", res, err)
	}
	if !bytes.Equal(gotQuery, kv.EncodeRead([]byte("k"))) {
		t.Errorf("read query %x, want kv.EncodeRead(k)", gotQuery)
	}

	res, err = Do(ctx, "sys", bench.Request{Op: kv.OpCas, Key: []byte("k"), From: []byte("a"), Value: []byte("b")}, read, write)
	if err != nil || res.Status != kv.StatusMismatch {
		t.Fatalf("cas: %+v, %v", res, err)
	}
	if enc := kv.AppendCommand(nil, gotCmd); !bytes.Equal(enc, kv.EncodeCas([]byte("k"), []byte("a"), []byte("b"), false)) {
		t.Errorf("cas command %+v does not encode as kv.EncodeCas", gotCmd)
	}

	if _, err = Do(ctx, "sys", bench.Request{Op: kv.OpWrite, Key: []byte("k"), Value: []byte("w")}, read, write); err != nil {
		t.Fatal(err)
	}
	if enc := kv.AppendCommand(nil, gotCmd); !bytes.Equal(enc, kv.EncodeWrite([]byte("k"), []byte("w"))) {
		t.Errorf("write command %+v does not encode as kv.EncodeWrite", gotCmd)
	}
}

func TestDoErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	fail := func(context.Context, []byte) ([]byte, error) { return nil, boom }
	garbage := func(context.Context, kv.Command) ([]byte, error) { return []byte{0xff}, nil }

	if _, err := Do(ctx, "sys", bench.Request{Op: kv.Op(99)}, fail, garbage); err == nil || !strings.HasPrefix(err.Error(), "sys: unknown op") {
		t.Errorf("unknown op: %v", err)
	}
	if _, err := Do(ctx, "sys", bench.Request{Op: kv.OpRead}, fail, garbage); !errors.Is(err, boom) {
		t.Errorf("read error: %v, want boom", err)
	}
	if _, err := Do(ctx, "sys", bench.Request{Op: kv.OpWrite}, fail, garbage); err == nil {
		t.Error("undecodable result accepted")
	}
}

func TestPollLeader(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	calls := 0
	n, err := PollLeader(ctx, stop, errTestClosed, "sys", 10*time.Second, func() (int, bool, error) {
		calls++
		return 7, calls == 3, nil
	})
	if err != nil || n != 7 || calls != 3 {
		t.Errorf("got %d, %v after %d calls; want 7 after 3", n, err, calls)
	}

	failed := errors.New("node failed")
	if _, err := PollLeader(ctx, stop, errTestClosed, "sys", 10*time.Second, func() (int, bool, error) {
		return 0, false, failed
	}); !errors.Is(err, failed) {
		t.Errorf("find error: %v", err)
	}

	none := func() (int, bool, error) { return 0, false, nil }
	if _, err := PollLeader(ctx, stop, errTestClosed, "sys", 0, none); err == nil || !strings.HasPrefix(err.Error(), "sys: no leader for") {
		t.Errorf("deadline: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := PollLeader(cctx, stop, errTestClosed, "sys", 10*time.Second, none); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	close(stop)
	if _, err := PollLeader(ctx, stop, errTestClosed, "sys", 10*time.Second, func() (int, bool, error) {
		t.Error("find called after stop")
		return 1, true, nil
	}); !errors.Is(err, errTestClosed) {
		t.Errorf("stopped: %v", err)
	}
}

func TestSleep(t *testing.T) {
	stop := make(chan struct{})
	if err := Sleep(context.Background(), stop, errTestClosed, time.Microsecond); err != nil {
		t.Errorf("timer: %v", err)
	}
	close(stop)
	if err := Sleep(context.Background(), stop, errTestClosed, time.Hour); !errors.Is(err, errTestClosed) {
		t.Errorf("stop: %v", err)
	}
}

func TestRegisterMetrics(t *testing.T) {
	if err := RegisterMetrics(nil, "sys", nil); err != nil {
		t.Errorf("nil registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	stats := func() bench.TargetStats {
		return bench.TargetStats{Fsyncs: 1, FsyncEntries: 2, AppendMsgs: 3, AppendEntries: 4, LeaderChanges: 5}
	}
	if err := RegisterMetrics(reg, "sys", stats); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"raftbench_peer_fsyncs_total": 1, "raftbench_peer_fsync_entries_total": 2,
		"raftbench_peer_append_msgs_total": 3, "raftbench_peer_append_entries_total": 4,
		"raftbench_peer_leader_changes_total": 5,
	}
	if len(fams) != len(want) {
		t.Fatalf("%d families, want %d", len(fams), len(want))
	}
	for _, f := range fams {
		m := f.GetMetric()
		if len(m) != 1 || m[0].GetCounter().GetValue() != want[f.GetName()] {
			t.Errorf("%s: %v", f.GetName(), m)
			continue
		}
		if l := m[0].GetLabel(); len(l) != 1 || l[0].GetName() != "system" || l[0].GetValue() != "sys" {
			t.Errorf("%s labels %v", f.GetName(), l)
		}
	}
	if err := RegisterMetrics(reg, "sys", stats); err == nil {
		t.Error("second registration of the same system succeeded")
	}
}
