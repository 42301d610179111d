// Package localports picks 127.0.0.1 addresses for clusters of local
// processes that bind their own ports: the `raftbench serve` processes
// that the tcp bench target, the chaos harness's serve mode and the
// process tests start. Its one job is to hand out n distinct addresses
// that are free now and that the kernel will not give to anyone else in
// the short time before the child process binds them.
//
// Why not "listen on :0, close, pass the port on": :0 draws from the
// kernel's ephemeral range, the same range every outgoing connection's
// local port comes from. Between the close and the child's bind, any
// connection on the machine (another test's HTTP client, the child's own
// peers dialling) can take the port, and the child dies with "address
// already in use". Ports below the ephemeral range are never assigned
// implicitly, so only an explicit bind by another program can take one;
// each candidate is still checked by binding it, and the start point is
// random so concurrent test processes rarely try the same ports.
//
// It must never promise more than that: a port is free when Pick
// returns, not reserved. A caller that starts processes still reports a
// child's bind failure as an error, never hides it.
package localports
