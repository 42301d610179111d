// Package httpapi is the HTTP face of one raftbench node (`raftbench
// serve`): a linearizable key-value API over the node's kv state machine,
// plus status and Prometheus metrics. Client is the matching Go client:
// the load generator's "tcp" target (bench/tcp.go) sends every request
// through it, so bench measures the client users get, and this
// package's tests use it too.
//
// # API
//
//	GET  /kv/{key}        linearizable read (ReadIndex): 200 body=value, 404 no such key
//	PUT  /kv/{key}        body=value: 204
//	POST /kv/{key}/cas    {"from":"..","to":"..","create_if_missing":bool}:
//	                      204 done, 404 key missing, 409 value differs from "from"
//	GET  /status          node status JSON
//	GET  /metrics         Prometheus text format
//	GET  /security        how this node's traffic is protected (plain or TLS, auth)
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
// # Security
//
// Serve with TLSDir speaks HTTPS (and mutual TLS to its peers); Protect
// (auth.go) puts a route-class policy in front of the handler: writes
// and /admin/ need a bearer token or client certificate with the role,
// reads, /metrics and /ui/ are open unless protected; 401 and 403 carry
// the usual JSON error body. Limits (limits.go) bound connections,
// header bytes and slow or idle clients. Tokens are never logged.
//
// # Client
//
// NewClient (or NewClientWithOptions: keep-alive pool size, dial timeout,
// whole-request timeout) talks to one node. Results that are answers come
// back as ErrNotFound and ErrPrecondition; a failed request as a
// *StatusError carrying the code, whether the server called it definite,
// and the leader it named; a transport failure as the net/http error,
// which NotSent classifies (no connection made: safe to send elsewhere).
// Writes take a Session, sent as X-Client-Id and X-Seq when non-zero.
// Reads longer than kv.MaxValueBytes are refused (ErrValueTooLarge).
//
// The server never answers 2xx for a write that is not committed and
// applied, and never reports an unknown outcome as definite; the client
// never turns an unknown outcome into an answer.
package httpapi
