// Package raftpb holds the data types that cross package boundaries in
// raftbench: log entries, hard state, snapshots and Raft messages, plus a
// compact binary codec for messages.
//
// It is a leaf package: pure data and pure functions. It must never import
// time, os, net, sync or math/rand, and it knows no Raft rules; the rules
// live in package engine.
package raftpb
