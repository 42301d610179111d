package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
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
	nextID   atomic.Int64 // client numbers; c0 is the harness itself
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
	if len(t.history) < maxHistory {
		t.history = append(t.history, op)
	}
	t.mu.Unlock()
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

// keySpace hands out keys: Keys live at a time, each retired after
// KeyOps operations for a fresh one, so each key's history stays small
// enough to check and fresh keys exercise the missing-key path.
type keySpace struct {
	mu     sync.Mutex
	limit  int
	active []int
	used   map[int]int
	next   int
}

func newKeySpace(keys, limit int) *keySpace {
	ks := &keySpace{limit: limit, used: map[int]int{}}
	for ; ks.next < keys; ks.next++ {
		ks.active = append(ks.active, ks.next)
	}
	return ks
}

func (ks *keySpace) pick(rng *rand.Rand) int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	i := rng.IntN(len(ks.active))
	k := ks.active[i]
	ks.used[k]++
	if ks.limit > 0 && ks.used[k] >= ks.limit {
		delete(ks.used, k)
		ks.active[i] = ks.next
		ks.next++
	}
	return k
}

// worker is one client slot: it issues one operation at a time. After an
// indeterminate operation it continues as a new client bound to a new
// random node, as a Jepsen process that crashed would.
type worker struct {
	cfg     Config
	rng     *rand.Rand
	net     *network
	table   *clientTable
	keys    *keySpace
	nodes   []string
	start   time.Time // history timestamps are nanoseconds since start
	timeout time.Duration
	// stagger is the mean pause between one worker's operations, so all
	// workers together approach Rate.
	stagger time.Duration
}

func (w *worker) run(ctx context.Context, until time.Time) {
	client, node := w.newIdentity()
	var msgID int64
	next := time.Now()
	for ctx.Err() == nil {
		// Intended start times are spaced by uniform(0, 2×stagger) draws;
		// a worker that fell behind (slow answers) starts at once, so the
		// total rate holds while answers are faster than the spacing.
		next = next.Add(time.Duration(w.rng.Float64() * 2 * float64(w.stagger)))
		if now := time.Now(); next.Before(now) {
			next = now
		}
		if next.After(until) || !sleepCtx(ctx, time.Until(next)) {
			return
		}
		msgID++
		op, outcome := w.invoke(ctx, client, node, msgID)
		w.table.record(op)
		if outcome == check.Info {
			client, node = w.newIdentity()
			msgID = 0
		}
	}
}

func (w *worker) newIdentity() (client int, node string) {
	return int(w.table.nextID.Add(1)), w.nodes[w.rng.IntN(len(w.nodes))]
}

// invoke sends one random lin-kv request and waits for its answer or
// Maelstrom's timeout.
func (w *worker) invoke(ctx context.Context, client int, node string, msgID int64) (check.Op, check.Outcome) {
	req, op := w.randomOp(msgID)
	op.Client = client
	name := fmt.Sprintf("c%d", client)
	body, _ := json.Marshal(req)
	line, _ := json.Marshal(envelope{Src: name, Dest: node, Body: body})
	ch := w.table.await(name, msgID)
	op.Call = int64(time.Since(w.start))
	w.net.send(name, node, append(line, '\n'), false)
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case b := <-ch:
		op.Return = int64(time.Since(w.start))
		if perr := classify(&op, b); perr != "" {
			w.table.protoErr("%s: %s (request %s)", node, perr, body)
			op.Note = perr
		}
	case <-timer.C:
		op.Outcome, op.Note = check.Info, "timeout"
	case <-ctx.Done():
		op.Outcome, op.Note = check.Info, "harness stopped"
	}
	if op.Outcome == check.Info {
		w.table.forget(name, msgID)
		op.Return = 0
	}
	if op.Note == "" {
		op.Note = node
	} else {
		op.Note = node + ": " + op.Note
	}
	return op, op.Outcome
}

// randomOp draws Maelstrom's lin-kv mix: read, write and cas in equal
// parts over small integer values, a tenth of the cas with
// create_if_not_exists.
func (w *worker) randomOp(msgID int64) (request, check.Op) {
	k := w.keys.pick(w.rng)
	req := request{MsgID: msgID, Key: k}
	op := check.Op{Key: fmt.Sprint(k)}
	v := w.rng.IntN(5)
	switch w.rng.IntN(3) {
	case 0:
		req.Type, op.Kind = "read", check.Read
	case 1:
		req.Type, req.Value, op.Kind, op.Value = "write", &v, check.Write, fmt.Sprint(v)
	default:
		from := w.rng.IntN(5)
		req.Type, req.From, req.To = "cas", &from, &v
		req.Create = w.rng.IntN(10) == 0
		op.Kind, op.From, op.Value, op.CreateIfMissing = check.Cas, fmt.Sprint(from), fmt.Sprint(v), req.Create
	}
	return req, op
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
