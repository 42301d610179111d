// Package tracker holds a Raft leader's view of one follower: its Progress
// (match and next index, Raft §5.3) in one of three states — probe,
// replicate or snapshot — and the in-flight window that bounds pipelined
// AppendEntries by message count and by payload bytes.
//
// Contract: Progress methods enforce Match < Next and panic with a clear
// message if a caller would break it; Inflights never holds more than its
// limits allow (callers check Full before Add; Add panics otherwise).
//
// It must never build or send messages, read the log, or import time, os,
// net, sync or math/rand; the engine decides what to send.
package tracker
