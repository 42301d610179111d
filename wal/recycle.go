package wal

import (
	"fmt"
	"path/filepath"
	"sync"
)

// Recycled segments (with preallocated segments, the default).
//
// A spare of zeros costs a segment's worth of disk writes per segment:
// the log's bytes are written twice. Measured on the project's VM
// (write-only, 256 clients, 3 in-process nodes on one disk), the zeros
// were a third to a half of every byte the disk took, and their share of
// every cache flush made each log fdatasync wait for them. But a
// snapshot already frees whole segment files that are exactly what a
// spare must be: allocated, written (no unwritten extents, so a commit
// inside needs only fdatasync) and at least SegmentBytes long. So the
// remover, instead of unlinking the segments a durable snapshot covers,
// renames up to Options.RecycleSegments of them into the WAL directory
// as spares (spareTmpPattern, so Open removes them after a crash), and
// prepareSpare takes one of those before it writes zeros. A recycled
// spare is used as it is: new frames overwrite its old ones from offset
// 0; it is not extended to the zero spare's slack (a final frame past
// its end grows the file, one slower commit per segment).
//
// Why the old bytes after the last new frame are safe. Every old record
// has an index at most the compaction point it was recycled at
// (oldUpTo), and a recycled file is used only for a segment whose
// first index is above that (rotate and preallocateEmptyTail check, and
// drop the file otherwise): so every old record's index is below every
// index the segment holds. Recovery accepts a frame only if its record
// checksums and holds exactly the next index (scanRecords), so no old
// record is ever read as part of the log, whatever its alignment; and a
// bad frame followed by old records is judged a torn tail, not damage,
// because only a well-formed record with an index above the last good
// one counts as "the log goes on after this" (validRecordAfter). Damage
// to a durable record is still found as before: the records written
// after it in the same segment carry higher indexes. The old bytes exist
// only in the tail segment, exactly like a zero spare's padding: every
// rotation and close cuts them (cutPadding), so tidwall, the readers and
// a non-last segment never see them. Files a suffix truncation removes
// are never recycled (tidwall unlinks them): their records could hold
// indexes the log reaches again.

// recycledFile is a compacted segment kept as a spare: every record in
// it has an index <= oldUpTo.
type recycledFile struct {
	path    string
	oldUpTo uint64
}

// recyclePool holds the recycled spares, newest last. The remover fills
// it, the flusher takes from it, Close empties it.
type recyclePool struct {
	mu    sync.Mutex
	files []recycledFile
}

func (p *recyclePool) put(f recycledFile) {
	p.mu.Lock()
	p.files = append(p.files, f)
	p.mu.Unlock()
}

// take returns the newest recycled file (the likeliest still in the page
// cache, so overwriting a partial page does not read it from disk).
func (p *recyclePool) take() (recycledFile, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.files) == 0 {
		return recycledFile{}, false
	}
	f := p.files[len(p.files)-1]
	p.files = p.files[:len(p.files)-1]
	return f, true
}

func (p *recyclePool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.files)
}

// drain empties the pool and returns what it held.
func (p *recyclePool) drain() []recycledFile {
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := p.files
	p.files = nil
	return fs
}

// recycling says whether compacted segments are kept as spares.
func (w *WAL) recycling() bool { return w.preallocating() && w.opts.RecycleSegments > 0 }

// retireSegment takes a compacted segment out of the log (remover
// only): renamed into the pool while it has room, else removed. Every
// record in it is <= upTo.
func (w *WAL) retireSegment(path string, upTo uint64) error {
	if w.recycling() && w.recycled.len() < w.opts.RecycleSegments {
		spare := filepath.Join(w.dir, fmt.Sprintf("segment.%d.spare.tmp", spareSeq.Add(1)))
		if err := w.sy.files().Rename(path, spare); err != nil {
			return err
		}
		w.recycled.put(recycledFile{path: spare, oldUpTo: upTo})
		return nil
	}
	return w.sy.files().Remove(path)
}

// takeRecycled delivers a recycled file as the next spare, if the pool
// has one. It is used as it is: asking the page cache to read it in
// first (posix_fadvise WILLNEED; it is overwritten in partial pages)
// measured 0.86-0.95x the throughput at 16 clients, where the file was
// still cached anyway.
func (w *WAL) takeRecycled(ch chan<- spareResult) bool {
	r, ok := w.recycled.take()
	if !ok {
		return false
	}
	ch <- spareResult{path: r.path, oldUpTo: r.oldUpTo, recycled: true}
	return true
}

// dropRecycled removes the pool's files (Close).
func (w *WAL) dropRecycled() {
	for _, r := range w.recycled.drain() {
		_ = w.sy.files().Remove(r.path)
	}
}

// spareFits says whether spare may become the segment starting at
// start: a recycled file only above every index it may hold. One that
// does not fit is removed (counted in Stats.RecycledRefused).
func (w *WAL) spareFits(spare spareResult, start uint64) bool {
	if !spare.recycled || start > spare.oldUpTo {
		return true
	}
	w.ctr.recycledRefused.Add(1)
	w.log.Warn("wal: recycled segment not used: it may hold indexes at or above the new segment's",
		"file", spare.path, "old_up_to", spare.oldUpTo, "segment_start", start)
	_ = w.sy.files().Remove(spare.path)
	return false
}
