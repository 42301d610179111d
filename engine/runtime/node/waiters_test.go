package node

import (
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
