package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// buildLog creates a WAL in dir holding entries 1..n (term 1), with
// segments of segBytes, and closes it. It returns its segment files.
func buildLog(t *testing.T, dir string, n uint64, segBytes int) []segment {
	t.Helper()
	w, err := Open(dir, Options{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= n; i++ {
		mustAppend(t, w, ents(i, i, 1))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(filepath.Join(dir, logDirName))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// frameStarts returns the byte offset of every tidwall frame in data.
func frameStarts(t *testing.T, data []byte) []int {
	t.Helper()
	var out []int
	for p := 0; p < len(data); {
		_, n, why := frameAt(data, p)
		if why != "" {
			t.Fatalf("bad frame at %d: %s", p, why)
		}
		out = append(out, p)
		p += n
	}
	return out
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o640); err != nil {
		t.Fatal(err)
	}
}

// relocate maps a path under src to the same path under dst.
func relocate(t *testing.T, path, src, dst string) string {
	rel, err := filepath.Rel(src, path)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, rel)
}

// fixture is a closed log of n entries whose last segment holds at
// least two records, so its final record has a whole record before it.
func fixture(t *testing.T) (dir string, n uint64, segs []segment) {
	for n = 23; ; n++ {
		dir = t.TempDir()
		segs = buildLog(t, dir, n, 256)
		data, err := os.ReadFile(segs[len(segs)-1].path)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) >= 3 && len(frameStarts(t, data)) >= 2 {
			return dir, n, segs
		}
	}
}

// Cutting the last segment anywhere inside its final record is a torn
// tail: Open succeeds with exactly the whole records before it, and the
// log accepts the lost index again.
func TestTornTailEveryOffset(t *testing.T) {
	src, n, segs := fixture(t)
	last := segs[len(segs)-1].path
	data, _ := os.ReadFile(last)
	starts := frameStarts(t, data)
	final := starts[len(starts)-1]
	for cut := final; cut < len(data); cut++ {
		dir := copyDir(t, src)
		rewrite(t, relocate(t, last, src, dir), func(b []byte) []byte { return b[:cut] })
		w, err := Open(dir, Options{SegmentBytes: 256})
		if err != nil {
			t.Fatalf("cut at %d of %d: open: %v", cut, len(data), err)
		}
		wantLog(t, w, 1, n-1, constTerm(1))
		mustAppend(t, w, ents(n, n, 2))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w, err = Open(dir, Options{SegmentBytes: 256})
		if err != nil {
			t.Fatalf("cut at %d: reopen: %v", cut, err)
		}
		wantLog(t, w, 1, n, func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i == n] })
		_ = w.Close()
	}
}

// Garbage after the last whole record (zeros from a file extended by a
// crash, random bytes, a garbled final record) is cut as a torn tail.
func TestGarbledTailIsCut(t *testing.T) {
	src, n, segs := fixture(t)
	last := segs[len(segs)-1].path
	tails := map[string]func([]byte) []byte{
		"zeros1":    func(b []byte) []byte { return append(b, 0) },
		"zeros4096": func(b []byte) []byte { return append(b, make([]byte, 4096)...) },
		"random":    func(b []byte) []byte { return append(b, "\x13\xff\x00garbage\x7f\x80\x81"...) },
		"flip-final-record": func(b []byte) []byte {
			b[len(b)-3] ^= 0x10
			return b
		},
		"huge-length": func(b []byte) []byte { return binary.AppendUvarint(b, 1<<40) },
	}
	for name, f := range tails {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, src)
			rewrite(t, relocate(t, last, src, dir), f)
			w, err := Open(dir, Options{SegmentBytes: 256})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer w.Close()
			want := n
			if name == "flip-final-record" {
				want = n - 1
			}
			wantLog(t, w, 1, want, constTerm(1))
		})
	}
}

// Flipping a byte of any record that is not the final one of the last
// segment is corruption: Open fails naming the file and the offset of
// the damaged record's frame. Never skipped, never cut.
func TestBitFlipIsCorruption(t *testing.T) {
	src, _, segs := fixture(t)
	flips := 0
	for si, s := range segs {
		data, _ := os.ReadFile(s.path)
		starts := frameStarts(t, data)
		if si == len(segs)-1 {
			starts = starts[:len(starts)-1] // the final record is the tail
		}
		for k, start := range starts {
			end := len(data)
			if k+1 < len(frameStarts(t, data)) {
				end = frameStarts(t, data)[k+1]
			}
			positions := []int{start, start + 1, start + 9, (start + end) / 2, end - 1}
			if k == 0 {
				positions = positions[:0]
				for p := start; p < end; p++ {
					positions = append(positions, p)
				}
			}
			for _, p := range positions {
				dir := copyDir(t, src)
				path := relocate(t, s.path, src, dir)
				rewrite(t, path, func(b []byte) []byte { b[p] ^= 0x41; return b })
				w, err := Open(dir, Options{SegmentBytes: 256})
				if err == nil {
					w.Close()
					t.Fatalf("flip at %s:%d: open succeeded", s.path, p)
				}
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != path || ce.Offset != int64(start) {
					t.Fatalf("flip at %s:%d (frame at %d): error %v", path, p, start, err)
				}
				flips++
			}
		}
	}
	t.Logf("%d flips, all reported", flips)
}

// Damage that appears after Open (bit rot in a segment tidwall has not
// cached) is caught by the CRC check on read.
func TestBitFlipFoundOnRead(t *testing.T) {
	dir, n, segs := fixture(t)
	w, err := Open(dir, Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rewrite(t, segs[0].path, func(b []byte) []byte { b[len(b)-2] ^= 1; return b })
	_, err = w.Entries(1, n+1)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != segs[0].path {
		t.Fatalf("read after flip: %v", err)
	}
}

func TestBadDirectories(t *testing.T) {
	goodMeta := encodeMeta()
	wrongVersion := append([]byte(metaMagic), 9, 0, 0, 0)
	wrongVersion = binary.LittleEndian.AppendUint32(wrongVersion, crcOf(wrongVersion))
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to open
		want  error
		msg   string
	}{
		{"not a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "file")
			writeFile(t, p, []byte("x"))
			return p
		}, ErrNotWAL, ""},
		{"foreign files", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "notes.txt"), []byte("hello"))
			return dir
		}, ErrNotWAL, "notes.txt"},
		{"wrong magic", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, metaName), []byte("SQLite format 3\x00"))
			return dir
		}, ErrNotWAL, "magic"},
		{"wrong version", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, metaName), wrongVersion)
			return dir
		}, ErrVersion, "version 9"},
		{"marker checksum", func(t *testing.T, dir string) string {
			b := append([]byte(nil), goodMeta...)
			b[len(b)-1] ^= 1
			writeFile(t, filepath.Join(dir, metaName), b)
			return dir
		}, ErrCorrupt, "checksum"},
		{"missing log dir", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, metaName), goodMeta)
			return dir
		}, ErrCorrupt, "log/"},
		{"corrupt hard state", func(t *testing.T, dir string) string {
			buildLog(t, dir, 3, 256)
			writeFile(t, filepath.Join(dir, hardStateName), []byte("RBHS-short"))
			return dir
		}, ErrCorrupt, hardStateName},
		{"corrupt snapshot", func(t *testing.T, dir string) string {
			buildLog(t, dir, 3, 256)
			s := raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 2, Term: 1}, Data: []byte("state")}
			b := encodeSnapshot(&s)
			b[10] ^= 1
			writeFile(t, filepath.Join(dir, snapshotName), b)
			return dir
		}, ErrCorrupt, snapshotName},
		{"segment gap", func(t *testing.T, dir string) string {
			segs := buildLog(t, dir, 30, 256)
			os.Remove(segs[1].path)
			return dir
		}, ErrCorrupt, "previous segment ends"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.setup(t, t.TempDir())
			w, err := Open(path, Options{})
			if err == nil {
				w.Close()
				t.Fatal("open succeeded")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
	if _, err := Open(t.TempDir(), Options{SegmentBytes: -1}); err == nil {
		t.Fatal("negative SegmentBytes accepted")
	}
	if _, err := Open(t.TempDir(), Options{MaxBatchBytes: 10, MaxQueueBytes: 5}); err == nil {
		t.Fatal("MaxBatchBytes > MaxQueueBytes accepted")
	}
}

func TestInterruptedInitIsResumed(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, logDirName), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, metaName+tmpSuffix), []byte("half"))
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, ents(1, 2, 1))
	w.Close()
}

// A crash after SaveSnapshot replaced the snapshot file but before it
// compacted (or discarded) the log is finished by Open.
func TestSnapshotReconciledOnOpen(t *testing.T) {
	for _, c := range []struct {
		index, term uint64
		first, last uint64
	}{
		{20, 1, 21, 40}, // matching: compact
		{20, 2, 21, 20}, // term mismatch: discard
		{90, 1, 91, 90}, // beyond the log: discard
	} {
		dir := t.TempDir()
		buildLog(t, dir, 40, 256)
		s := raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: c.index, Term: c.term}}
		if err := (syncer{}).atomicWrite(dir, snapshotName, encodeSnapshot(&s)); err != nil {
			t.Fatal(err)
		}
		w, err := Open(dir, Options{SegmentBytes: 256})
		if err != nil {
			t.Fatal(err)
		}
		if w.FirstIndex() != c.first || w.LastIndex() != c.last {
			t.Fatalf("snapshot %d/%d: range [%d, %d], want [%d, %d]", c.index, c.term, w.FirstIndex(), w.LastIndex(), c.first, c.last)
		}
		if c.last >= c.first {
			wantLog(t, w, c.first, c.last, constTerm(1))
		}
		w.Close()
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// SaveSnapshot removes only whole segments the snapshot covers; the
// segment holding the first kept index is left as it is (not rewritten),
// its covered entries hidden, also after a reopen; appends go on.
func TestSnapshotCompactionKeepsPartialSegment(t *testing.T) {
	dir := t.TempDir()
	segs := buildLog(t, dir, 40, 256)
	if len(segs) < 4 {
		t.Fatalf("only %d segments: test does not cross boundaries", len(segs))
	}
	// A snapshot in the middle of the third segment.
	partial := segs[2]
	upTo := partial.start + 1
	if upTo+1 >= segs[3].start {
		t.Fatalf("segment %d too short for the test", partial.start)
	}
	before := mustRead(t, partial.path)
	w, err := Open(dir, Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SaveSnapshot(raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: upTo, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	check := func(l *WAL, last uint64) {
		t.Helper()
		if l.FirstIndex() != upTo+1 || l.LastIndex() != last {
			t.Fatalf("range [%d, %d], want [%d, %d]", l.FirstIndex(), l.LastIndex(), upTo+1, last)
		}
		wantLog(t, l, upTo+1, last, constTerm(1))
		if _, err := l.Entries(upTo, upTo+1); !errorsIs(err, ErrCompacted) {
			t.Fatalf("read of covered index %d: %v, want ErrCompacted", upTo, err)
		}
		// The covered segments are removed in the background: wait
		// (bounded) for the remover.
		var now []segment
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			now, err = listSegments(filepath.Join(dir, logDirName))
			if err != nil {
				t.Fatal(err)
			}
			if now[0].start == partial.start || time.Now().After(deadline) {
				break
			}
		}
		if now[0].start != partial.start {
			t.Fatalf("first segment starts at %d, want %d (whole covered segments removed, partial kept)", now[0].start, partial.start)
		}
		if got := mustRead(t, partial.path); !bytes.Equal(got[:len(before)], before) {
			t.Fatal("partially covered segment was rewritten")
		}
	}
	check(w, 40)
	mustAppend(t, w, ents(41, 45, 1))
	check(w, 45)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = Open(dir, Options{SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	check(w, 45)
}
