package wal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// logMessages records every log message (for what recovery said).
type logMessages struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logMessages) Enabled(context.Context, slog.Level) bool { return true }
func (h *logMessages) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	h.mu.Unlock()
	return nil
}
func (h *logMessages) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logMessages) WithGroup(string) slog.Handler      { return h }
func (h *logMessages) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// zeroEndingEntry returns entry i with data chosen so that its record
// (which ends with its CRC) ends in two zero bytes: recovery must not
// take them for the preallocated zeros after it.
func zeroEndingEntry(t *testing.T, i, term uint64) raftpb.Entry {
	t.Helper()
	for k := 0; k < 1<<22; k++ {
		e := raftpb.Entry{Index: i, Term: term, Type: raftpb.EntryNormal, Data: fmt.Appendf(nil, "zero-ending-%d", k)}
		rec := appendRecord(nil, &e)
		if rec[len(rec)-1] == 0 && rec[len(rec)-2] == 0 {
			return e
		}
	}
	t.Fatal("no record ending in two zero bytes found")
	return raftpb.Entry{}
}

// With PreallocateSegments, segments after the first are written in
// place into zero-filled files; the zeros never reach a reader or a
// reopen: a clean Close cuts them, and Open after a crash (a copy of the
// directory taken while the WAL ran) cuts them quietly, keeping a last
// record that itself ends in zero bytes, and removes the spare.
func TestPreallocatedSegmentsSurviveCloseAndCrash(t *testing.T) {
	const seg = 1 << 16
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: seg, PreallocateSegments: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	spare := filepath.Join(dir, spareName)
	preallocSeen := false
	next := uint64(1)
	for round := 0; round < 8; round++ {
		// Let the spare be ready so the rotation takes it.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st, err := os.Stat(spare); err == nil && st.Size() >= seg {
				break
			}
		}
		for k := 0; k < 40; k++ { // 40 x 20 entries of ~100 bytes: more than one segment
			mustAppend(t, w, ents(next, next+19, 1))
			next += 20
		}
		segs, err := listSegments(w.logDir)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(segs[len(segs)-1].path); err == nil && st.Size() > int64(w.fl.tailSize) && w.fl.prealloc {
			preallocSeen = true
		}
	}
	if !preallocSeen {
		t.Fatal("no segment was ever written in place into a preallocated file")
	}
	last := zeroEndingEntry(t, next, 1)
	mustAppend(t, w, []raftpb.Entry{last})

	crashed := copyDir(t, dir) // the WAL is running: its tail still holds zeros
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spare); !os.IsNotExist(err) {
		t.Fatalf("Close left the spare behind: %v", err)
	}

	check := func(name, d string, h *logMessages) {
		t.Helper()
		w2, err := Open(d, Options{SegmentBytes: seg, PreallocateSegments: true, Logger: slog.New(h)})
		if err != nil {
			t.Fatalf("%s: reopen: %v", name, err)
		}
		defer w2.Close()
		if f, la := w2.FirstIndex(), w2.LastIndex(); f != 1 || la != next {
			t.Fatalf("%s: range = [%d, %d], want [1, %d]", name, f, la, next)
		}
		wantEntries(t, w2, 1, next-1, constTerm(1))
		es, err := w2.Entries(next, next+1)
		if err != nil || len(es) != 1 || string(es[0].Data) != string(last.Data) {
			t.Fatalf("%s: the zero-ending last record = %v, %v; want %q", name, es, err, last.Data)
		}
		if h.has("torn tail") {
			t.Fatalf("%s: recovery took the preallocated zeros for a torn tail: %v", name, h.msgs)
		}
		segs, err := listSegments(filepath.Join(d, logDirName))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs[:len(segs)-1] {
			data, err := os.ReadFile(s.path)
			if err != nil {
				t.Fatal(err)
			}
			if data[len(data)-1] == 0 && len(data) > seg+(1<<10) {
				t.Fatalf("%s: closed segment %s kept a zero tail (%d bytes)", name, s.path, len(data))
			}
		}
		// Appending continues after the data, not after the zeros.
		mustAppend(t, w2, ents(next+1, next+50, 2))
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		w3, err := Open(d, Options{SegmentBytes: seg, PreallocateSegments: true})
		if err != nil {
			t.Fatalf("%s: second reopen: %v", name, err)
		}
		defer w3.Close()
		if w3.LastIndex() != next+50 {
			t.Fatalf("%s: last index %d after appending, want %d", name, w3.LastIndex(), next+50)
		}
	}
	check("closed", dir, &logMessages{})
	h := &logMessages{}
	check("crashed", crashed, h)
	if !h.has("cut the unused preallocated tail") {
		t.Fatalf("crashed copy: recovery did not report cutting the preallocated tail: %v", h.msgs)
	}
	if _, err := os.Stat(filepath.Join(crashed, spareName)); !os.IsNotExist(err) {
		t.Fatalf("Open left the crashed copy's spare behind: %v", err)
	}
}

// Only zeros are cut: garbage after the last record in a preallocated
// tail is a torn tail, cut by the scan with its warning.
func TestCutZeroTailLeavesGarbageToTheScan(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, logDirName)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, e := range ents(1, 3, 1) {
		rec := appendRecord(nil, &e)
		data = append(data, byte(len(rec)))
		data = append(data, rec...)
	}
	good := len(data)
	data = append(data, 0x07, 0xff, 0x00) // a torn frame
	data = append(data, make([]byte, 100)...)
	path := filepath.Join(logDir, segmentName(1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h := &logMessages{}
	if err := cutZeroTail(logDir, slog.New(h), syncer{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != int64(len(data)) || h.has("preallocated") {
		t.Fatalf("garbage tail was cut as zeros (size %d of %d): %v", st.Size(), len(data), h.msgs)
	}
	// Zeros alone after the records are cut to the records.
	if err := os.WriteFile(path, append(data[:good:good], make([]byte, 500)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cutZeroTail(logDir, slog.New(h), syncer{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != int64(good) {
		t.Fatalf("zero tail not cut: size %d, want %d", st.Size(), good)
	}
}
