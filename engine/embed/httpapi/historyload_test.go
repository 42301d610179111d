package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// historyLoad runs concurrent read/write/cas clients over a few keys
// against a set of nodes and records what each saw, so a test can check
// the whole history for linearizability after faults.
type historyLoad struct {
	epoch   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	history []check.Op
}

// startHistoryLoad starts clients workers; worker i talks to
// clients[i mod len(clients)] for the whole run (a killed node's
// worker sees failures until it returns).
func startHistoryLoad(ctx context.Context, clients []*Client, workers int) *historyLoad {
	l := &historyLoad{epoch: time.Now(), stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.worker(ctx, w, clients[w%len(clients)])
		}()
	}
	return l
}

func (l *historyLoad) worker(ctx context.Context, id int, c *Client) {
	rng := rand.New(rand.NewPCG(uint64(id), 11))
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		op := check.Op{Client: id, Key: "h" + strconv.Itoa(rng.IntN(3))}
		octx, cancel := context.WithTimeout(ctx, time.Second)
		op.Call = int64(time.Since(l.epoch))
		var err error
		switch r := rng.IntN(10); {
		case r < 4:
			op.Kind = check.Read
			var v []byte
			v, err = c.Get(octx, op.Key)
			op.Value = string(v)
		case r < 7:
			op.Kind, op.Value = check.Write, strconv.Itoa(rng.IntN(5))
			err = c.Put(octx, op.Key, []byte(op.Value), Session{})
		default:
			op.Kind, op.From, op.Value = check.Cas, strconv.Itoa(rng.IntN(5)), strconv.Itoa(rng.IntN(5))
			err = c.Cas(octx, op.Key, op.From, op.Value, false, Session{})
		}
		op.Return = int64(time.Since(l.epoch))
		cancel()
		var se *StatusError
		switch {
		case err == nil:
			op.Outcome = check.OK
		case errors.Is(err, ErrNotFound):
			op.Outcome, op.Missing, op.Note = check.OK, true, err.Error()
			if op.Kind == check.Read {
				op.Value = ""
			}
		case errors.Is(err, ErrPrecondition):
			op.Outcome, op.Mismatch = check.OK, true
		case NotSent(err), errors.As(err, &se) && se.Definite:
			op.Outcome, op.Note = check.Fail, err.Error()
		default:
			op.Outcome, op.Note = check.Info, err.Error()
		}
		l.mu.Lock()
		l.history = append(l.history, op)
		l.mu.Unlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// finish stops the clients and checks the history: it must be
// linearizable and hold at least minOK acknowledged writes or cas.
func (l *historyLoad) finish(t *testing.T, minOK int) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	okWrites := 0
	for _, op := range l.history {
		if op.Outcome == check.OK && op.Kind != check.Read {
			okWrites++
		}
	}
	res := check.Check(l.history, check.Options{Timeout: time.Minute})
	t.Logf("history: %d operations, %d acknowledged writes/cas, verdict %s", len(l.history), okWrites, res.Linearizable)
	if !res.OK() {
		t.Fatalf("history under faults is %s (key %s, err %v)", res.Linearizable, res.BadKey, res.Err)
	}
	if okWrites < minOK {
		t.Fatalf("only %d acknowledged writes/cas under load", okWrites)
	}
}
