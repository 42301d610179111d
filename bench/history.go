package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
	"github.com/raftbench/raftbench/engine/embed/kv"
)

// Defaults of HistoryConfig.
const (
	// DefaultHistoryKeys is the least number of sampled keys; by default
	// a hundredth of the key space is sampled, at most MaxDefaultHistoryKeys.
	DefaultHistoryKeys    = 32
	MaxDefaultHistoryKeys = 2000
	// DefaultHistoryOpsPerKey keeps the hottest key's check short when
	// porcupine's search decides it (keys with cas): measured before
	// writes were stamped unique, under YCSB A at 256 clients key 0 with
	// 1,000 operations checked in 4 s, with 5,000 it timed out (20 s).
	// Keys without cas are decided by chaos/check's zones method in
	// milliseconds at any size. Cooler sampled keys stay under the bound
	// for a whole run.
	DefaultHistoryOpsPerKey = 1_000
	DefaultHistoryMaxOps    = 300_000
)

// HistoryConfig asks Run to record the history of a sample of keys for a
// linearizability check (chaos/check), in bounded memory.
//
// Every write and every cas's new value on a sampled key is unique in the
// run (see stampMark): the workload's values are a handful of shared
// variants, and with only those a read could have seen any of dozens of
// concurrent writes, which makes the check weak and its search explode on
// a hot key under high concurrency. A unique value names the one write a
// read saw. A cas on a sampled key asks "from" the last value the run
// knows the key held (a random variant would almost never match a unique
// value), so it succeeds about as often as on other keys.
//
// Key i is sampled when i is a multiple of max(1, RunConfig.Keys/Keys),
// inserted keys included, so key 0 (the hottest under zipfian) always is.
// Every request on a sampled key is recorded (call and return on one
// monotonic clock, its result or error) from the first request of the
// run, load phase included, so each key's register starts missing as on
// a fresh cluster: the check needs a target that starts empty.
//
// Bounds: once a key has OpsPerKey operations it drains: new reads on it
// are no longer recorded, writes and cas still are, and once none of its
// recorded reads and cas (the operations that observe the register) is in
// flight it closes and nothing new on it is recorded (operations already
// in flight still are). Every write or cas left out was called after
// every recorded observation on its key returned, so it is linearized
// after all of them, and reads left out change nothing: the recorded
// history stays checkable on its own. A key whose cas never stop
// overlapping keeps recording; when the whole history reaches MaxOps,
// draining keys (then, if still needed, every open key) are dropped from
// it entirely and listed in History.DroppedKeys: unchecked, never passed.
type HistoryConfig struct {
	Keys      int // sampled keys (0 = a hundredth of the key space, in [DefaultHistoryKeys, MaxDefaultHistoryKeys])
	OpsPerKey int // 0 = DefaultHistoryOpsPerKey
	MaxOps    int // 0 = DefaultHistoryMaxOps
}

func (h *HistoryConfig) validate() error {
	switch {
	case h.Keys < 0 || h.Keys > 10_000:
		return fmt.Errorf("history keys %d must be in [0, 10000]", h.Keys)
	case h.OpsPerKey < 0 || h.MaxOps < 0 || h.MaxOps > 10_000_000:
		return fmt.Errorf("history bounds %d per key, %d total: must be >= 0 and total <= 10M", h.OpsPerKey, h.MaxOps)
	}
	return nil
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// History is what Run recorded (Summary.History).
type History struct {
	Ops []check.Op `json:"-"`
	// Stride: key i was sampled when i%Stride == 0.
	Stride      int `json:"stride"`
	SampledKeys int `json:"sampled_keys"` // keys with at least one recorded op
	// ClosedKeys reached OpsPerKey and stopped recording.
	ClosedKeys  int      `json:"closed_keys"`
	DroppedKeys []string `json:"dropped_keys,omitempty"`
	Recorded    int      `json:"recorded_ops"`
}

type keyHist struct {
	// last is the latest value an operation on the key saw or wrote
	// (stamped): the "from" of the next cas the workload draws for it.
	last  []byte
	count int
	// pendingObs counts recorded reads and cas in flight: operations that
	// observe the register.
	pendingObs int
	draining   bool  // count reached the bound: only writes and cas are recorded
	closed     bool  // nothing new is recorded
	dropped    bool  // removed from the history
	ops        []int // indices into recorder.ops, for dropping
}

// historyRecorder records sampled keys' operations. One mutex: sampled
// keys carry a small share of the load.
type historyRecorder struct {
	wl        *workload
	stride    int
	perKey    int
	maxOps    int
	base      time.Time
	mu        sync.Mutex
	keys      map[int]*keyHist
	ops       []check.Op
	live      int // ops not dropped
	dropped   []string
	closedCnt int
	stamps    atomic.Uint64 // unique values handed out
}

func newHistoryRecorder(cfg *HistoryConfig, keys int, wl *workload) *historyRecorder {
	n := cfg.Keys
	if n == 0 {
		n = min(max(keys/100, DefaultHistoryKeys), MaxDefaultHistoryKeys)
	}
	return &historyRecorder{
		wl: wl, stride: max(1, keys/n),
		perKey: orDefault(cfg.OpsPerKey, DefaultHistoryOpsPerKey), maxOps: orDefault(cfg.MaxOps, DefaultHistoryMaxOps),
		base: time.Now(), keys: map[int]*keyHist{},
	}
}

// histToken is an operation in flight on a sampled key.
type histToken struct {
	k    *keyHist
	key  int
	call int64
}

// begin returns a token when req's key is sampled and open to op, else nil.
func (h *historyRecorder) begin(key []byte, op kv.Op) *histToken {
	i := keyIndexOf(key)
	if i < 0 || i%h.stride != 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.keys[i]
	if k == nil {
		k = &keyHist{}
		h.keys[i] = k
	}
	if k.closed || k.draining && op == kv.OpRead {
		return nil
	}
	if op != kv.OpWrite {
		k.pendingObs++
	}
	return &histToken{k: k, key: i, call: int64(time.Since(h.base))}
}

// end records the operation begun with t.
func (h *historyRecorder) end(t *histToken, client int, req Request, res kv.Result, err error) {
	ret := int64(time.Since(h.base))
	op := check.Op{Client: client, Key: "k" + strconv.Itoa(t.key), Call: t.call, Return: ret, Outcome: check.OK}
	switch req.Op {
	case kv.OpRead:
		op.Kind = check.Read
	case kv.OpWrite:
		op.Kind, op.Value = check.Write, h.label(req.Value)
	case kv.OpCas:
		op.Kind, op.Value, op.From = check.Cas, h.label(req.Value), h.label(req.From)
	}
	switch {
	case err != nil && errors.Is(err, ErrUnavailable):
		op.Outcome = check.Fail
	case err != nil:
		op.Outcome, op.Note = check.Info, err.Error()
	case res.Status == kv.StatusNotFound:
		op.Missing = true
	case res.Status == kv.StatusMismatch && req.Op == kv.OpCas:
		op.Mismatch = true
	case res.Status != kv.StatusOK:
		op.Outcome, op.Note = check.Info, fmt.Sprintf("status %d", res.Status)
	case req.Op == kv.OpRead:
		op.Value = h.label(res.Value)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := t.k
	if req.Op != kv.OpWrite {
		k.pendingObs--
	}
	if err == nil && res.Status == kv.StatusOK {
		switch req.Op {
		case kv.OpRead:
			k.last = bytes.Clone(res.Value) // the target may reuse its buffer
		default: // write, successful cas: a value stamp made, never reused
			k.last = req.Value
		}
	}
	if k.dropped {
		return
	}
	// Recorded even when the key closed meanwhile: a recorded read may
	// have seen this write.
	k.ops = append(k.ops, len(h.ops))
	h.ops = append(h.ops, op)
	h.live++
	k.count++
	if k.count >= h.perKey {
		k.draining = true
	}
	if k.draining && !k.closed && k.pendingObs == 0 {
		k.closed = true
		h.closedCnt++
	}
	if h.live >= h.maxOps {
		h.dropBusy()
	}
}

// dropBusy drops every key still open with more than its share of
// operations (the ones that were never quiet) from the history.
func (h *historyRecorder) dropBusy() {
	drop := func(i int, k *keyHist) {
		for _, j := range k.ops {
			h.ops[j].Kind = 0 // tombstone, removed in history()
		}
		h.live -= len(k.ops)
		k.closed, k.dropped, k.ops = true, true, nil
		h.dropped = append(h.dropped, "k"+strconv.Itoa(i))
	}
	for i, k := range h.keys {
		if !k.closed && k.draining {
			drop(i, k)
		}
	}
	if h.live >= h.maxOps { // every open key is within its share: stop all
		for i, k := range h.keys {
			if !k.closed {
				drop(i, k)
			}
		}
	}
}

// stampMark opens and closes a stamp: a value on a sampled key is
// stampMark, the write's sequence number in base 36, stampMark, then the
// bytes of variant 0 at the same offsets up to the drawn length. The mark
// is not among the letters values are made of, so a stamped value is
// never mistaken for a variant.
const stampMark = '~'

// maxStampBytes is the longest stamp (a 64-bit number in base 36 is at
// most 13 digits). A value shorter than its stamp (possible with a drawn
// size distribution) is left as its variant: unique values need room.
const maxStampBytes = 2 + 13

// stamp gives a write's value, or a cas's new value, on the sampled key
// t stands for a value no other request of the run writes (a fresh
// buffer: the variants are shared and read-only).
func (h *historyRecorder) stamp(t *histToken, req Request) Request {
	if req.Op == kv.OpRead || len(req.Value) < maxStampBytes {
		return req
	}
	v := bytes.Clone(h.wl.values[0][:len(req.Value)])
	v[0] = stampMark
	n := copy(v[1:], strconv.FormatUint(h.stamps.Add(1), 36))
	v[1+n] = stampMark
	req.Value = v
	return req
}

// casFrom points a cas the workload drew with a random variant as "from"
// at the last value the run knows its sampled key held, when it knows one.
func (h *historyRecorder) casFrom(req Request) Request {
	i := keyIndexOf(req.Key)
	if i < 0 || i%h.stride != 0 {
		return req
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if k := h.keys[i]; k != nil && k.last != nil {
		req.From = k.last
	}
	return req
}

// unstamp returns the sequence number of a stamped value and whether v
// is one: the marks around a base-36 number, then variant 0's bytes.
func (h *historyRecorder) unstamp(v []byte) (string, bool) {
	if len(v) < 3 || v[0] != stampMark || len(v) > len(h.wl.values[0]) {
		return "", false
	}
	end := bytes.IndexByte(v[1:], stampMark) + 1
	if end < 2 {
		return "", false
	}
	seq := string(v[1:end])
	if _, err := strconv.ParseUint(seq, 36, 64); err != nil || !bytes.Equal(v[end+1:], h.wl.values[0][end+1:len(v)]) {
		return "", false
	}
	return seq, true
}

// label names a value by which of the run's values it is: "w" and its
// stamp's number and length for a stamped value, "v0".."v3" for a
// variant, so the history holds a few bytes per op; anything else (a
// value this run never wrote, or a stamped value with other bytes)
// keeps its bytes, quoted.
func (h *historyRecorder) label(v []byte) string {
	if seq, ok := h.unstamp(v); ok {
		return "w" + seq + "/" + strconv.Itoa(len(v))
	}
	if i := h.wl.variant(v); i >= 0 {
		if len(v) != len(h.wl.values[i]) { // a drawn size: a different value
			return "v" + strconv.Itoa(i) + "/" + strconv.Itoa(len(v))
		}
		return "v" + strconv.Itoa(i)
	}
	return "raw:" + strconv.Quote(string(v))
}

// history returns what was recorded; call after every request returned.
func (h *historyRecorder) history() *History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := &History{Stride: h.stride, ClosedKeys: h.closedCnt, DroppedKeys: h.dropped}
	out.Ops = make([]check.Op, 0, h.live)
	seen := map[string]bool{}
	for _, op := range h.ops {
		if op.Kind != 0 {
			out.Ops = append(out.Ops, op)
			seen[op.Key] = true
		}
	}
	out.SampledKeys, out.Recorded = len(seen), len(out.Ops)
	return out
}

// do sends one request, recording it when its key is sampled.
func (r *runner) do(ctx context.Context, client int, req Request) (kv.Result, error) {
	if r.hist == nil {
		return r.target.Do(ctx, req)
	}
	t := r.hist.begin(req.Key, req.Op)
	if t != nil {
		req = r.hist.stamp(t, req)
	}
	res, err := r.target.Do(ctx, req)
	if err != nil && ctx.Err() != nil {
		err = context.Canceled
	}
	if t != nil {
		r.hist.end(t, client, req, res, err)
	}
	return res, err
}
