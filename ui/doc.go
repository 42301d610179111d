// Package ui is raftbench's browser view: a live view of a running
// cluster (every node's Raft state, per-follower progress, message and
// fsync rates, throughput and latency over the last minute, leader changes
// and faults on a timeline), a step-through replay of a simulator run or
// of an exploration counterexample file, and the history of a chaos run
// as it is recorded, with its verdict at the end.
//
// Entry points: ForServe (serve's /ui/), ClusterSources and StartLive
// (run, failover --ui), RecordSim and RecordCounterexample into Replays
// (sim --ui), Chaos as the harness's observer (chaos --ui); New builds
// the handler, Listen serves it on its own address.
//
// Everything is served under one prefix, Prefix ("/ui/"), by one
// http.Handler (Handler), so a server's authentication middleware covers
// it by wrapping its mux; the front end (plain JavaScript, HTML and CSS)
// is embedded in the binary and loads nothing from elsewhere.
//
// The view is read-only: it answers GET and HEAD only and has no route
// that changes a cluster. Its data collection stays off the engine's hot
// path: a Live samples every node on a timer from its own goroutine
// (node.Status goes through the node's loop like any status request, and
// the counters are read atomically or from the Prometheus registry), and
// a slow or unreachable node delays only the sample, never a node.
//
// It must never import anything that runs a cluster for it: callers (the
// commands) build the sources, the recordings and the chaos observer and
// hand them in. (It reads chaos/explore's Counterexample type, the
// exploration's file format, but never runs an exploration.)
package ui
