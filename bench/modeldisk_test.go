package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/wal"
)

// TestModelDiskWaitsInsteadOfSyncing: every way the WAL makes a file
// durable (Sync, Datasync, a waited range writeback) lasts at least the
// model's fsync time, an unwaited writeback does not wait, and the bytes
// written reach the real file.
func TestModelDiskWaitsInsteadOfSyncing(t *testing.T) {
	const d = 20 * time.Millisecond
	m := newModelDisk(d)
	defer m.Close()
	name := filepath.Join(t.TempDir(), "f")
	f, err := m.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("record")); err != nil {
		t.Fatal(err)
	}
	type datasyncer interface{ Datasync() error }
	waits := map[string]func() error{
		"Sync":     f.Sync,
		"Datasync": f.(datasyncer).Datasync,
		"Writeback(wait)": func() error {
			ok, err := wal.Writeback(f, 0, 6, true)
			if !ok {
				t.Error("Writeback(wait): not done")
			}
			return err
		},
	}
	for what, call := range waits {
		from := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if took := time.Since(from); took < d {
			t.Errorf("%s took %v, want at least the model's %v", what, took, d)
		}
	}
	before := m.waitsBegun()
	if ok, err := wal.Writeback(f, 0, 6, false); !ok || err != nil {
		t.Fatalf("Writeback(no wait): %v %v", ok, err)
	}
	if got := m.waitsBegun(); got != before || got != uint64(len(waits)) {
		t.Errorf("%d modelled fsyncs after %d waiting calls and one Writeback(no wait): want %d", got, len(waits), len(waits))
	}
	if b, err := os.ReadFile(name); err != nil || string(b) != "record" {
		t.Fatalf("file holds %q (%v), want the bytes written", b, err)
	}
}

// TestModelFsyncOption: both targets take model-fsync, refuse bad values
// and fsync off with an error naming it, commit writes through it, spend
// at least the model's time per fsync, and say in their contract that
// nothing is durable.
func TestModelFsyncOption(t *testing.T) {
	const d = 2 * time.Millisecond
	ctx := context.Background()
	opens := map[string]func(context.Context, TargetConfig) (Target, error){"inproc": openInproc, "floor": openFloor}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			for _, bad := range []string{"0", "-1ms", "2s", "fast"} {
				_, err := open(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"model-fsync": bad}})
				if err == nil || !strings.Contains(err.Error(), "model-fsync") {
					t.Errorf("model-fsync=%s: %v, want an error naming the option", bad, err)
				}
			}
			_, err := open(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Options: map[string]string{"model-fsync": "1ms"}})
			if err == nil || !strings.Contains(err.Error(), "fsync on") {
				t.Errorf("model-fsync with fsync off: %v, want an error saying it needs fsync on", err)
			}
			tg, err := open(ctx, TargetConfig{Nodes: 3, Dir: t.TempDir(), Fsync: true, Options: map[string]string{"model-fsync": d.String()}})
			if err != nil {
				t.Fatal(err)
			}
			commitWrites(t, tg, "model-fsync="+d.String())
			st := tg.Stats()
			if st.Log.Flushes == 0 || st.Log.FsyncNanos < st.Log.Flushes*uint64(d) {
				t.Errorf("%d group commits spent %v fsyncing, want at least %v each", st.Log.Flushes, time.Duration(st.Log.FsyncNanos), d)
			}
			c := tg.(ContractTarget).Contract()
			if c.Durability != DurabilityModelled || !strings.Contains(c.FsyncsPerCommit, "model-fsync") {
				t.Errorf("contract %+v: want durability %q and the model named", c, DurabilityModelled)
			}
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
