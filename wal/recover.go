package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	twal "github.com/tidwall/wal"
)

// CorruptError reports a record that fails its checks. It names the
// place: segment file and byte offset for the file WAL, index for both.
// It wraps ErrCorrupt.
type CorruptError struct {
	File   string // segment file path; empty for MemLog
	Offset int64  // byte offset of the record's frame in File
	Index  uint64 // index the record should hold
	Reason string
}

func (e *CorruptError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("wal: corrupt record at index %d: %s", e.Index, e.Reason)
	}
	return fmt.Sprintf("wal: corrupt record in %s at byte offset %d (index %d): %s", e.File, e.Offset, e.Index, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// segment is one tidwall segment file; its name is its first index.
type segment struct {
	path  string
	start uint64
}

// segmentName mirrors tidwall's naming: the first index, 20 digits.
func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// segmentStart is the first index of the segment file at path, read
// from its name (segmentName).
func segmentStart(path string) (uint64, bool) {
	name := filepath.Base(path)
	if len(name) != 20 {
		return 0, false
	}
	idx, err := strconv.ParseUint(name, 10, 64)
	return idx, err == nil && idx > 0
}

// listSegments returns the plain segment files of logDir in index order.
// A leftover .START/.END file means tidwall could not finish an
// interrupted truncation: that is reported, not guessed around.
func listSegments(logDir string) ([]segment, error) {
	des, err := os.ReadDir(logDir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || len(name) < 20 {
			continue
		}
		idx, perr := strconv.ParseUint(name[:20], 10, 64)
		if perr != nil || idx == 0 {
			continue
		}
		switch {
		case len(name) == 20:
			segs = append(segs, segment{filepath.Join(logDir, name), idx})
		case strings.HasSuffix(name, ".START") || strings.HasSuffix(name, ".END"):
			return nil, fmt.Errorf("%w: %s: unfinished truncation marker left after recovery", ErrCorrupt, filepath.Join(logDir, name))
		}
	}
	slices.SortFunc(segs, func(a, b segment) int {
		if a.start < b.start {
			return -1
		}
		if a.start > b.start {
			return 1
		}
		return 0
	})
	return segs, nil
}

// tidwallOptions are the options every tidwall open uses (recovery and
// truncations; tidwall never writes entries): no fsync after its writes
// (the WAL fsyncs what it must), empty logs allowed (compaction and
// discards can empty it), zero-copy reads (the WAL checks every CRC).
func tidwallOptions(segmentBytes int) *twal.Options {
	return &twal.Options{
		NoSync:           true,
		SegmentSize:      segmentBytes,
		SegmentCacheSize: 2,
		NoCopy:           true,
		AllowEmpty:       true,
		DirPerms:         0o750,
		FilePerms:        0o640,
	}
}

// recoverLog brings logDir into a state tidwall will open and returns
// the index range and terms of every verified record.
//
// Pass 1 lets tidwall finish an interrupted TruncateFront/TruncateBack
// (its .START/.END files). tidwall then refuses an incomplete final
// frame with ErrCorrupt (tidwall/wal#21); that case, like every other,
// is judged by pass 2, which verifies every record of every segment and
// cuts a torn tail off the last one.
func recoverLog(logDir string, segmentBytes int, log *slog.Logger, sy syncer) (termIndex, error) {
	tl, err := twal.Open(logDir, tidwallOptions(segmentBytes))
	if err == nil {
		err = tl.Close()
	} else if errors.Is(err, twal.ErrCorrupt) {
		err = nil
	}
	if err != nil {
		return termIndex{}, fmt.Errorf("wal: open %s: %w", logDir, err)
	}
	segs, err := listSegments(logDir)
	if err != nil {
		return termIndex{}, err
	}
	if len(segs) == 0 {
		return termIndex{}, fmt.Errorf("%w: %s holds no segment file", ErrCorrupt, logDir)
	}
	var t termIndex
	t.resetTo(segs[0].start)
	for i, s := range segs {
		if s.start != t.last+1 {
			return termIndex{}, &CorruptError{File: s.path, Index: t.last + 1,
				Reason: fmt.Sprintf("segment starts at index %d, previous segment ends at %d", s.start, t.last)}
		}
		if err := scanSegmentFile(s, i == len(segs)-1, &t, log, sy); err != nil {
			return termIndex{}, err
		}
	}
	return t, nil
}

// scanSegmentFile verifies every record of one segment, appending them
// to t. In the last segment a bad frame with nothing valid after it is
// a torn tail: the file is cut back to the last whole record.
func scanSegmentFile(s segment, last bool, t *termIndex, log *slog.Logger, sy syncer) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	good, cerr := scanRecords(data, t)
	if cerr == nil {
		return nil
	}
	cerr.File = s.path
	if !last {
		return cerr
	}
	if q, found := validRecordAfter(data, good+1, t.last); found {
		cerr.Reason += fmt.Sprintf("; a valid record follows at byte offset %d, so this is not a torn tail", q)
		return cerr
	}
	f, err := sy.files().OpenFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(good))
	if err == nil {
		err = sy.file(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: cut torn tail of %s: %w", s.path, err)
	}
	if allZero(data[good:]) {
		// A preallocated segment's zeros (prealloc.go),
		// or a file a crash extended: nothing was written there.
		log.Info("wal: cut zeros after the last record of the last segment",
			"file", s.path, "offset", good, "dropped_bytes", len(data)-good, "last_index", t.last)
		return nil
	}
	if _, old := wellFormedRecordAfter(data, good, func(i uint64) bool { return i < s.start }); old {
		// A recycled segment's old frames (recycle.go), and possibly a
		// torn last write before them.
		log.Info("wal: cut a recycled segment's old records after the last record of the last segment",
			"file", s.path, "offset", good, "dropped_bytes", len(data)-good, "last_index", t.last)
		return nil
	}
	log.Warn("wal: cut torn tail of last segment",
		"file", s.path, "offset", good, "dropped_bytes", len(data)-good,
		"last_index", t.last, "reason", cerr.Reason)
	return nil
}

// scanRecords walks tidwall frames (uvarint length | payload) from the
// start of data, decoding each payload as a record that must hold index
// t.last+1. It returns the offset after the last good record and, if it
// stopped early, why.
func scanRecords(data []byte, t *termIndex) (int, *CorruptError) {
	p := 0
	for p < len(data) {
		rec, n, why := frameAt(data, p)
		if why != "" {
			return p, &CorruptError{Offset: int64(p), Index: t.last + 1, Reason: why}
		}
		e, err := decodeRecordAt(rec, t.last+1)
		if err != nil {
			return p, &CorruptError{Offset: int64(p), Index: t.last + 1, Reason: err.Error()}
		}
		t.append(e.Index, e.Term)
		p += n
	}
	return p, nil
}

// frameAt returns the payload of the tidwall frame at data[p:] and the
// frame's total length, or a reason it is incomplete.
func frameAt(data []byte, p int) (payload []byte, n int, why string) {
	size, k := binary.Uvarint(data[p:])
	if k <= 0 {
		return nil, 0, "frame length prefix is truncated or overflows"
	}
	if size > uint64(len(data)-p-k) {
		return nil, 0, fmt.Sprintf("frame of %d bytes runs past the end of the file (%d bytes left)", size, len(data)-p-k)
	}
	return data[p+k : p+k+int(size)], k + int(size), ""
}

// validRecordAfter looks for any well-formed record starting at or after
// byte from whose index is above minIndex. Finding one means the bad
// bytes before it are not a torn tail but damage in the middle of the
// log. It resynchronizes byte by byte because a damaged length prefix
// loses the framing; the cheap length check rejects almost every offset
// before a CRC is computed.
//
// Records with lower indexes do not count: a recycled segment's old
// frames (recycle.go) are well formed and all below the segment's first
// index.
func validRecordAfter(data []byte, from int, minIndex uint64) (int, bool) {
	return wellFormedRecordAfter(data, from, func(i uint64) bool { return i > minIndex })
}

// wellFormedRecordAfter returns the offset of the first well-formed
// record (framed, checksummed) at or after byte from whose index
// satisfies want.
func wellFormedRecordAfter(data []byte, from int, want func(index uint64) bool) (int, bool) {
	for q := from; q < len(data); q++ {
		rec, _, why := frameAt(data, q)
		if why != "" || len(rec) < recOverhead ||
			uint64(binary.LittleEndian.Uint32(rec[17:])) != uint64(len(rec)-recOverhead) {
			continue
		}
		if e, err := decodeRecord(rec); err == nil && want(e.Index) {
			return q, true
		}
	}
	return 0, false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
