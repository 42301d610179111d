package harness

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// maxHistory bounds the operations one run records.
const maxHistory = 5_000_000

// clientTable matches answers to the requests waiting for them and
// records the history.
type clientTable struct {
	mu       sync.Mutex
	waiting  map[waitKey]chan replyBody
	history  []check.Op
	stray    int64 // answers nobody waits for (late, duplicated, unknown)
	protoErr func(format string, args ...any)
	observe  func(check.Op) // Config.Observer's Op, or nil
}

type waitKey struct {
	client string
	msgID  int64
}

func newClientTable(protoErr func(string, ...any)) *clientTable {
	return &clientTable{waiting: map[waitKey]chan replyBody{}, protoErr: protoErr}
}

func (t *clientTable) await(client string, msgID int64) chan replyBody {
	ch := make(chan replyBody, 1)
	t.mu.Lock()
	t.waiting[waitKey{client, msgID}] = ch
	t.mu.Unlock()
	return ch
}

func (t *clientTable) forget(client string, msgID int64) {
	t.mu.Lock()
	delete(t.waiting, waitKey{client, msgID})
	t.mu.Unlock()
}

// deliver hands a node's message to the client waiting for it.
func (t *clientTable) deliver(d delivery) {
	var e envelope
	var b replyBody
	if err := json.Unmarshal(d.line, &e); err != nil || json.Unmarshal(e.Body, &b) != nil {
		t.protoErr("%s: malformed message to %s: %.200s", d.src, d.dest, d.line)
		return
	}
	if b.InReplyTo == nil {
		t.protoErr("%s: message to client %s without in_reply_to: %.200s", d.src, d.dest, d.line)
		return
	}
	k := waitKey{d.dest, *b.InReplyTo}
	t.mu.Lock()
	ch, ok := t.waiting[k]
	delete(t.waiting, k)
	if !ok {
		t.stray++
	}
	t.mu.Unlock()
	if ok {
		ch <- b
	}
}

func (t *clientTable) record(op check.Op) {
	t.mu.Lock()
	kept := len(t.history) < maxHistory
	if kept {
		t.history = append(t.history, op)
	}
	t.mu.Unlock()
	if kept && t.observe != nil {
		t.observe(op)
	}
}

// snapshot returns the history sorted by call time, and the stray count.
func (t *clientTable) snapshot() ([]check.Op, int64) {
	t.mu.Lock()
	h := append([]check.Op(nil), t.history...)
	stray := t.stray
	t.mu.Unlock()
	sort.SliceStable(h, func(i, j int) bool { return h[i].Call < h[j].Call })
	return h, stray
}

// sleepCtx sleeps d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
