package nats

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/transport"
	"github.com/raftbench/raftbench/engine/runtime/transport/nats/natsserver"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder collects delivered messages.
type recorder struct {
	mu   sync.Mutex
	msgs []raftpb.Message
}

func (r *recorder) handle(m raftpb.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raftpb.Message(nil), r.msgs...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func startServer(t testing.TB, maxPayload int) *natsserver.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Options{MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

type busCluster struct {
	tr   map[uint64]*Transport
	rec  map[uint64]*recorder
	logs *syncBuffer
}

func newBusCluster(t testing.TB, url string, tweak func(*Config), ids ...uint64) *busCluster {
	t.Helper()
	c := &busCluster{tr: map[uint64]*Transport{}, rec: map[uint64]*recorder{}, logs: &syncBuffer{}}
	for _, id := range ids {
		cfg := Config{URL: url, Cluster: "test", ID: id, Peers: ids,
			BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(c.logs, nil))}
		if tweak != nil {
			tweak(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.tr[id], c.rec[id] = tr, &recorder{}
		if err := tr.Start(c.rec[id].handle); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
	}
	return c
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func app(from, to, index uint64, data []byte) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 1, Index: index, LogTerm: 1,
		Entries: []raftpb.Entry{{Term: 1, Index: index + 1, Type: raftpb.EntryNormal, Data: data}}}
}

// TestOrderPerSender: two senders each send thousands of messages to one
// receiver; each sender's messages arrive complete and in order, and
// under load many messages share one publish.
func TestOrderPerSender(t *testing.T) {
	srv := startServer(t, 0)
	c := newBusCluster(t, srv.URL(), func(cfg *Config) { cfg.QueueLimit = 100000 }, 1, 2, 3)
	const n = 5000
	var wg sync.WaitGroup
	for _, from := range []uint64{1, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); i < n; i += 50 {
				batch := make([]raftpb.Message, 0, 50)
				for j := i; j < i+50; j++ {
					batch = append(batch, app(from, 2, j, []byte("value-of-some-length")))
				}
				c.tr[from].Send(batch)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every message", 20*time.Second, func() bool { return c.rec[2].len() == 2*n })
	next := map[uint64]uint64{}
	for _, m := range c.rec[2].snapshot() {
		if m.Index != next[m.From] {
			t.Fatalf("from %d: got index %d, want %d (reordered or lost)", m.From, m.Index, next[m.From])
		}
		if string(m.Entries[0].Data) != "value-of-some-length" || m.To != 2 {
			t.Fatalf("corrupted message %+v", m)
		}
		next[m.From]++
	}
	for _, from := range []uint64{1, 3} {
		s := c.tr[from].Stats()
		if s.Sent != n || s.FramesWritten != n || s.Dropped != 0 {
			t.Fatalf("node %d stats: %+v", from, s)
		}
		if s.Writes >= s.FramesWritten {
			t.Errorf("node %d: %d publishes for %d messages: no batching", from, s.Writes, s.FramesWritten)
		}
		t.Logf("node %d: %d messages in %d publishes, %d bytes", from, s.FramesWritten, s.Writes, s.BytesSent)
	}
	r := c.tr[2].Stats()
	if r.Received != 2*n || r.ReceivedByType[raftpb.MsgApp] != 2*n || r.BytesReceived == 0 {
		t.Fatalf("receiver stats: %+v", r)
	}
}

// TestOversize: a message that cannot fit in max_payload is refused and
// counted, a logged error names the limit; batches larger than the limit
// are split across publishes and all arrive.
func TestOversize(t *testing.T) {
	const limit = 4096
	srv := startServer(t, limit)
	c := newBusCluster(t, srv.URL(), nil, 1, 2)
	if got := c.tr[1].MaxPayload(); got != limit {
		t.Fatalf("MaxPayload %d, want the server's %d", got, limit)
	}
	big := app(1, 2, 0, make([]byte, limit))
	snap := raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 1,
		Snapshot: &raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 10, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}}}, Data: make([]byte, 2*limit)}}
	c.tr[1].Send([]raftpb.Message{big, snap})
	s := c.tr[1].Stats()
	if s.DroppedBy[transport.DropTooLarge] != 2 {
		t.Fatalf("too-large drops %d, want 2: %+v", s.DroppedBy[transport.DropTooLarge], s)
	}
	if !strings.Contains(c.logs.String(), "max_payload") {
		t.Fatalf("no log naming max_payload:\n%s", c.logs.String())
	}
	// Just under the Send check but over the limit once encoded: refused
	// by the writer, the rest of the batch still goes.
	edge := app(1, 2, 1, make([]byte, limit-frameHeader-1))
	batch := []raftpb.Message{edge}
	for i := uint64(2); i < 42; i++ {
		batch = append(batch, app(1, 2, i, make([]byte, 1000))) // ~4 per publish
	}
	c.tr[1].Send(batch)
	waitFor(t, "the fitting messages", 10*time.Second, func() bool { return c.rec[2].len() == 40 })
	s = c.tr[1].Stats()
	if s.DroppedBy[transport.DropTooLarge] != 3 || s.Writes < 10 {
		t.Fatalf("want 3 too-large drops and >= 10 publishes: %+v", s)
	}
	for i, m := range c.rec[2].snapshot() {
		if m.Index != uint64(i+2) {
			t.Fatalf("message %d has index %d", i, m.Index)
		}
	}
}

// TestReconnect: the broker is stopped and restarted on the same port;
// messages sent meanwhile are dropped as unreachable, not buffered, and
// traffic resumes after the reconnect, which is counted.
func TestReconnect(t *testing.T) {
	srv := startServer(t, 0)
	c := newBusCluster(t, srv.URL(), nil, 1, 2)
	c.tr[1].Send([]raftpb.Message{app(1, 2, 0, []byte("a"))})
	waitFor(t, "first message", 5*time.Second, func() bool { return c.rec[2].len() == 1 })

	srv.Stop()
	waitFor(t, "disconnect", 5*time.Second, func() bool { return !c.tr[1].Connected() && !c.tr[2].Connected() })
	c.tr[1].Send([]raftpb.Message{app(1, 2, 1, []byte("lost"))})
	waitFor(t, "unreachable drop", 5*time.Second, func() bool {
		return c.tr[1].Stats().DroppedBy[transport.DropUnreachable] == 1
	})

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnect", 10*time.Second, func() bool {
		return c.tr[1].Stats().Reconnects >= 1 && c.tr[2].Stats().Reconnects >= 1
	})
	// The subscription is restored by the client; keep sending until
	// one arrives (the first may race the resubscription).
	waitFor(t, "delivery after reconnect", 10*time.Second, func() bool {
		c.tr[1].Send([]raftpb.Message{app(1, 2, 2, []byte("b"))})
		time.Sleep(10 * time.Millisecond)
		return c.rec[2].len() >= 2
	})
	for _, m := range c.rec[2].snapshot()[1:] {
		if string(m.Entries[0].Data) != "b" {
			t.Fatalf("message sent during the outage was delivered: %+v", m)
		}
	}
	s := c.tr[1].Stats()
	if s.ConnErrors < 1 || s.Connects < 2 {
		t.Fatalf("stats after reconnect: %+v", s)
	}
	if !strings.Contains(c.logs.String(), "reconnected") {
		t.Fatalf("no reconnect log:\n%s", c.logs.String())
	}
}

// TestGarbage: anything published on a node's subject that is not a
// well-formed batch to it from a known peer is ignored and counted; the
// node keeps working.
func TestGarbage(t *testing.T) {
	srv := startServer(t, 0)
	c := newBusCluster(t, srv.URL(), nil, 1, 2)
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	valid := func(from, to uint64, msgs ...raftpb.Message) []byte {
		b := appendHeader(nil, from, to)
		for i := range msgs {
			off := len(b)
			b = append(b, 0, 0, 0, 0)
			b = raftpb.AppendMessage(b, &msgs[i])
			b[off], b[off+1], b[off+2], b[off+3] = byte((len(b)-off-4)>>24), byte((len(b)-off-4)>>16), byte((len(b)-off-4)>>8), byte(len(b)-off-4)
		}
		return b
	}
	good := app(1, 2, 7, []byte("x"))
	goodBatch := valid(1, 2, good)
	garbage := [][]byte{
		{},
		[]byte("hello"),
		[]byte("RBNT"),
		append([]byte("RBNT\x09"), goodBatch[5:]...), // unknown version
		valid(1, 3, good),              // addressed to another node
		valid(9, 2, app(9, 2, 0, nil)), // unknown sender
		valid(1, 2),                    // no messages
		goodBatch[:len(goodBatch)-1],   // truncated frame
		append(goodBatch[:len(goodBatch):len(goodBatch)], 0, 0, 0, 9, 1), // frame claims more than is there
		append(valid(1, 2)[:], 0, 0, 0, 3, 0xff, 0xff, 0xff),             // undecodable message
		valid(1, 2, app(3, 2, 0, nil)),                                   // message From differs from the header
		valid(1, 2, app(1, 3, 0, nil)),                                   // message To differs from the header
		bytes.Repeat([]byte{0xff}, 100000),
	}
	for _, g := range garbage {
		if err := nc.Publish(c.tr[2].Subject(), g); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "garbage counted", 5*time.Second, func() bool {
		return c.tr[2].Stats().DroppedBy[transport.DropMalformed] == uint64(len(garbage))
	})
	if n := c.rec[2].len(); n != 1 {
		// One garbage payload is a good message followed by a frame
		// that claims more than is there: the good message is
		// delivered, the rest is not.
		t.Fatalf("%d messages delivered from garbage, want 1", n)
	}
	c.tr[1].Send([]raftpb.Message{app(1, 2, 100, []byte("after"))})
	waitFor(t, "a real message after the garbage", 5*time.Second, func() bool { return c.rec[2].len() == 2 })
	if !strings.Contains(c.logs.String(), "malformed payload") {
		t.Fatalf("no garbage log:\n%s", c.logs.String())
	}
}

// TestBadConfig: malformed URLs, an unreachable broker and names that
// would leak into other clusters' subjects are refused with clear errors.
func TestBadConfig(t *testing.T) {
	srv := startServer(t, 0)
	for _, u := range []string{"", "http://127.0.0.1:4222", "nats://", "nats://127.0.0.1:99999", "nats://127.0.0.1:4222/path", "nats://[::1"} {
		_, err := New(Config{URL: u, Cluster: "c", ID: 1, Peers: []uint64{1, 2}})
		if err == nil || !strings.Contains(err.Error(), "nats:") {
			t.Errorf("URL %q: err %v", u, err)
		}
	}
	start := time.Now()
	_, err := New(Config{URL: "nats://127.0.0.1:1", Cluster: "c", ID: 1, Peers: []uint64{1, 2}, ConnectTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("unreachable broker: err %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("unreachable broker took %v to fail", d)
	}
	for _, name := range []string{"", "a.b", "a*", ">", "a>", "has space", "tab\t", "ü", strings.Repeat("x", 65)} {
		if _, err := New(Config{URL: srv.URL(), Cluster: name, ID: 1}); err == nil {
			t.Errorf("cluster %q accepted", name)
		}
		if _, err := New(Config{URL: srv.URL(), Cluster: "ok", Prefix: name, ID: 1}); name != "" && err == nil {
			t.Errorf("prefix %q accepted", name)
		}
	}
	for _, r := range []float64{-0.1, 1, 2} {
		if _, err := New(Config{URL: srv.URL(), Cluster: "c", ID: 1, LossRate: r}); err == nil {
			t.Errorf("LossRate %v accepted", r)
		}
	}
	if _, err := New(Config{URL: srv.URL(), Cluster: "c", ID: 0}); err == nil {
		t.Error("ID 0 accepted")
	}
	if _, err := New(Config{URL: srv.URL(), Cluster: "c", ID: 1, Peers: []uint64{0}}); err == nil {
		t.Error("peer 0 accepted")
	}
	if got := Subject(DefaultPrefix, "orders", 3); got != "raftbench.orders.node.3" {
		t.Errorf("Subject = %q", got)
	}
	if u, err := ParseURL("127.0.0.1:4222, nats://h:1"); err != nil || u != "nats://127.0.0.1:4222,nats://h:1" {
		t.Errorf("ParseURL = %q, %v", u, err)
	}
}

// TestClustersAreSeparate: two clusters with the same node IDs on one
// broker never see each other's messages.
func TestClustersAreSeparate(t *testing.T) {
	srv := startServer(t, 0)
	a := newBusCluster(t, srv.URL(), func(c *Config) { c.Cluster = "a" }, 1, 2)
	b := newBusCluster(t, srv.URL(), func(c *Config) { c.Cluster = "a-1" }, 1, 2)
	a.tr[1].Send([]raftpb.Message{app(1, 2, 0, []byte("for a"))})
	b.tr[1].Send([]raftpb.Message{app(1, 2, 0, []byte("for b"))})
	waitFor(t, "both", 5*time.Second, func() bool { return a.rec[2].len() == 1 && b.rec[2].len() == 1 })
	time.Sleep(50 * time.Millisecond)
	if string(a.rec[2].snapshot()[0].Entries[0].Data) != "for a" || b.rec[2].len() != 1 ||
		string(b.rec[2].snapshot()[0].Entries[0].Data) != "for b" {
		t.Fatal("clusters crossed")
	}
}

// TestCloseStopsDelivery: after Close the Handler is not called, Send
// drops and counts, and Close is idempotent.
func TestCloseStopsDelivery(t *testing.T) {
	srv := startServer(t, 0)
	c := newBusCluster(t, srv.URL(), nil, 1, 2)
	c.tr[2].Close()
	c.tr[2].Close()
	c.tr[1].Send([]raftpb.Message{app(1, 2, 0, nil)})
	time.Sleep(50 * time.Millisecond)
	if c.rec[2].len() != 0 {
		t.Fatal("delivered after Close")
	}
	c.tr[1].Close()
	c.tr[1].Send([]raftpb.Message{app(1, 2, 0, nil)})
	if c.tr[1].Stats().DroppedBy[transport.DropClosed] != 1 {
		t.Fatalf("stats: %+v", c.tr[1].Stats())
	}
	if err := c.tr[1].Start(func(raftpb.Message) {}); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}
