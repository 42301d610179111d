// Package wal is raftbench's embedded write-ahead log, built on
// github.com/tidwall/wal. (On-disk format and crash guarantees: see the
// package documentation once the engine lands.)
package wal
