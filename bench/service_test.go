package bench

import (
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// In a closed loop a request is sent at its intended time, so its service
// time is its latency: the bucket records latency alone and serves it as
// the service time too. An open loop records both, apart.
func TestServiceTimeIsLatencyInAClosedLoop(t *testing.T) {
	t0 := time.Unix(1000, 0)
	closed := newBucket()
	for i := range 100 {
		addSample(closed, &sample{op: opRead, intended: t0, sent: t0, done: t0.Add(time.Duration(100+i) * time.Microsecond), res: kv.Result{}})
	}
	if n := closed.svc.TotalCount(); n != 0 {
		t.Fatalf("closed loop recorded %d service samples, want none (latency is the service time)", n)
	}
	if got, want := closed.service(false).ValueAtPercentile(50), closed.lat.ValueAtPercentile(50); got != want || closed.service(false).TotalCount() != 100 {
		t.Fatalf("closed loop service p50 %d (count %d), want the latency's %d over 100", got, closed.service(false).TotalCount(), want)
	}

	open := newBucket()
	for i := range 100 {
		sent := t0.Add(50 * time.Microsecond) // 50 µs behind schedule
		addSample(open, &sample{op: opRead, intended: t0, sent: sent, done: sent.Add(time.Duration(100+i) * time.Microsecond), openLoop: true})
	}
	svc, lat := open.service(true), open.lat
	if svc.TotalCount() != 100 || lat.TotalCount() != 100 {
		t.Fatalf("open loop counts: service %d, latency %d, want 100 each", svc.TotalCount(), lat.TotalCount())
	}
	if d := lat.ValueAtPercentile(50) - svc.ValueAtPercentile(50); d < 45 || d > 55 {
		t.Fatalf("open loop latency p50 - service p50 = %d µs, want the 50 µs lag", d)
	}
}
