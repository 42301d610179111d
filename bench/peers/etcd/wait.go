package etcd

import (
	"context"
	"sync"
)

// result is what a proposal's waiter receives: the kv result bytes, or
// an error when the outcome became unknown.
type result struct {
	res []byte
	err error
}

// waiters maps keys to the one caller waiting for each: register hands
// out a channel with room for one value, so trigger never blocks the
// Ready loop, and a value for a key nobody waits on any more is dropped.
type waiters[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]chan V
}

func newWaiters[K comparable, V any]() *waiters[K, V] {
	return &waiters[K, V]{m: make(map[K]chan V)}
}

func (w *waiters[K, V]) register(k K) <-chan V {
	ch := make(chan V, 1)
	w.mu.Lock()
	w.m[k] = ch
	w.mu.Unlock()
	return ch
}

// trigger hands v to k's waiter, if any is still waiting.
func (w *waiters[K, V]) trigger(k K, v V) {
	w.mu.Lock()
	ch, ok := w.m[k]
	delete(w.m, k)
	w.mu.Unlock()
	if ok {
		ch <- v
	}
}

func (w *waiters[K, V]) cancel(k K) {
	w.mu.Lock()
	delete(w.m, k)
	w.mu.Unlock()
}

// answerAll answers every waiter with v (for proposals: an error).
func (w *waiters[K, V]) answerAll(v V) {
	w.mu.Lock()
	old := w.m
	w.m = make(map[K]chan V)
	w.mu.Unlock()
	for _, ch := range old {
		ch <- v
	}
}

// waitRegistry maps proposal request ids to the client waiting for them.
type waitRegistry = waiters[uint64, result]

func newWaitRegistry() *waitRegistry { return newWaiters[uint64, result]() }

// appliedIndex lets readers wait until the apply loop reaches an index.
type appliedIndex struct {
	mu  sync.Mutex
	idx uint64
	ch  chan struct{} // closed and replaced whenever idx grows
}

func newAppliedIndex() *appliedIndex { return &appliedIndex{ch: make(chan struct{})} }

func (a *appliedIndex) set(idx uint64) {
	a.mu.Lock()
	if idx > a.idx {
		a.idx = idx
		close(a.ch)
		a.ch = make(chan struct{})
	}
	a.mu.Unlock()
}

// wait returns nil once idx is applied, errReadRetry if the node goes
// down first (the reader tries the next leader), errClosed on stop.
func (a *appliedIndex) wait(ctx context.Context, stop, down <-chan struct{}, idx uint64) error {
	for {
		a.mu.Lock()
		cur, ch := a.idx, a.ch
		a.mu.Unlock()
		if cur >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-down:
			return errReadRetry
		case <-stop:
			return errClosed
		}
	}
}

// readBatch is one ReadIndex request shared by every reader that joined
// it; done is closed once index or err is set.
type readBatch struct {
	done  chan struct{}
	index uint64
	err   error
}

// readBatcher collects readers into the next batch while one is in
// flight, like etcd server's linearizable read loop.
type readBatcher struct {
	mu   sync.Mutex
	next *readBatch
	wake chan struct{} // capacity 1: "a batch is waiting"
	// pending maps in-flight ReadIndex request contexts to their batch's
	// wait for the read index.
	pending *waiters[string, uint64]
}

func newReadBatcher() *readBatcher {
	return &readBatcher{wake: make(chan struct{}, 1), pending: newWaiters[string, uint64]()}
}

// join returns the batch the caller's read will ride on.
func (r *readBatcher) join() *readBatch {
	r.mu.Lock()
	if r.next == nil {
		r.next = &readBatch{done: make(chan struct{})}
	}
	b := r.next
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return b
}

func (r *readBatcher) take() *readBatch {
	r.mu.Lock()
	b := r.next
	r.next = nil
	r.mu.Unlock()
	return b
}

// expect registers a ReadIndex request context before it is sent.
func (r *readBatcher) expect(rctx string) <-chan uint64 { return r.pending.register(rctx) }

// resolve delivers a ReadState from a Ready.
func (r *readBatcher) resolve(rctx string, index uint64) { r.pending.trigger(rctx, index) }

func (r *readBatcher) forget(rctx string) { r.pending.cancel(rctx) }
