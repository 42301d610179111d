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

// waitRegistry maps request ids to the client waiting for them.
type waitRegistry struct {
	mu sync.Mutex
	m  map[uint64]chan result
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: make(map[uint64]chan result)} }

func (w *waitRegistry) register(id uint64) <-chan result {
	ch := make(chan result, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// trigger hands r to id's waiter, if any is still waiting.
func (w *waitRegistry) trigger(id uint64, r result) {
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- r
	}
}

func (w *waitRegistry) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// failAll answers every waiter with err.
func (w *waitRegistry) failAll(err error) {
	w.mu.Lock()
	old := w.m
	w.m = make(map[uint64]chan result)
	w.mu.Unlock()
	for _, ch := range old {
		ch <- result{err: err}
	}
}

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

func (a *appliedIndex) wait(ctx context.Context, stop <-chan struct{}, idx uint64) error {
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
	mu      sync.Mutex
	next    *readBatch
	wake    chan struct{} // capacity 1: "a batch is waiting"
	pending map[string]chan uint64
}

func newReadBatcher() *readBatcher {
	return &readBatcher{wake: make(chan struct{}, 1), pending: make(map[string]chan uint64)}
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
func (r *readBatcher) expect(rctx string) <-chan uint64 {
	ch := make(chan uint64, 1)
	r.mu.Lock()
	r.pending[rctx] = ch
	r.mu.Unlock()
	return ch
}

// resolve delivers a ReadState from a Ready.
func (r *readBatcher) resolve(rctx string, index uint64) {
	r.mu.Lock()
	ch, ok := r.pending[rctx]
	delete(r.pending, rctx)
	r.mu.Unlock()
	if ok {
		ch <- index
	}
}

func (r *readBatcher) forget(rctx string) {
	r.mu.Lock()
	delete(r.pending, rctx)
	r.mu.Unlock()
}
