package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// kvHTTP serves the `raftbench serve` HTTP API over a kv.Store. A node
// with refuse set answers 503 naming leader; fail504 makes every write
// answer 504.
type kvHTTP struct {
	id, leader uint64
	store      *kv.Store
	refuse     atomic.Bool
	fail504    atomic.Bool
	hits       atomic.Int64
}

func (h *kvHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/status" {
		json.NewEncoder(w).Encode(map[string]uint64{"id": h.id, "leader": h.leader})
		return
	}
	h.hits.Add(1)
	if h.refuse.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":"not leader","definite":true,"leader":%d}`, h.leader)
		return
	}
	if h.fail504.Load() && r.Method != http.MethodGet {
		w.WriteHeader(http.StatusGatewayTimeout)
		io.WriteString(w, `{"error":"timeout","definite":false}`)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/kv/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var res kv.Result
	switch {
	case r.Method == http.MethodGet:
		res, _ = kv.DecodeResult(h.store.Query(kv.EncodeRead([]byte(rest))))
	case r.Method == http.MethodPut:
		res, _ = kv.DecodeResult(h.store.Apply(kv.EncodeWrite([]byte(rest), body)))
	case r.Method == http.MethodPost && strings.HasSuffix(rest, "/cas"):
		var c struct{ From, To string }
		if err := json.Unmarshal(body, &c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := strings.TrimSuffix(rest, "/cas")
		res, _ = kv.DecodeResult(h.store.Apply(kv.EncodeCas([]byte(key), []byte(c.From), []byte(c.To), false)))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	switch res.Status {
	case kv.StatusOK:
		if r.Method == http.MethodGet {
			w.Write(res.Value)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
	case kv.StatusNotFound:
		http.Error(w, `{"error":"key does not exist"}`, http.StatusNotFound)
	case kv.StatusMismatch:
		http.Error(w, `{"error":"precondition failed"}`, http.StatusConflict)
	}
}

func TestTCPTargetAgainstHTTPAPI(t *testing.T) {
	store := kv.NewStore()
	n1 := &kvHTTP{id: 1, leader: 2, store: store}
	n2 := &kvHTTP{id: 2, leader: 2, store: store}
	s1, s2 := httptest.NewServer(n1), httptest.NewServer(n2)
	defer s1.Close()
	defer s2.Close()
	n1.refuse.Store(true) // a follower that redirects to node 2

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg, err := openTCP(ctx, TargetConfig{Options: map[string]string{"endpoints": s1.URL + "," + strings.TrimPrefix(s2.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	tt := tg.(*tcpTarget)
	tt.pref.Store(0) // start at the refusing node

	key, v1, v2 := []byte("k000000000000001"), []byte("value-one"), []byte("value-two")
	steps := []struct {
		req  Request
		want kv.Status
		val  string
	}{
		{Request{Op: kv.OpRead, Key: key}, kv.StatusNotFound, ""},
		{Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusNotFound, ""},
		{Request{Op: kv.OpWrite, Key: key, Value: v1}, kv.StatusOK, ""},
		{Request{Op: kv.OpRead, Key: key}, kv.StatusOK, "value-one"},
		{Request{Op: kv.OpCas, Key: key, From: v2, Value: v1}, kv.StatusMismatch, ""},
		{Request{Op: kv.OpCas, Key: key, From: v1, Value: v2}, kv.StatusOK, ""},
		{Request{Op: kv.OpRead, Key: key}, kv.StatusOK, "value-two"},
	}
	for i, s := range steps {
		res, err := tg.Do(ctx, s.req)
		if err != nil || res.Status != s.want || string(res.Value) != s.val {
			t.Fatalf("step %d %v: got %v %q, %v; want %v %q", i, s.req.Op, res.Status, res.Value, err, s.want, s.val)
		}
	}
	if n1.hits.Load() != 1 || tt.pref.Load() != 1 {
		t.Fatalf("refusing node hit %d times, preferred node %d: want one 503, then the named leader", n1.hits.Load(), tt.pref.Load())
	}

	n2.fail504.Store(true)
	if _, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: key, Value: v1}); !errors.Is(err, ErrIndeterminate) {
		t.Fatalf("504: err %v, want ErrIndeterminate", err)
	}
	// Both refuse: unavailable once the retry budget (cut short by ctx
	// here) runs out, never a made-up answer.
	n2.fail504.Store(false)
	n2.refuse.Store(true)
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if _, err := tg.Do(short, Request{Op: kv.OpRead, Key: key}); err == nil {
		t.Fatal("every node refusing: want an error")
	}
}

func TestTCPTargetDrivenByRun(t *testing.T) {
	n1 := &kvHTTP{id: 1, leader: 1, store: kv.NewStore()}
	s1 := httptest.NewServer(n1)
	defer s1.Close()
	tg, err := openTCP(context.Background(), TargetConfig{Options: map[string]string{"endpoints": s1.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	sum, err := Run(context.Background(), shortConfig(), tg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ops == 0 || sum.Errors != 0 || sum.Results.OK == 0 || sum.Results.Mismatch == 0 {
		t.Fatalf("ops %d errors %d results %+v", sum.Ops, sum.Errors, sum.Results)
	}
}

func TestTCPTargetRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := openTCP(ctx, TargetConfig{Options: map[string]string{"endpoint": "x"}}); err == nil || !strings.Contains(err.Error(), `unknown option "endpoint"`) {
		t.Errorf("misspelt option: %v", err)
	}
	if _, err := openTCP(ctx, TargetConfig{Options: map[string]string{"endpoints": "ftp://x"}}); err == nil || !strings.Contains(err.Error(), "want http://host:port") {
		t.Errorf("bad endpoint: %v", err)
	}
}

// A node that is down (no connection can be made) definitely did not do
// the request: the target sends it to the next node, unlike a node that
// took the request and then failed (TestTCPTargetAgainstHTTPAPI's 504).
func TestTCPTargetSkipsDownNode(t *testing.T) {
	store := kv.NewStore()
	n1 := &kvHTTP{id: 1, leader: 1, store: store}
	n2 := &kvHTTP{id: 2, leader: 1, store: store}
	s1, s2 := httptest.NewServer(n1), httptest.NewServer(n2)
	defer s2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tg, err := openTCP(ctx, TargetConfig{Options: map[string]string{"endpoints": s1.URL + "," + s2.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	tt := tg.(*tcpTarget)
	tt.pref.Store(0)
	s1.Close() // node 1 goes down; its port refuses connections
	// Its pooled connection (from the status polls) is dropped too: a
	// write on a connection the server closed under it may have been
	// read, so that case is rightly indeterminate, not a refusal.
	tt.nodes[0].api.CloseIdleConnections()
	res, err := tg.Do(ctx, Request{Op: kv.OpWrite, Key: []byte("k"), Value: []byte("v")})
	if err != nil || res.Status != kv.StatusOK {
		t.Fatalf("write with node 1 down: %v %v, want it done by node 2", res.Status, err)
	}
	if n2.hits.Load() != 1 || tt.pref.Load() != 1 {
		t.Fatalf("node 2 hit %d times, preferred node %d: want the write moved to node 2", n2.hits.Load(), tt.pref.Load())
	}
}
