// Package httpapi is the HTTP face of one raftbench node (`raftbench
// serve`): a linearizable key-value API over the node's kv state machine,
// plus status and Prometheus metrics. Client is the matching Go client
// (used by tests and the load generator's tcp target).
//
// # API
//
//	GET  /kv/{key}        linearizable read (ReadIndex): 200 body=value, 404 no such key
//	PUT  /kv/{key}        body=value: 204
//	POST /kv/{key}/cas    {"from":"..","to":"..","create_if_missing":bool}:
//	                      204 done, 404 key missing, 409 value differs from "from"
//	GET  /status          node status JSON
//	GET  /metrics         Prometheus text format
//
// Writes may carry X-Client-Id and X-Seq (decimal, non-zero): a retried
// request with the same pair is applied at most once and answered with
// the first result. Errors are JSON {"error","definite","leader"}: 503
// when the operation definitely did not happen (busy, no leader, stopped;
// safe to retry), 504 when its outcome is unknown (timeout), 400 for bad
// requests or bodies, 405 for a wrong method, 413 for an oversize body.
// Followers serve everything: the core forwards proposals and read-index
// requests to the leader.
//
// The server never answers 2xx for a write that is not committed and
// applied, and never reports an unknown outcome as definite.
package httpapi
