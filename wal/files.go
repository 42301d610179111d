package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// File names inside the WAL directory (see doc.go).
const (
	metaName      = "WAL"
	hardStateName = "hardstate"
	snapshotName  = "snapshot"
	logDirName    = "log"
	tmpSuffix     = ".tmp"
)

// Format constants.
const (
	metaMagic      = "RBWALv\x00\x01"
	formatVersion  = 1
	metaSize       = 8 + 4 + 4
	hardStateMagic = "RBHS"
	hardStateSize  = 4 + 3*8 + 4
	snapshotMagic  = "RBSN"
	// snapshotMagicConf marks a snapshot file whose voter list is
	// followed by the rest of the configuration (joint state, learners,
	// addresses); files with snapshotMagic stay readable.
	snapshotMagicConf = "RBSC"
	// maxSnapshotVoters bounds the voter list read from a snapshot file.
	maxSnapshotVoters = 1 << 16
)

// syncer does every fsync of the WAL: through the io_uring offload when
// the flusher has one (see ringSyncer), directly otherwise; the
// benchmarks-only UnsafeNoFsync option turns them all into no-ops here.
type syncer struct {
	off  bool
	ring *ringSyncer // nil: blocking fsync syscalls
	fs   FS          // every file the WAL writes, syncs, renames or removes
}

// files returns the FS to write through (OSFS when none was set).
func (s syncer) files() FS {
	if s.fs == nil {
		return OSFS{}
	}
	return s.fs
}

func (s syncer) file(f File) error {
	if s.off {
		return nil
	}
	if osf, ok := f.(*os.File); ok && s.ring != nil {
		return s.ring.Sync(osf, false)
	}
	return f.Sync()
}

// dir fsyncs a directory so that creations, renames and removals in it
// survive a power loss.
func (s syncer) dir(path string) error {
	if s.off {
		return nil
	}
	d, err := s.files().OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = s.file(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: fsync directory %s: %w", path, err)
	}
	return nil
}

// atomicWrite replaces dir/name with the concatenation of parts: write a
// temporary file, fsync it, rename it over the old one, fsync the
// directory. A crash leaves either the old or the new content, never a
// mix. Parts let a large snapshot be written without joining them.
func (s syncer) atomicWrite(dir, name string, parts ...[]byte) error {
	path := filepath.Join(dir, name)
	tmp := path + tmpSuffix
	f, err := s.files().OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			break
		}
	}
	if err == nil {
		err = s.file(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.files().Rename(tmp, path)
	}
	if err != nil {
		_ = s.files().Remove(tmp)
		return fmt.Errorf("wal: replace %s: %w", path, err)
	}
	return s.dir(dir)
}

func encodeMeta() []byte {
	b := make([]byte, 0, metaSize)
	b = append(b, metaMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// checkMeta validates the marker file's content.
func checkMeta(path string, b []byte) error {
	if len(b) != metaSize || string(b[:8]) != metaMagic {
		return fmt.Errorf("%w: %s has the wrong magic or size (%d bytes)", ErrNotWAL, path, len(b))
	}
	if crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, path)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return fmt.Errorf("%w: %s has version %d, this build reads version %d", ErrVersion, path, v, formatVersion)
	}
	return nil
}

func encodeHardState(hs raftpb.HardState) []byte {
	b := make([]byte, 0, hardStateSize)
	b = append(b, hardStateMagic...)
	b = binary.LittleEndian.AppendUint64(b, hs.Term)
	b = binary.LittleEndian.AppendUint64(b, hs.Vote)
	b = binary.LittleEndian.AppendUint64(b, hs.Commit)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHardState(path string, b []byte) (raftpb.HardState, error) {
	if len(b) != hardStateSize || string(b[:4]) != hardStateMagic {
		return raftpb.HardState{}, fmt.Errorf("%w: %s: bad magic or size (%d bytes)", ErrCorrupt, path, len(b))
	}
	if crc32.Checksum(b[:hardStateSize-4], castagnoli) != binary.LittleEndian.Uint32(b[hardStateSize-4:]) {
		return raftpb.HardState{}, fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, path)
	}
	return raftpb.HardState{
		Term:   binary.LittleEndian.Uint64(b[4:]),
		Vote:   binary.LittleEndian.Uint64(b[12:]),
		Commit: binary.LittleEndian.Uint64(b[20:]),
	}, nil
}

// Snapshot file layout:
//
//	"RBSN" | index u64 | term u64 | nVoters u32 | voters u64... | dataLen u64 | data | crc32c u32
//	"RBSC" | index u64 | term u64 | nVoters u32 | voters u64... | confLen u32 | conf | dataLen u64 | data | crc32c u32
//
// conf is raftpb.AppendConfExtension's encoding; "RBSC" is written only
// when it is not empty.
func encodeSnapshot(s *raftpb.Snapshot) []byte {
	head, data, tail := snapshotParts(s)
	return append(append(head, data...), tail...)
}

// snapshotParts is the snapshot file as header, data (s.Data itself, not
// a copy) and checksum, so saving a snapshot never copies the state.
func snapshotParts(s *raftpb.Snapshot) (head, data, tail []byte) {
	b := snapshotHead(s.Meta, uint64(len(s.Data)))
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, s.Data)
	return b, s.Data, binary.LittleEndian.AppendUint32(nil, crc)
}

// snapshotHead is the snapshot file's header, up to and including the
// data length.
func snapshotHead(meta raftpb.SnapshotMeta, dataLen uint64) []byte {
	ext := raftpb.AppendConfExtension(nil, meta.ConfState)
	b := make([]byte, 0, 4+8+8+4+8*len(meta.Voters)+4+len(ext)+8)
	if len(ext) > 0 {
		b = append(b, snapshotMagicConf...)
	} else {
		b = append(b, snapshotMagic...)
	}
	b = binary.LittleEndian.AppendUint64(b, meta.Index)
	b = binary.LittleEndian.AppendUint64(b, meta.Term)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta.Voters)))
	for _, v := range meta.Voters {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	if len(ext) > 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ext)))
		b = append(b, ext...)
	}
	return binary.LittleEndian.AppendUint64(b, dataLen)
}

func decodeSnapshot(path string, b []byte) (raftpb.Snapshot, error) {
	bad := func(why string) (raftpb.Snapshot, error) {
		return raftpb.Snapshot{}, fmt.Errorf("%w: %s: %s", ErrCorrupt, path, why)
	}
	if len(b) < 4+8+8+4+8+4 || (string(b[:4]) != snapshotMagic && string(b[:4]) != snapshotMagicConf) {
		return bad(fmt.Sprintf("bad magic or size (%d bytes)", len(b)))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return bad("checksum mismatch")
	}
	meta, hlen, err := decodeSnapshotHead(body)
	if err != nil {
		return bad(err.Error())
	}
	n := binary.LittleEndian.Uint64(body[hlen-8:])
	if n != uint64(len(body)-hlen) {
		return bad(fmt.Sprintf("data length %d does not match the file", n))
	}
	return raftpb.Snapshot{Meta: meta, Data: append([]byte(nil), body[hlen:]...)}, nil
}

// decodeSnapshotHead decodes a snapshot file's header from b (the file
// or a prefix of it) and returns its length, data length field included.
func decodeSnapshotHead(b []byte) (meta raftpb.SnapshotMeta, hlen int, err error) {
	if len(b) < 4+8+8+4+8 || (string(b[:4]) != snapshotMagic && string(b[:4]) != snapshotMagicConf) {
		return meta, 0, fmt.Errorf("bad magic or size (%d bytes)", len(b))
	}
	meta.Index = binary.LittleEndian.Uint64(b[4:])
	meta.Term = binary.LittleEndian.Uint64(b[12:])
	nv := binary.LittleEndian.Uint32(b[20:])
	rest := b[24:]
	if nv > maxSnapshotVoters || uint64(len(rest)) < 8*uint64(nv)+8 {
		return meta, 0, fmt.Errorf("voter count %d does not fit the file", nv)
	}
	if nv > 0 {
		meta.Voters = make([]uint64, nv)
		for i := range meta.Voters {
			meta.Voters[i] = binary.LittleEndian.Uint64(rest[8*i:])
		}
	}
	rest = rest[8*nv:]
	if string(b[:4]) == snapshotMagicConf {
		cl := binary.LittleEndian.Uint32(rest)
		if uint64(len(rest)) < 4+uint64(cl)+8 {
			return meta, 0, fmt.Errorf("configuration length %d does not fit the file", cl)
		}
		if err := raftpb.DecodeConfExtension(rest[4:4+cl], &meta.ConfState); err != nil {
			return meta, 0, err
		}
		rest = rest[4+cl:]
	}
	return meta, len(b) - len(rest) + 8, nil
}

// readOptional reads a file that may legitimately be absent.
func readOptional(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}
