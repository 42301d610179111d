package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// Preallocated segments (the default; Options.AppendSegments turns them
// off).
//
// An append that grows a file changes its size, so its fsync must also
// commit the file system's journal: on ext4 about 3 device writes per
// fsync instead of 2, and measured on the project's VM the disk alone
// (bench.MeasureQuorumFloor, 3 logs, 16 writers) did 1.23-2.1x the
// writes per second into zero-filled files with fdatasync than appending
// with fsync. So each new segment is a spare file
// prepared beforehand on a goroutine of its own: zeros written up to
// SegmentBytes plus spareSlack and fsynced (its size is durable),
// then, at a rotation, renamed into the log directory under the
// segment's name (the directory's fsync makes the name durable before
// any commit in it is acknowledged, as for a created segment). Frames
// are written over the zeros from offset 0 (the file is opened without
// O_APPEND, so writes go where the last one ended), and a commit that
// writes inside the zeroed size only needs fdatasync: the data and
// nothing else. A write past it grows the file, which fdatasync covers
// too.
//
// The zeros after the last frame (the "padding") exist only in the last
// segment: every step that lets another reader see the tail's file cuts
// them first. A rotation cuts them before the full segment's fsync
// (so the cut is durable before the next segment exists), and closing
// the tail (Close, the truncations tidwall performs, a reset) cuts them
// without an fsync: after a crash Open finds either the cut or the
// zeros, and cuts zeros after the last whole record of the last segment
// like any torn tail (scanSegmentFile; Info, not Warn, when the cut
// bytes are all zeros). The first segment after Open is appended to as
// before unless it is empty (a new log: it is replaced by zeros at once,
// see preallocateEmptyTail); the spare for the next one is prepared at
// once. A rotation
// whose spare is not ready yet creates a segment as without the option
// (the flusher never waits for zeros), and the spare serves the next.
// Open removes spare files a crash left behind. A spare is a compacted
// segment instead of zeros whenever a snapshot has freed one
// (recycle.go).

// spareSlack: the last frame of a segment may end past SegmentBytes (a
// segment ends with the first frame that reaches it), by up to one
// entry; the slack (a quarter of a segment, at most 1 MiB) keeps typical
// ones inside the zeroed size. A frame past it grows the file, which is
// only slower.
func spareSlack(segmentBytes int) int { return min(segmentBytes/4, 1<<20) }

// spareTmpPattern names the spare files in the WAL directory.
const spareTmpPattern = "segment.*.spare.tmp"

// spareResult is a prepared spare: its path, or why it could not be
// made. recycled: a compacted segment (recycle.go), whose records all
// have indexes <= oldUpTo; else zeros.
type spareResult struct {
	path     string
	err      error
	recycled bool
	oldUpTo  uint64
}

// spareSeq numbers spare files so a new one never collides with one an
// abandoned WAL in the same process is still writing.
var spareSeq atomic.Uint64

// preallocating: segments are not appended (Options.AppendSegments) and
// fsyncs are on (with UnsafeNoFsync there is no journal commit to save,
// only zeros to write).
func (w *WAL) preallocating() bool { return !w.opts.AppendSegments && !w.sy.off }

// prepareSpare starts preparing the next spare segment file, unless one
// is already being prepared or segments are appended: a recycled
// segment if there is one, else a file of zeros. Flusher (and Open).
func (w *WAL) prepareSpare() {
	f := &w.fl
	if !w.preallocating() || f.spare != nil {
		return
	}
	ch := make(chan spareResult, 1)
	f.spare = ch
	if w.takeRecycled(ch) {
		return
	}
	sy := w.sy // read here: Open may still set w.sy.ring after this
	go func() { ch <- w.writeSpare(sy) }()
}

// writeSpare writes a new spare segment file in the WAL directory: a
// segment's size plus spareSlack of zeros, fsynced (blocking, on the
// caller's goroutine: the ring is the flusher's). On failure it removes
// what it wrote. sy is the WAL's syncer as its caller saw it.
func (w *WAL) writeSpare(sy syncer) spareResult {
	path := filepath.Join(w.dir, fmt.Sprintf("segment.%d.spare.tmp", spareSeq.Add(1)))
	sy.ring = nil
	return spareResult{path: path, err: writeZeros(sy, path, w.opts.SegmentBytes+spareSlack(w.opts.SegmentBytes))}
}

// spareStepBytes: a spare's zeros are written out in steps of this
// size (range writeback, as snapshot files are: see snapWritebackBytes),
// each step started once written and the one before it waited for, so
// at most two steps of zeros are ever queued at the disk. Written whole
// and then fsynced, a spare put its 5 MiB in the disk's queue at once;
// the three replicas of a cluster rotate at about the same index, and
// every log fdatasync of that moment waited behind 15 MiB of zeros
// (56-91 ms in a trace at 64 clients, the p99.9 of the run).
var spareStepBytes = 256 << 10

// zeroStep is the zeros every spare is written from: shared and never
// written to, so a spare allocates no buffer of its own (a new 256 KiB
// one each was about 2% of the heap bytes an in-process cluster
// allocated per write).
var zeroStep [256 << 10]byte

// writeZeros writes size zeros to a new file at path, step by step
// (spareStepBytes), and fsyncs it; on failure it removes what it wrote.
// Where range writeback is unavailable the zeros are written whole and
// the fsync writes them out.
func writeZeros(sy syncer, path string, size int) error {
	f, err := sy.files().OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	zeros := zeroStep[:min(size, spareStepBytes, len(zeroStep))]
	stepwise := !sy.off
	var waitFrom, waitTo int64 // the step being written out, not yet waited for
	for off := 0; off < size && err == nil; {
		n := min(size-off, len(zeros))
		var w int
		w, err = f.Write(zeros[:n])
		if err == nil && w != n {
			err = fmt.Errorf("short write to %s", path)
		}
		if err != nil {
			break
		}
		if stepwise {
			var ok bool
			ok, err = Writeback(f, int64(off), int64(n), false)
			if err == nil && ok && waitTo > waitFrom {
				_, err = Writeback(f, waitFrom, waitTo-waitFrom, true)
			}
			stepwise = ok
			waitFrom, waitTo = int64(off), int64(off+n)
		}
		off += n
	}
	if err == nil && stepwise && waitTo > waitFrom {
		_, err = Writeback(f, waitFrom, waitTo-waitFrom, true)
	}
	if err == nil {
		err = sy.file(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = sy.files().Remove(path)
		return fmt.Errorf("wal: prepare spare segment %s: %w", path, err)
	}
	return nil
}

// takeSpare returns the prepared spare if one is ready, without
// waiting; a failed preparation is logged and dropped (the rotation then
// creates the segment, and the next spare is prepared after it).
func (w *WAL) takeSpare() (spareResult, bool) {
	f := &w.fl
	if f.spare == nil {
		return spareResult{}, false
	}
	select {
	case r := <-f.spare:
		f.spare = nil
		if r.err != nil {
			w.log.Warn("wal: no preallocated segment", "err", r.err)
			return spareResult{}, false
		}
		return r, true
	default:
		return spareResult{}, false
	}
}

// preallocateEmptyTail puts a file of zeros in place of an empty tail
// segment (a new log, or one a snapshot reset), so a short-lived or
// lightly loaded WAL does not append to its whole first segment. With
// wait (Open) it writes the file itself; else (the flusher) it uses a
// ready spare or leaves the tail as it is. Failing to write zeros only
// costs the optimisation; failing to install them fails like any write.
func (w *WAL) preallocateEmptyTail(wait bool) error {
	f := &w.fl
	if !w.preallocating() || f.tail == nil || f.tailSize != 0 || f.padded {
		return nil
	}
	var spare spareResult
	if wait {
		spare = w.writeSpare(w.sy)
		if spare.err != nil {
			w.log.Warn("wal: no preallocated segment", "err", spare.err)
			return nil
		}
	} else if s, ok := w.takeSpare(); ok {
		spare = s
	} else {
		return nil
	}
	name := f.tail.Name()
	if start, ok := segmentStart(name); !ok || !w.spareFits(spare, start) {
		if ok {
			w.prepareSpare()
		} else {
			_ = w.sy.files().Remove(spare.path)
		}
		return nil
	}
	if err := f.closeTail(); err != nil {
		return err
	}
	nf, err := w.openSpareAsSegment(spare, name)
	if err != nil {
		return err
	}
	// rotated: the first commit fsyncs the file whole and the directory
	// (the rename over the empty segment).
	f.tail, f.tailSize, f.rotated, f.padded = nf, 0, true, true
	w.countSpareUsed(spare)
	return nil
}

// countSpareUsed counts a segment started in a spare.
func (w *WAL) countSpareUsed(spare spareResult) {
	w.ctr.preallocated.Add(1)
	if spare.recycled {
		w.ctr.recycled.Add(1)
	}
}

// dropSpare waits for a spare in preparation and removes it (Close).
func (w *WAL) dropSpare() {
	f := &w.fl
	if f.spare == nil {
		return
	}
	r := <-f.spare
	f.spare = nil
	if r.err == nil {
		_ = w.sy.files().Remove(r.path)
	}
}

// openSpareAsSegment renames a prepared spare to the segment path and
// opens it for writing from offset 0 (not O_APPEND: the zeros, or a
// recycled segment's old frames, are overwritten).
func (w *WAL) openSpareAsSegment(spare spareResult, path string) (File, error) {
	if err := w.sy.files().Rename(spare.path, path); err != nil {
		_ = w.sy.files().Remove(spare.path)
		return nil, fmt.Errorf("wal: install preallocated segment %s: %w", path, err)
	}
	nf, err := w.sy.files().OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open preallocated segment %s: %w", path, err)
	}
	return nf, nil
}

// cutPadding cuts the zeros after the tail's last frame, if it has any.
func (f *flusher) cutPadding() error {
	if !f.padded || f.tail == nil {
		return nil
	}
	f.padded = false
	if err := f.tail.Truncate(f.tailSize); err != nil {
		return fmt.Errorf("wal: cut the zeros after %s's last record: %w", f.tail.Name(), err)
	}
	return nil
}

// removeSpareLeftovers deletes spare files a crash left behind.
func removeSpareLeftovers(dir string, sy syncer) error {
	left, err := filepath.Glob(filepath.Join(dir, spareTmpPattern))
	if err != nil {
		return err
	}
	for _, p := range left {
		if err := sy.files().Remove(p); err != nil {
			return fmt.Errorf("wal: remove spare segment %s: %w", p, err)
		}
	}
	return nil
}

// datasyncer is a File that can make its data durable without the
// metadata a read does not need (fdatasync). wal/errorfs implements it.
type datasyncer interface {
	Datasync() error
}

// data makes f's written data durable: fdatasync (through the ring when
// the flusher has one), else the File's Datasync, else a full Sync.
func (s syncer) data(f File) error {
	if s.off {
		return nil
	}
	if osf, ok := f.(*os.File); ok {
		if s.ring != nil {
			return s.ring.Sync(osf, true)
		}
		return Fdatasync(osf)
	}
	if d, ok := f.(datasyncer); ok {
		return d.Datasync()
	}
	return f.Sync()
}
