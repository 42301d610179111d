package etcd

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"

	"go.etcd.io/raft/v3"
	raftpb "go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/raftbench/raftbench/bench"
)

// Record kinds in a node's log file.
const (
	recEntry     = 1
	recHardState = 2
	recSnapshot  = 3 // snapshot metadata only; the data lives in memory
)

// recHeader is len(4) | crc32c(4) | kind(1); the CRC covers kind and payload.
const recHeader = 9

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logFile is one node's append-only durability file: each Ready becomes
// one write and one fdatasync (on a modelled disk, the model's wait).
type logFile struct {
	f     *os.File
	fd    int
	fsync bool
	model *bench.ModelDisk // option model-fsync, or nil
	buf   []byte
	prev  *raftpb.HardState // last hard state written
}

func openLogFile(path string, fsync bool, model *bench.ModelDisk) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("etcd: open log: %w", err)
	}
	return &logFile{f: f, fd: int(f.Fd()), fsync: fsync, model: model, prev: &raftpb.HardState{}}, nil
}

// save writes a Ready's state and, as etcd server does, fdatasyncs only
// when raft.MustSync says so (new entries, term or vote; a commit-index
// change alone need not be durable) or a snapshot arrived. It reports
// whether it synced.
func (l *logFile) save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) (bool, error) {
	l.buf = l.buf[:0]
	var err error
	if snap != nil && snap.GetMetadata().GetIndex() != 0 {
		if l.buf, err = appendRecord(l.buf, recSnapshot, snap.GetMetadata()); err != nil {
			return false, err
		}
	}
	for _, e := range ents {
		if l.buf, err = appendRecord(l.buf, recEntry, e); err != nil {
			return false, err
		}
	}
	mustSync := snap != nil && snap.GetMetadata().GetIndex() != 0
	if hs != nil && !isEmptyHardState(hs) {
		if l.buf, err = appendRecord(l.buf, recHardState, hs); err != nil {
			return false, err
		}
		mustSync = mustSync || raft.MustSync(hs, l.prev, len(ents))
		l.prev = hs
	}
	mustSync = mustSync || len(ents) > 0
	if len(l.buf) == 0 {
		return false, nil
	}
	if _, err := l.f.Write(l.buf); err != nil {
		return false, fmt.Errorf("etcd: write log: %w", err)
	}
	if !l.fsync || !mustSync {
		return false, nil
	}
	if l.model != nil {
		l.model.Wait()
		return true, nil
	}
	if err := unix.Fdatasync(l.fd); err != nil {
		return false, fmt.Errorf("etcd: fdatasync log: %w", err)
	}
	return true, nil
}

func appendRecord(b []byte, kind byte, m proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, recHeader)...)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("etcd: encode record: %w", err)
	}
	b[start+8] = kind
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-recHeader))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], castagnoli))
	return b, nil
}

func isEmptyHardState(hs *raftpb.HardState) bool {
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0
}

func (l *logFile) close() error { return l.f.Close() }
