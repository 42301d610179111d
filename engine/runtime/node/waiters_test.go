package node

import (
	"errors"
	"testing"
	"time"
)

// A recycled waiter re-registered under the same key (a retry of the same
// session) must not be failed by an expectation of its earlier use.
func TestTakeIfIgnoresEarlierGenerationOfRecycledWaiter(t *testing.T) {
	ws := newWaiters()
	k := waitKey{clientID: 7, seq: 1}
	w := getWaiter(time.Time{})
	first := w.gen.Load()
	if !ws.add(k, w) {
		t.Fatal("add failed")
	}
	if ws.take(k) != w {
		t.Fatal("take did not return the registered waiter")
	}
	putWaiter(w)
	// Reuse the same object for the retry (the pool may or may not hand
	// it back; force it so the test is deterministic).
	w.gen.Add(1)
	if !ws.add(k, w) {
		t.Fatal("re-add failed")
	}
	if ws.takeIf(k, w, first) {
		t.Fatal("stale generation removed the retry's registration")
	}
	if !ws.takeIf(k, w, w.gen.Load()) {
		t.Fatal("current generation could not remove its own registration")
	}
	if ws.take(k) != nil {
		t.Fatal("key still registered after takeIf")
	}
}

// empty follows every way a waiter enters and leaves the registry.
func TestWaitersEmptyFollowsRegistrations(t *testing.T) {
	ws := newWaiters()
	if !ws.empty() {
		t.Fatal("a new registry is not empty")
	}
	k1, k2 := waitKey{clientID: 1, seq: 1}, waitKey{clientID: 2, seq: 9}
	w1, w2 := getWaiter(time.Time{}), getWaiter(time.Time{})
	ws.add(k1, w1)
	if ws.empty() {
		t.Fatal("empty with one waiter registered")
	}
	ws.add(k2, w2)
	if ws.take(k1) != w1 || ws.empty() {
		t.Fatal("take: wrong waiter, or empty with one left")
	}
	if !ws.takeIf(k2, w2, w2.gen.Load()) || !ws.empty() {
		t.Fatal("takeIf did not leave the registry empty")
	}
	w1.untilLeaderChange = true
	ws.add(k1, w1)
	ws.add(k2, w2)
	ws.failUntilLeaderChange(ErrLeaderChanged)
	if ws.empty() {
		t.Fatal("empty although a waiter without untilLeaderChange is registered")
	}
	<-w1.ch
	ws.failAll(ErrStopped)
	<-w2.ch
	if !ws.empty() {
		t.Fatal("not empty after failAll")
	}
}

// TestOnDurableDoesNotAllocate: the WAL's done callback runs once per
// durable write on every node; a nil error must cost no allocation (the
// error's address is kept only when there is one).
func TestOnDurableDoesNotAllocate(t *testing.T) {
	n := &Node{persistWake: make(chan struct{}, 1)}
	if a := testing.AllocsPerRun(100, func() { n.onDurable(nil) }); a != 0 {
		t.Fatalf("%v allocations per onDurable(nil), want 0", a)
	}
	if n.durable.Load() != 101 {
		t.Fatalf("durable = %d, want 101 counted", n.durable.Load())
	}
	failure := errors.New("disk gone")
	n.onDurable(failure)
	if p := n.walErr.Load(); p == nil || *p != failure {
		t.Fatalf("walErr = %v, want the failure kept", p)
	}
}
