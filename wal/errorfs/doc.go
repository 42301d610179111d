// Package errorfs is a fault-injecting wal.FS for tests and chaos runs:
// it passes every operation to the real file system unless a rule
// matches, and then fails it (EIO, ENOSPC or any error), cuts a write
// short, delays it, or holds it until the test releases it. Range
// writeback (wal.WritebackFile) counts as a sync. It also remembers how much of each file the WAL
// has fsynced, so PowerCut can throw away everything that was not, as a
// power failure would.
//
// What PowerCut models: file contents past the last successful fsync of
// that file are lost; a file created since its directory was last
// fsynced disappears. Renames and removals are treated as durable when
// they return (the WAL fsyncs the directory right after each anyway).
// Every segment append, fsync and rotation of the WAL goes through it;
// tidwall/wal's truncations write their files directly, and the WAL
// reopens and fsyncs the tail through it right after each.
//
// It must never be used outside tests and test-only fault injection: it
// keeps per-file bookkeeping under one mutex and adds nothing a real
// disk needs.
package errorfs
