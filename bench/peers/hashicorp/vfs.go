package hashicorp

import (
	"sync/atomic"

	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"

	"github.com/raftbench/raftbench/bench"
)

// syncFS is raft-wal's own file system with a seam around Sync: it counts
// segment fsyncs and, when fsync is off, skips them (raft-wal has no
// no-sync option of its own); on a modelled disk (option model-fsync)
// each is the model's wait instead.
type syncFS struct {
	inner *walfs.FS
	fsync bool
	model *bench.ModelDisk // nil: real fsyncs
	syncs *atomic.Uint64   // fsyncs made (or modelled)
}

func newSyncFS(fsync bool, model *bench.ModelDisk, syncs *atomic.Uint64) *syncFS {
	return &syncFS{inner: walfs.New(), fsync: fsync, model: model, syncs: syncs}
}

func (s *syncFS) ListDir(dir string) ([]string, error) { return s.inner.ListDir(dir) }
func (s *syncFS) Delete(dir, name string) error        { return s.inner.Delete(dir, name) }

func (s *syncFS) OpenReader(dir, name string) (types.ReadableFile, error) {
	return s.inner.OpenReader(dir, name)
}

func (s *syncFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := s.inner.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return &syncFile{WritableFile: f, fs: s}, nil
}

func (s *syncFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := s.inner.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return &syncFile{WritableFile: f, fs: s}, nil
}

type syncFile struct {
	types.WritableFile
	fs *syncFS
}

func (f *syncFile) Sync() error {
	if !f.fs.fsync {
		return nil
	}
	if f.fs.model != nil {
		f.fs.model.Wait()
	} else if err := f.WritableFile.Sync(); err != nil {
		return err
	}
	f.fs.syncs.Add(1)
	return nil
}

// entryCounter is a raft-wal metrics.Collector that keeps the counters
// this target reports and ignores the rest.
type entryCounter struct {
	entries atomic.Uint64 // log_entries_written
	appends atomic.Uint64 // log_appends (one segment commit each)
}

func (c *entryCounter) IncrementCounter(name string, delta uint64) {
	switch name {
	case "log_entries_written":
		c.entries.Add(delta)
	case "log_appends":
		c.appends.Add(delta)
	}
}

func (c *entryCounter) SetGauge(string, uint64) {}
