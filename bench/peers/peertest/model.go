package peertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// ModelFsync checks a target's modelled disk (bench.ModelFsyncOption):
// bad durations and fsync off are refused with an error naming the
// option; on the model the smoke rounds commit, the modelled fsyncs are
// counted as the target's fsyncs, one client's writes in a row each take
// at least one modelled fsync (a commit waits for a quorum's, so none
// can be faster), and the contract says nothing is durable. cfg.Options
// (a transport, say) are kept beside the model's.
func ModelFsync(t *testing.T, f bench.Factory, cfg bench.TargetConfig, want Expect) {
	const d = 5 * time.Millisecond
	with := func(v string) map[string]string {
		o := map[string]string{bench.ModelFsyncOption: v}
		for k, x := range cfg.Options {
			o[k] = x
		}
		return o
	}
	for _, bad := range []string{"0", "-1ms", "2s", "fast"} {
		c := cfg
		c.Dir, c.Fsync, c.Options = t.TempDir(), true, with(bad)
		if tg, err := f(context.Background(), c); err == nil {
			tg.Close()
			t.Errorf("%s=%s accepted", bench.ModelFsyncOption, bad)
		} else if !strings.Contains(err.Error(), bench.ModelFsyncOption) {
			t.Errorf("%s=%s: %v, want an error naming the option", bench.ModelFsyncOption, bad, err)
		}
	}
	off := cfg
	off.Dir, off.Fsync, off.Options = t.TempDir(), false, with(d.String())
	if tg, err := f(context.Background(), off); err == nil {
		tg.Close()
		t.Errorf("%s with fsync off accepted", bench.ModelFsyncOption)
	} else if !strings.Contains(err.Error(), "fsync on") {
		t.Errorf("%s with fsync off: %v, want an error saying it needs fsync on", bench.ModelFsyncOption, err)
	}

	on := cfg
	on.Fsync, on.Options = true, with(d.String())
	tg := Start(t, f, on)
	defer tg.Close()
	exercise(t, tg, Workers, Rounds)
	checkStats(t, tg.Stats(), true, want)
	const writes = 10
	from := time.Now()
	for i := range writes {
		Do(t, tg, bench.Request{Op: kv.OpWrite, Key: []byte(fmt.Sprintf("model-%d", i)), Value: []byte("v")}, kv.StatusOK)
	}
	if took := time.Since(from); took < writes*d {
		t.Errorf("%d writes in a row took %v, want at least one modelled fsync (%v) each", writes, took, d)
	}
	c := bench.TargetContract(tg)
	if c.Durability != bench.DurabilityModelled || !strings.Contains(c.FsyncsPerCommit, d.String()) {
		t.Errorf("contract %+v: want durability %q and the model's %v named", c, bench.DurabilityModelled, d)
	}
}
