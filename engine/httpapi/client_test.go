package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/embed/kv"
)

// A write with a Session carries X-Client-Id and X-Seq; without one it
// carries neither (the server would reject a half pair).
func TestClientSessionHeaders(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.Header.Get("X-Client-Id")+"/"+r.Header.Get("X-Seq"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	c := NewClientWithOptions(ts.URL, ClientOptions{})
	ctx := context.Background()
	if err := c.Put(ctx, "k", []byte("v"), Session{ClientID: 7, Seq: 42}); err != nil {
		t.Fatal(err)
	}
	if err := c.Cas(ctx, "k", "v", "w", false, Session{ClientID: 7, Seq: 43}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "k", []byte("v"), Session{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"PUT 7/42", "POST 7/43", "PUT /"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("headers seen %q, want %q", got, want)
	}
}

// MaxIdleConns is the pool a burst of concurrent requests returns its
// connections to: a second burst of the same size reuses them all when
// the pool is large enough, and must dial again when it is not.
func TestClientPoolSize(t *testing.T) {
	const burst = 8
	for _, tc := range []struct {
		pool     int
		wantMore bool
	}{{burst, false}, {1, true}} {
		var conns atomic.Int64
		var arrived sync.WaitGroup
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Hold every request until the whole burst is in, so each
			// one needs its own connection.
			arrived.Done()
			arrived.Wait()
			w.WriteHeader(http.StatusNoContent)
		}))
		ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		ts.Start()
		c := NewClientWithOptions(ts.URL, ClientOptions{MaxIdleConns: tc.pool})
		wave := func() {
			arrived.Add(burst)
			var wg sync.WaitGroup
			for range burst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := c.Put(context.Background(), "k", nil, Session{}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		wave()
		first := conns.Load()
		wave()
		more := conns.Load() > first
		c.CloseIdleConnections()
		ts.Close()
		if first != burst || more != tc.wantMore {
			t.Errorf("pool %d: first burst opened %d connections (want %d); second opened more: %v (want %v)",
				tc.pool, first, burst, more, tc.wantMore)
		}
	}
}

// Timeout bounds a request even when the caller's context does not.
func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer ts.Close()
	defer close(release)
	c := NewClientWithOptions(ts.URL, ClientOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.Get(context.Background(), "k")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("get from a silent node: %v after %v, want a timeout after about 50 ms", err, time.Since(start))
	}
	if NotSent(err) {
		t.Errorf("a timed-out request counts as never sent: %v", err)
	}
}

// NotSent is true only when no connection could be made: that request
// may go to another node; one the node answered, even with an error,
// may not be assumed undone.
func TestClientNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	_, err = NewClient("http://"+addr, nil).Get(context.Background(), "k")
	if err == nil || !NotSent(err) {
		t.Fatalf("get from a closed port: %v, want an error NotSent recognises", err)
	}

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGatewayTimeout)
		io.WriteString(w, `{"error":"timeout","definite":false}`)
	}))
	defer ts.Close()
	err = NewClient(ts.URL, nil).Put(context.Background(), "k", []byte("v"), Session{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusGatewayTimeout || se.Definite || NotSent(err) {
		t.Fatalf("504: %v, want an indefinite StatusError that was sent", err)
	}
}

// A read answer longer than any stored value is refused, not buffered.
func TestClientRefusesOversizeValue(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, kv.MaxValueBytes+1))
	}))
	defer ts.Close()
	if _, err := NewClient(ts.URL, nil).Get(context.Background(), "k"); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("oversize value: %v, want ErrValueTooLarge", err)
	}
}
