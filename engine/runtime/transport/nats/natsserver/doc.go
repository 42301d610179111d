// Package natsserver runs a NATS server inside this process, listening on
// 127.0.0.1 only, for the NATS transport's tests, `raftbench bus-demo` and
// the inproc bench target's `--transport nats`, so none of them needs a
// NATS installation or a network beyond loopback.
//
// Its one job: start, stop and restart (on the same port, so clients
// reconnect to the same URL) an embedded github.com/nats-io/nats-server/v2.
//
// What it must never do: listen on anything but loopback, install signal
// handlers, write logs to stdout or stderr, or leave the server running
// after Stop.
package natsserver
