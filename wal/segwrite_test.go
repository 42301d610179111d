package wal

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
	twal "github.com/tidwall/wal"
)

// formatBatches is a deterministic sequence of writes: batches of 1-24
// entries with 0-150 bytes of data each, and every 7th batch replacing
// a suffix of the log (a new leader's entries), so segments are cut
// mid-batch, at batch ends, and rewritten by truncations.
func formatBatches(n int) [][]raftpb.Entry {
	rng := rand.New(rand.NewPCG(7, 21))
	var out [][]raftpb.Entry
	next, term := uint64(1), uint64(1)
	for b := 0; b < n; b++ {
		if b%7 == 6 && next > 10 {
			next -= uint64(1 + rng.IntN(8))
			term++
		}
		es := make([]raftpb.Entry, 1+rng.IntN(24))
		for i := range es {
			data := make([]byte, rng.IntN(151))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			es[i] = raftpb.Entry{Index: next, Term: term, Type: raftpb.EntryType(rng.IntN(2)), Data: data}
			next++
		}
		out = append(out, es)
	}
	return out
}

// writeWithTidwall writes the same batches with tidwall's own writer,
// the one the WAL used before it wrote its segments itself.
func writeWithTidwall(t *testing.T, dir string, segmentBytes int, batches [][]raftpb.Entry) {
	t.Helper()
	tl, err := twal.Open(dir, tidwallOptions(segmentBytes))
	if err != nil {
		t.Fatal(err)
	}
	var b twal.Batch
	for _, es := range batches {
		last, _ := tl.LastIndex()
		if es[0].Index <= last {
			if err := tl.TruncateBack(es[0].Index - 1); err != nil {
				t.Fatal(err)
			}
		}
		b.Clear()
		for i := range es {
			b.Write(es[i].Index, appendRecord(nil, &es[i]))
		}
		if err := tl.WriteBatch(&b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
}

// segmentFiles returns the non-empty files of a log directory by name.
// tidwall opens the next segment as soon as one is full, so after a
// batch that ends exactly at a segment boundary it has an empty file the
// WAL creates only with the next write.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, de := range des {
		b := mustRead(t, filepath.Join(dir, de.Name()))
		if len(b) > 0 {
			out[de.Name()] = b
		}
	}
	return out
}

// TestSegmentsMatchTidwallWriter: the WAL's own segment writer produces
// byte for byte the files tidwall's writer produces for the same writes
// (same frames, same segment boundaries and names, same truncations),
// plain tidwall reads every entry back, and a log written by tidwall is
// opened, read and continued by the WAL.
func TestSegmentsMatchTidwallWriter(t *testing.T) {
	const segmentBytes = 700
	batches := formatBatches(160)
	want := map[uint64]raftpb.Entry{}
	var last uint64
	for _, es := range batches {
		for _, e := range es {
			want[e.Index] = e
		}
		last = es[len(es)-1].Index
	}

	ours := t.TempDir()
	w, err := Open(ours, Options{SegmentBytes: segmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	for _, es := range batches {
		mustAppend(t, w, es)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	theirs := t.TempDir()
	writeWithTidwall(t, theirs, segmentBytes, batches)

	got, exp := segmentFiles(t, filepath.Join(ours, logDirName)), segmentFiles(t, theirs)
	if len(got) < 10 {
		t.Fatalf("only %d segments: the test must cross many boundaries", len(got))
	}
	if len(got) != len(exp) {
		t.Fatalf("%d segment files, tidwall's writer made %d", len(got), len(exp))
	}
	for name, b := range exp {
		if !bytes.Equal(got[name], b) {
			t.Fatalf("segment %s differs from tidwall's (%d vs %d bytes)", name, len(got[name]), len(b))
		}
	}

	// Plain tidwall reads what the WAL wrote.
	tl, err := twal.Open(filepath.Join(ours, logDirName), tidwallOptions(segmentBytes))
	if err != nil {
		t.Fatalf("tidwall opens the WAL's segments: %v", err)
	}
	first, _ := tl.FirstIndex()
	tlLast, _ := tl.LastIndex()
	if first != 1 || tlLast != last {
		t.Fatalf("tidwall sees [%d, %d], want [1, %d]", first, tlLast, last)
	}
	for i := uint64(1); i <= last; i++ {
		rec, err := tl.Read(i)
		if err != nil {
			t.Fatalf("tidwall reads index %d: %v", i, err)
		}
		e, err := decodeRecordAt(rec, i)
		if err != nil || e.Term != want[i].Term || e.Type != want[i].Type || !bytes.Equal(e.Data, want[i].Data) {
			t.Fatalf("index %d read by tidwall: %+v %v, want %+v", i, e, err, want[i])
		}
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}

	// The WAL opens a log tidwall wrote, reads it, and appends to it.
	dir := t.TempDir()
	w, err = Open(dir, Options{SegmentBytes: segmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, logDirName)
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(theirs, logDir); err != nil {
		t.Fatal(err)
	}
	w, err = Open(dir, Options{SegmentBytes: segmentBytes})
	if err != nil {
		t.Fatalf("open a log tidwall wrote: %v", err)
	}
	defer w.Close()
	more := []raftpb.Entry{{Index: last + 1, Term: 99, Data: []byte("after")}}
	mustAppend(t, w, more)
	want[last+1] = more[0]
	es, err := w.Entries(1, last+2)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Term != want[e.Index].Term || !bytes.Equal(e.Data, want[e.Index].Data) {
			t.Fatalf("index %d = %+v, want %+v", e.Index, e, want[e.Index])
		}
	}
}

// TestRotationIsDurableAndReadable crosses segment boundaries in every
// way a commit can (mid-batch, at a batch's end, several in one batch,
// a write bigger than a segment), fsyncs every segment it leaves and
// the directory, and reads everything back across segments, before and
// after a restart and a torn tail.
func TestRotationIsDurableAndReadable(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	// 30 entries of ~39 bytes framed: ~6 per segment, 4-5 rotations in one write.
	mustAppend(t, w, ents(1, 30, 1))
	st := w.Stats()
	segs, err := listSegments(w.logDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 4 {
		t.Fatalf("%d segments after 30 entries of 256-byte segments", len(segs))
	}
	// One fsync for the commit; one per segment left behind and one of
	// the directory, counted apart.
	if st.Fsyncs != 1 || st.OtherFsyncs < uint64(len(segs)) {
		t.Fatalf("stats %+v with %d segments", st, len(segs))
	}
	for i := uint64(31); i <= 60; i++ {
		mustAppend(t, w, ents(i, i, 1))
	}
	wantEntries(t, w, 1, 60, constTerm(1))
	wantEntries(t, w, 17, 43, constTerm(1))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ = listSegments(filepath.Join(dir, logDirName))
	for _, s := range segs[:len(segs)-1] {
		if sz := fileSize(t, s.path); sz < 256 || sz > 256+64 {
			t.Fatalf("segment %s holds %d bytes; segments end at the first frame reaching 256", s.path, sz)
		}
	}
	// A torn tail in the newest segment is cut, and the log continues.
	tail := segs[len(segs)-1].path
	b := mustRead(t, tail)
	writeFile(t, tail, append(b, 0x40, 1, 2, 3))
	w, err = Open(dir, Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wantLog(t, w, 1, 60, constTerm(1))
	mustAppend(t, w, ents(61, 90, 2))
	wantEntries(t, w, 55, 90, func(i uint64) uint64 { return 1 + i/61 })
}
