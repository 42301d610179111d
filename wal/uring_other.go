//go:build !linux

package wal

import (
	"errors"
	"os"
)

// ringSyncer is the io_uring fsync offload, Linux only (uring_linux.go).
type ringSyncer struct{}

func newRingSyncer() (*ringSyncer, error) {
	return nil, errors.New("io_uring is Linux-only")
}

// FsyncOffloadAvailable reports whether the WAL can offload fsyncs to
// io_uring: never outside Linux.
func FsyncOffloadAvailable() bool { return false }

func (*ringSyncer) Sync(f *os.File, datasync bool) error { return f.Sync() }

func (*ringSyncer) Close() error { return nil }
