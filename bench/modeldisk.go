package bench

import (
	"io/fs"
	"sync"
	"time"

	"github.com/raftbench/raftbench/wal"
)

// modelDisk is a wal.FS whose fsyncs take a fixed time and never stall:
// the option model-fsync=D of the inproc and floor targets (the floor
// target's logs call wait directly). Every write goes to the real
// file (put the data directory on a tmpfs such as /dev/shm and no disk is
// touched), and every fsync, fdatasync or range writeback the WAL asks
// for waits D instead, parked like the io_uring's fsync, and makes
// nothing durable.
//
// Why: a real disk's latency is a distribution with stalls (this
// project's VM disk holds every fsync for 10-15 ms a few times a second
// in its slow hours), so a system's tail on it mixes what the system
// does with what the disk did that minute. On the model the disk is the
// same in every run and hour: the tail that remains is the system's own
// (its queues, its CPU, its garbage collector) plus a constant.
//
// Every file the WAL writes goes through it (segments, spare segments,
// hard state, snapshot files, the directories' fsyncs), so all of their
// syncs are modelled. It must never hold data anyone needs: nothing it
// acknowledges is durable.
type modelDisk struct {
	wal.OSFS // Remove, Rename and MkdirAll as they are
	fsync    time.Duration

	mu       sync.Mutex
	sleepers []*sleeper // idle ones; one per sync in progress
	waits    uint64     // modelled fsyncs begun (tests)
}

func newModelDisk(fsync time.Duration) *modelDisk { return &modelDisk{fsync: fsync} }

// modelContract is what a target on the model promises about its fsyncs.
func modelContract(fsync time.Duration) string {
	return "none: every fsync modelled as a wait of " + fsync.String() + " (option model-fsync); nothing is durable"
}

// wait is one modelled fsync.
func (m *modelDisk) wait() {
	m.mu.Lock()
	m.waits++
	var s *sleeper
	if n := len(m.sleepers); n > 0 {
		s, m.sleepers = m.sleepers[n-1], m.sleepers[:n-1]
	}
	m.mu.Unlock()
	if s == nil {
		s = newSleeper()
	}
	deadline := time.Now().Add(m.fsync)
	// The sleeper may wake early (see sleeper): sleep again until due.
	for d := m.fsync; d > 0; d = time.Until(deadline) {
		s.sleep(d, nil)
	}
	m.mu.Lock()
	m.sleepers = append(m.sleepers, s)
	m.mu.Unlock()
}

// close releases the sleepers (their timer descriptors).
func (m *modelDisk) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sleepers {
		s.close()
	}
	m.sleepers = nil
}

// OpenFile implements wal.FS: the OS's file, its syncs modelled.
func (m *modelDisk) OpenFile(name string, flag int, perm fs.FileMode) (wal.File, error) {
	f, err := m.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &modelFile{File: f, disk: m}, nil
}

// modelFile is a real file whose syncs are modelled.
type modelFile struct {
	wal.File
	disk *modelDisk
}

// Sync waits the model's fsync time.
func (f *modelFile) Sync() error {
	f.disk.wait()
	return nil
}

// Datasync (wal's datasyncer) is the same wait.
func (f *modelFile) Datasync() error {
	f.disk.wait()
	return nil
}

// Writeback (wal.WritebackFile) starts nothing; waiting for it is a
// modelled fsync, as a range writeback is a sync's write half.
func (f *modelFile) Writeback(_, _ int64, wait bool) (bool, error) {
	if wait {
		f.disk.wait()
	}
	return true, nil
}
