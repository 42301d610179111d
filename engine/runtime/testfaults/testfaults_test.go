package testfaults

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/raftbench/raftbench/wal/errorfs"
)

func TestClockJumpAndDrift(t *testing.T) {
	c := NewClock()
	real0, read0 := time.Now(), c.Now()
	if d := read0.Sub(real0); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("fresh clock off by %v", d)
	}
	c.Jump(-10 * time.Second)
	if d := time.Since(c.Now()); d < 9*time.Second {
		t.Fatalf("after a -10s jump the clock is only %v behind", d)
	}
	c.Reset()
	c.SetRate(0.1)
	start, startRead := time.Now(), c.Now()
	time.Sleep(100 * time.Millisecond)
	realGone, readGone := time.Since(start), c.Now().Sub(startRead)
	if readGone > realGone/2 {
		t.Fatalf("a clock at rate 0.1 advanced %v in %v of real time", readGone, realGone)
	}
	if readGone <= 0 {
		t.Fatalf("a slow clock must still advance, advanced %v", readGone)
	}
	c.Reset()
	if d := time.Since(c.Now()); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("reset clock off by %v", d)
	}
}

func TestSlowTicker(t *testing.T) {
	c := NewClock()
	c.SetRate(0.2)
	tk := c.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	start := time.Now()
	for range 3 {
		<-tk.C()
	}
	if el := time.Since(start); el < 120*time.Millisecond {
		t.Fatalf("3 ticks of 10ms at rate 0.2 took %v, want >= 150ms", el)
	}
}

func TestApplyCommands(t *testing.T) {
	f := New()
	for _, raw := range []string{
		`{"fault":"disk","mode":"eio"}`, `{"fault":"disk","mode":"enospc"}`, `{"fault":"disk","mode":"slow"}`,
		`{"fault":"disk","mode":"ok"}`, `{"fault":"clock","mode":"jump","offset_ms":-5000}`,
		`{"fault":"clock","mode":"drift","rate":0.5}`, `{"fault":"clock","mode":"ok"}`,
	} {
		if err := f.ApplyJSON([]byte(raw)); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	for _, raw := range []string{
		`{"fault":"disk","mode":"melt"}`, `{"fault":"clock","mode":"drift","rate":0}`,
		`{"fault":"clock","mode":"drift","rate":100}`, `not json`,
	} {
		if err := f.ApplyJSON([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", raw)
		}
	}
	if err := f.ApplyJSON([]byte(`{"fault":"disk","mode":"eio"}`)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fh, err := f.Disk.OpenFile(dir+"/x", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("open under eio: %v", err)
	}
	defer fh.Close()
	if _, err := fh.Write([]byte("x")); !errors.Is(err, errorfs.EIO) {
		t.Fatalf("write under eio: %v, want EIO", err)
	}
}
