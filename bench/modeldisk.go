package bench

import (
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/raftbench/raftbench/wal"
)

// ModelFsyncOption is the target option that puts a target on a
// ModelDisk: model-fsync=D, with D from 1ns to 1s, fsync on. The inproc
// and floor targets take it, and so do the peer targets (their log
// files' fsyncs call Wait); `raftbench compare --model-fsync D` gives it
// to every system of the comparison.
const ModelFsyncOption = "model-fsync"

// maxModelFsync bounds the option: a modelled fsync longer than a second
// is a typo, not a disk.
const maxModelFsync = time.Second

// ModelDisk is a wal.FS whose fsyncs take a fixed time and never stall
// (the option model-fsync=D; targets with log files of their own call
// Wait where they would fsync). Every write goes to the real file (put
// the data directory on a tmpfs such as /dev/shm and no disk is
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
// A wait lasts at least D, plus the timer's wake-up: on the 2-core VM the
// project measured on until round 30 of results/compare/NOTES.md, a 300
// µs wait took 361 µs at the median with nothing else running (100 µs:
// 145; 1 ms: 1.09 ms) and 364-404 µs on average in the WALs under load.
// Every system on the model pays the same, so a ranking on it is fair;
// the log cycle tables show the wait as measured.
//
// Every file the WAL writes goes through it (segments, spare segments,
// hard state, snapshot files, the directories' fsyncs), so all of their
// syncs are modelled. It must never hold data anyone needs: nothing it
// acknowledges is durable.
type ModelDisk struct {
	wal.OSFS // Remove, Rename and MkdirAll as they are
	fsync    time.Duration

	mu       sync.Mutex
	sleepers []*sleeper // idle ones; one per sync in progress
	waits    uint64     // modelled fsyncs begun
}

// NewModelDisk reads the model-fsync option's value for target (named in
// every error): a duration from 1ns to 1s, with fsync on.
func NewModelDisk(target, value string, fsync bool) (*ModelDisk, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 || d > maxModelFsync {
		return nil, fmt.Errorf("%s: %s=%q: want a duration from 1ns to %v", target, ModelFsyncOption, value, maxModelFsync)
	}
	if !fsync {
		return nil, fmt.Errorf("%s: %s needs fsync on (it replaces each fsync by a wait)", target, ModelFsyncOption)
	}
	return newModelDisk(d), nil
}

func newModelDisk(fsync time.Duration) *ModelDisk { return &ModelDisk{fsync: fsync} }

// waitsBegun counts the modelled fsyncs begun so far (tests).
func (m *ModelDisk) waitsBegun() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waits
}

// Contract is c as it holds on the model: durability DurabilityModelled
// (as durable as no fsync at all), the model named.
func (m *ModelDisk) Contract(c Contract) Contract {
	c.Durability = DurabilityModelled
	c.FsyncsPerCommit = "modelled: every fsync a wait of " + m.fsync.String() + " (option " + ModelFsyncOption + "); nothing is durable"
	return c
}

// Wait is one modelled fsync.
func (m *ModelDisk) Wait() {
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

// Close releases the sleepers (their timer descriptors); the target
// calls it once its logs are closed.
func (m *ModelDisk) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sleepers {
		s.close()
	}
	m.sleepers = nil
}

// OpenFile implements wal.FS: the OS's file, its syncs modelled.
func (m *ModelDisk) OpenFile(name string, flag int, perm fs.FileMode) (wal.File, error) {
	f, err := m.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &modelFile{File: f, disk: m}, nil
}

// modelFile is a real file whose syncs are modelled.
type modelFile struct {
	wal.File
	disk *ModelDisk
}

// Sync waits the model's fsync time.
func (f *modelFile) Sync() error {
	f.disk.Wait()
	return nil
}

// Datasync (wal's datasyncer) is the same wait.
func (f *modelFile) Datasync() error {
	f.disk.Wait()
	return nil
}

// Writeback (wal.WritebackFile) starts nothing; waiting for it is a
// modelled fsync, as a range writeback is a sync's write half.
func (f *modelFile) Writeback(_, _ int64, wait bool) (bool, error) {
	if wait {
		f.disk.Wait()
	}
	return true, nil
}
