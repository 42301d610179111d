//go:build !linux

package wal

import "os"

// fdatasync: where fdatasync(2) is not used, a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }
