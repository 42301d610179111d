package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// Snapshots are written beside the log, not by it: CreateSnapshot opens
// a temporary file (snapshot.<n>.tmp) that the caller fills on its own
// goroutine, streaming, and Commit fsyncs it there. Only then does the
// flusher take over, for the cheap part: rename it over the snapshot
// file, fsync the directory (the commit point), compact the log. Log
// writes therefore never wait behind a snapshot's bytes, however large
// the state, and the log is never truncated before the snapshot that
// covers it is durable.
const snapTmpPattern = "snapshot.*.tmp"

// A snapshot file is written out as it grows, in steps of
// snapWritebackBytes (as RocksDB's and Pebble's bytes_per_sync do): each
// step starts the writeback of the bytes written since the last one and
// waits for the step before it (sync_file_range). Dirty snapshot pages
// then never exceed about two steps. The file used to be fsynced every
// 32 MiB instead: each of those fsyncs (25-32 ms) wrote 32 MiB in one
// ext4 journal commit (data=ordered), and log fsyncs of the other nodes
// at that moment waited for the same commit (17-31 ms). Small steps
// keep what a log fsync can find in flight small, and need no journal
// commit of their own. Where range writeback is unavailable (not Linux,
// a file system or FS without it) the file is still fsynced every
// snapSyncEvery bytes.
var snapWritebackBytes int64 = 1 << 20

// snapRangeWriteback false forces the fsync-every-snapSyncEvery path
// even where range writeback works (benchmarks compare the two).
var snapRangeWriteback = true

const snapSyncEvery = 32 << 20

var snapTmpSeq atomic.Uint64

// SnapshotFile is a snapshot being written (CreateSnapshot): exactly the
// announced number of data bytes, then Commit or Abort. Not safe for
// concurrent use; it may be used from any one goroutine.
type SnapshotFile struct {
	w       *WAL
	meta    raftpb.SnapshotMeta
	f       File
	path    string
	bw      *bufio.Writer
	crc     uint32
	size, n uint64
	// Writeback (see snapWritebackBytes): total is every byte handed to
	// bw (header included); bytes [wbWait, wbStart) are being written
	// out, bytes before wbWait were waited for; noRange: the file cannot
	// do range writeback, fsync every snapSyncEvery instead.
	total, wbWait, wbStart int64
	noRange                bool
	started                time.Time // for Options.SnapshotWriteRate
	err                    error
	closed                 bool // the file is closed (finished or aborted)
	finished               bool // complete and fsynced
	// installed: handed to the flusher or removed; nothing more to do
	installed bool
}

// CreateSnapshot starts writing a snapshot of size data bytes at meta.
// The file is written on the caller's goroutine, through Options.FS.
func (w *WAL) CreateSnapshot(meta raftpb.SnapshotMeta, size uint64) (*SnapshotFile, error) {
	if meta.Index == 0 {
		return nil, errors.New("wal: snapshot with index 0")
	}
	w.mu.Lock()
	err := w.usable()
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var f File
	var path string
	for {
		path = filepath.Join(w.dir, "snapshot."+strconv.FormatUint(snapTmpSeq.Add(1), 10)+tmpSuffix)
		f, err = w.sy.files().OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wal: create snapshot %d: %w", meta.Index, err)
	}
	head := snapshotHead(meta, size)
	sf := &SnapshotFile{w: w, meta: meta, f: f, path: path, bw: bufio.NewWriterSize(f, 256<<10),
		crc: crc32.Checksum(head, castagnoli), size: size}
	if _, err := sf.bw.Write(head); err != nil {
		sf.Abort()
		return nil, fmt.Errorf("wal: write snapshot %d: %w", meta.Index, err)
	}
	sf.total = int64(len(head))
	sf.started = time.Now()
	return sf, nil
}

// Write appends data bytes; more than the announced size is an error.
func (s *SnapshotFile) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, fmt.Errorf("wal: snapshot %d: write after Commit or Abort", s.meta.Index)
	}
	if s.n+uint64(len(p)) > s.size {
		s.err = fmt.Errorf("wal: snapshot %d: %d bytes written, %d announced", s.meta.Index, s.n+uint64(len(p)), s.size)
		return 0, s.err
	}
	if _, err := s.bw.Write(p); err != nil {
		s.err = fmt.Errorf("wal: write snapshot %d: %w", s.meta.Index, err)
		return 0, s.err
	}
	s.crc = crc32.Update(s.crc, castagnoli, p)
	s.n += uint64(len(p))
	s.total += int64(len(p))
	if err := s.writeback(); err != nil {
		s.err = fmt.Errorf("wal: write back snapshot %d: %w", s.meta.Index, err)
		return 0, s.err
	}
	s.pace()
	return len(p), nil
}

// pace sleeps while the file is ahead of Options.SnapshotWriteRate.
func (s *SnapshotFile) pace() {
	rate := s.w.opts.SnapshotWriteRate
	if rate <= 0 {
		return
	}
	due := time.Duration(float64(s.total) / float64(rate) * float64(time.Second))
	if ahead := due - time.Since(s.started); ahead > time.Millisecond {
		time.Sleep(ahead)
	}
}

// writeback keeps the file's dirty pages bounded (see
// snapWritebackBytes): once a step's worth of bytes has reached the file
// (bw passes them on in 256 KiB writes), start writing them out and wait
// for the step before.
func (s *SnapshotFile) writeback() error {
	if s.w.sy.off {
		return nil
	}
	if s.noRange || !snapRangeWriteback {
		s.noRange = true
		if s.total-s.wbStart < snapSyncEvery {
			return nil
		}
		if err := s.bw.Flush(); err != nil {
			return err
		}
		s.wbStart = s.total
		return s.f.Sync()
	}
	inFile := s.total - int64(s.bw.Buffered())
	if inFile-s.wbStart < snapWritebackBytes {
		return nil
	}
	ok, err := Writeback(s.f, s.wbStart, inFile-s.wbStart, false)
	if err != nil || !ok {
		s.noRange = !ok
		return err
	}
	if s.wbWait < s.wbStart {
		if _, err := Writeback(s.f, s.wbWait, s.wbStart-s.wbWait, true); err != nil {
			return err
		}
	}
	s.wbWait, s.wbStart = s.wbStart, inFile
	return nil
}

// Commit finishes the file (checksum, fsync), then has the flusher
// install it: rename over the stored snapshot, fsync the directory,
// compact (or discard) the log up to it. A snapshot older than the one
// stored meanwhile is dropped with ErrCompacted. The file is removed on
// any error; a crash at any point leaves the old snapshot or the new one.
func (s *SnapshotFile) Commit() error {
	if err := s.Finish(); err != nil {
		return err
	}
	return s.Install()
}

// Finish completes the file (checksum, fsync) without installing it:
// Install does that later (a follower's snapshot is installed only when
// its core says so). The file is removed on an error.
func (s *SnapshotFile) Finish() error {
	if s.closed {
		return fmt.Errorf("wal: snapshot %d: already finished or aborted", s.meta.Index)
	}
	err := s.err
	if err == nil && s.n != s.size {
		err = fmt.Errorf("wal: snapshot %d: %d of %d announced bytes written", s.meta.Index, s.n, s.size)
	}
	if err == nil {
		_, err = s.bw.Write(binary.LittleEndian.AppendUint32(nil, s.crc))
		if err == nil {
			err = s.bw.Flush()
		}
		if err != nil {
			err = fmt.Errorf("wal: write snapshot %d: %w", s.meta.Index, err)
		}
	}
	if err == nil && !s.w.sy.off && !s.noRange && s.wbWait < s.total+4 {
		// Write out the rest before the fsync, so the fsync itself is
		// left with the metadata and the disk's cache: a journal commit
		// (ours or a log fsync's) then finds no snapshot data to wait
		// for. An error here is an fsync error.
		if _, err = Writeback(s.f, s.wbWait, s.total+4-s.wbWait, true); err != nil {
			err = fmt.Errorf("wal: write back snapshot %d: %w", s.meta.Index, err)
		}
	}
	if err == nil && !s.w.sy.off {
		// Blocking fsync on this goroutine: the ring is the flusher's,
		// and a long snapshot fsync must not hold it. It is what makes
		// the file durable; the writeback before only shortens it.
		if err = s.f.Sync(); err != nil {
			err = fmt.Errorf("wal: fsync snapshot %d: %w", s.meta.Index, err)
		}
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close snapshot %d: %w", s.meta.Index, cerr)
	}
	s.closed = true
	if err != nil {
		_ = s.w.sy.files().Remove(s.path)
		return err
	}
	s.finished = true
	return nil
}

// Install installs a finished file (see Commit); on an error the file
// is removed. Meta is the snapshot's metadata.
func (s *SnapshotFile) Install() error {
	if !s.finished || s.installed {
		return fmt.Errorf("wal: snapshot %d: install needs a finished, uninstalled file", s.meta.Index)
	}
	s.installed = true
	err := s.w.installSnapshotFile(s.meta, s.path)
	if err != nil {
		_ = s.w.sy.files().Remove(s.path)
	}
	return err
}

// Meta is the metadata the file was created with.
func (s *SnapshotFile) Meta() raftpb.SnapshotMeta { return s.meta }

// Abort drops a snapshot that will not be installed, and its file.
func (s *SnapshotFile) Abort() {
	if s.installed {
		return
	}
	if !s.closed {
		s.closed = true
		_ = s.f.Close()
	}
	s.installed = true
	_ = s.w.sy.files().Remove(s.path)
}

// installSnapshotFile queues the install of a complete, fsynced file.
func (w *WAL) installSnapshotFile(meta raftpb.SnapshotMeta, path string) error {
	return w.submitOp(func() (item, bool, error) {
		if meta.Index < w.subSnap {
			return item{}, false, fmt.Errorf("%w: snapshot at %d is older than the stored one at %d", ErrCompacted, meta.Index, w.subSnap)
		}
		applySnapshot(&w.sub, meta)
		w.subSnap = meta.Index
		return item{kind: opSnapshot, snap: raftpb.Snapshot{Meta: meta}, path: path}, true, nil
	})
}

// removeSnapshotLeftovers deletes the files of snapshot writes a crash
// interrupted (never committed, so never the snapshot).
func removeSnapshotLeftovers(dir string, sy syncer) error {
	left, err := filepath.Glob(filepath.Join(dir, snapTmpPattern))
	if err != nil {
		return err
	}
	for _, p := range left {
		if err := sy.files().Remove(p); err != nil {
			return fmt.Errorf("wal: remove unfinished snapshot %s: %w", p, err)
		}
	}
	return nil
}

// SnapshotData is the data of the stored snapshot, read from its file:
// the leader streams it to followers and a node restores from it without
// holding the image in memory. It checks the file's checksum as the
// data is read in order: the read that reaches the end fails with
// ErrCorrupt if any byte differs, so a consumer that needs the whole
// (a follower installing, a restore) never completes on damaged data.
// Not safe for concurrent use.
type SnapshotData struct {
	Meta raftpb.SnapshotMeta
	path string
	f    *os.File
	off  int64
	size int64
	crc  uint32 // over the header and data[:next]
	next int64
	want uint32
}

// OpenSnapshot opens the stored snapshot's data. Only the header is read
// now (cheap on any goroutine). The open file stays readable even if a
// newer snapshot replaces it meanwhile.
func (w *WAL) OpenSnapshot() (*SnapshotData, error) {
	w.mu.Lock()
	has := w.snap.Index != 0
	w.mu.Unlock()
	if !has {
		return nil, ErrNoSnapshot
	}
	path := filepath.Join(w.dir, snapshotName)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: open snapshot: %w", err)
	}
	d, err := openSnapshotData(path, f)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return d, nil
}

// openSnapshotData parses the header of a snapshot file.
func openSnapshotData(path string, f *os.File) (*SnapshotData, error) {
	bad := func(why string) (*SnapshotData, error) {
		return nil, fmt.Errorf("%w: %s: %s", ErrCorrupt, path, why)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	// The header is small (voters and the configuration extension are
	// bounded): read what fits, decode it with the file's own decoder.
	const maxHead = 1 << 20
	head := make([]byte, min(fileSize, maxHead))
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	meta, hlen, err := decodeSnapshotHead(head)
	if err != nil {
		return bad(err.Error())
	}
	dataLen := binary.LittleEndian.Uint64(head[hlen-8:])
	if uint64(fileSize) != uint64(hlen)+dataLen+4 {
		return bad(fmt.Sprintf("data length %d does not match the file (%d bytes)", dataLen, fileSize))
	}
	var tail [4]byte
	if _, err := f.ReadAt(tail[:], fileSize-4); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	return &SnapshotData{Meta: meta, path: path, f: f, off: int64(hlen), size: int64(dataLen),
		crc: crc32.Checksum(head[:hlen], castagnoli), want: binary.LittleEndian.Uint32(tail[:])}, nil
}

// readSnapshotData opens a snapshot file's data and verifies its
// checksum over every byte, streaming.
func readSnapshotData(path string, f *os.File) (*SnapshotData, error) {
	d, err := openSnapshotData(path, f)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, d.Reader()); err != nil {
		return nil, err
	}
	return d, nil
}

// ReadAt reads data bytes at off (relative to the data's start).
func (d *SnapshotData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > d.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), d.size-off)]
	n, err := d.f.ReadAt(p, d.off+off)
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("wal: read %s: %w", d.path, err)
	}
	if off <= d.next && off+int64(n) > d.next {
		d.crc = crc32.Update(d.crc, castagnoli, p[d.next-off:n])
		d.next = off + int64(n)
	}
	if off+int64(n) == d.size {
		if err := d.verify(); err != nil {
			return 0, err
		}
		return n, io.EOF
	}
	return n, nil
}

// verify completes the checksum over any bytes not read in order yet
// and compares it with the file's.
func (d *SnapshotData) verify() error {
	if d.next < d.size {
		sec := io.NewSectionReader(d.f, d.off+d.next, d.size-d.next)
		buf := make([]byte, 256<<10)
		for {
			k, err := sec.Read(buf)
			d.crc = crc32.Update(d.crc, castagnoli, buf[:k])
			d.next += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("wal: read %s: %w", d.path, err)
			}
		}
	}
	if d.crc != d.want {
		return fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, d.path)
	}
	return nil
}

// Size is the number of data bytes.
func (d *SnapshotData) Size() int64 { return d.size }

// Reader reads the data from its start (checked like ReadAt).
func (d *SnapshotData) Reader() io.Reader { return io.NewSectionReader(d, 0, d.size) }

// Close releases the file.
func (d *SnapshotData) Close() error { return d.f.Close() }
