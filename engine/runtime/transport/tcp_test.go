package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// syncBuffer collects log output from several goroutines.
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

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type tcpCluster struct {
	lns  map[uint64]net.Listener
	addr map[uint64]string
	tr   map[uint64]*TCP
	rec  map[uint64]*recorder
	logs *syncBuffer
}

// newTCPCluster starts one TCP transport per ID on 127.0.0.1 ephemeral
// ports, each delivering to its own recorder.
func newTCPCluster(t testing.TB, tweak func(*TCPConfig), ids ...uint64) *tcpCluster {
	t.Helper()
	c := &tcpCluster{lns: map[uint64]net.Listener{}, addr: map[uint64]string{}, tr: map[uint64]*TCP{},
		rec: map[uint64]*recorder{}, logs: &syncBuffer{}}
	for _, id := range ids {
		c.lns[id] = listen(t)
		c.addr[id] = c.lns[id].Addr().String()
	}
	for _, id := range ids {
		c.start(t, id, c.lns[id], tweak)
	}
	return c
}

func (c *tcpCluster) start(t testing.TB, id uint64, ln net.Listener, tweak func(*TCPConfig)) {
	t.Helper()
	cfg := TCPConfig{ID: id, Listener: ln, Peers: c.addr, BackoffMin: 5 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(c.logs, nil))}
	if tweak != nil {
		tweak(&cfg)
	}
	tr, err := NewTCP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.tr[id], c.rec[id] = tr, newRecorder()
	if err := tr.Start(c.rec[id].handle); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
}

func TestTCPThreeNodesInOrderPerPair(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newTCPCluster(t, func(cfg *TCPConfig) { cfg.QueueLimit = 1 << 14 }, ids...)
	const perPair = 5000
	var wg sync.WaitGroup
	for _, from := range ids {
		wg.Go(func() {
			for sent := 0; sent < perPair; sent += 50 {
				var batch []raftpb.Message
				for _, to := range ids {
					if to != from {
						batch = append(batch, seqMsgs(from, to, uint64(sent+1), 50)...)
					}
				}
				batch[0].Entries = []raftpb.Entry{{Term: 1, Index: 7, Data: []byte("payload")}}
				batch[0].Type = raftpb.MsgApp
				c.tr[from].Send(batch)
			}
		})
	}
	wg.Wait()
	for _, to := range ids {
		c.rec[to].waitTotal(t, 2*perPair, 20*time.Second)
		for _, from := range ids {
			if from != to {
				got := c.rec[to].from(from)
				checkInOrder(t, "tcp pair", got, perPair)
				for _, m := range got {
					if m.Type == raftpb.MsgApp && (len(m.Entries) != 1 || string(m.Entries[0].Data) != "payload") {
						t.Fatalf("entries corrupted in transit: %+v", m.Entries)
					}
				}
			}
		}
	}
	s := c.tr[1].Stats()
	if s.Sent != 2*perPair || s.Received != 2*perPair || s.Dropped != 0 || s.ConnErrors != 0 {
		t.Fatalf("node 1 stats: %+v", s)
	}
	if s.Connects != 2 || s.BytesSent == 0 || s.BytesReceived == 0 {
		t.Fatalf("node 1 connection stats: %+v", s)
	}
	if s.Writes == 0 || s.FramesWritten != s.Sent {
		t.Fatalf("writes %d, frames %d, sent %d", s.Writes, s.FramesWritten, s.Sent)
	}
	t.Logf("node 1: %d frames in %d writes (%.1f per write)", s.FramesWritten, s.Writes, float64(s.FramesWritten)/float64(s.Writes))
}

// sendUntil resends a heartbeat from -> to until rec has at least n
// messages from `from` or the deadline passes.
func sendUntil(t *testing.T, tr *TCP, rec *recorder, from, to uint64, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.from(from)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no delivery %d->%d within 10s; stats %+v", from, to, tr.Stats())
		}
		tr.Send([]raftpb.Message{{Type: raftpb.MsgHeartbeat, From: from, To: to, Term: 1}})
		time.Sleep(2 * time.Millisecond) // pacing a retry loop, not synchronisation
	}
}

func TestTCPPeerRestartReconnects(t *testing.T) {
	c := newTCPCluster(t, nil, 1, 2)
	sendUntil(t, c.tr[1], c.rec[2], 1, 2, 1)
	c.tr[2].Close()
	// While node 2 is down, dials fail and messages are dropped and
	// counted, never block.
	waitFor(t, "a failed dial", func() bool {
		c.tr[1].Send(seqMsgs(1, 2, 1, 10))
		return c.tr[1].Stats().DialFailures > 0
	})
	// Rebind node 2 on the same port, as a restarted process would.
	ln, err := net.Listen("tcp", c.addr[2])
	if err != nil {
		t.Fatal(err)
	}
	c.start(t, 2, ln, nil)
	sendUntil(t, c.tr[1], c.rec[2], 1, 2, 1)
	sendUntil(t, c.tr[2], c.rec[1], 2, 1, 1) // and the other way round
	s := c.tr[1].Stats()
	if s.Connects < 2 {
		t.Fatalf("node 1 connected %d times, want a reconnect: %+v", s.Connects, s)
	}
	if s.DroppedBy[DropUnreachable] == 0 {
		t.Fatalf("no message counted unreachable while the peer was down: %+v", s)
	}
}

func TestTCPUnreachablePeerDropsAndNeverBlocks(t *testing.T) {
	dead := listen(t)
	addr := dead.Addr().String()
	dead.Close()
	tr, err := NewTCP(TCPConfig{ID: 1, Peers: map[uint64]string{2: addr}, QueueLimit: 100,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(func(raftpb.Message) {}); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	for range 100 {
		tr.Send(seqMsgs(1, 2, 1, 100))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send blocked for %v on an unreachable peer", d)
	}
	tr.Close()
	s := tr.Stats()
	if s.Sent != 0 || s.Dropped != 10000 || s.DroppedBy[DropQueueFull] == 0 {
		t.Fatalf("stats %+v: want all 10000 dropped, some for a full queue", s)
	}
}

func TestTCPSendDropsTooLargeUnknownInvalid(t *testing.T) {
	c := newTCPCluster(t, func(cfg *TCPConfig) { cfg.MaxFrameBytes = 1 << 10 }, 1, 2)
	big := raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Entries: []raftpb.Entry{{Data: make([]byte, 2000)}}}
	// Just under the limit by data bytes, over it once encoded.
	edge := raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1 << 60, Entries: []raftpb.Entry{{Data: make([]byte, 1020)}}}
	c.tr[1].Send([]raftpb.Message{big, edge, {Type: raftpb.MsgHeartbeat, From: 1, To: 9},
		{Type: 0, From: 1, To: 2}, {Type: raftpb.MsgHeartbeat, From: 1, To: 1}, {Type: raftpb.MsgHeartbeat, From: 2, To: 2}})
	sendUntil(t, c.tr[1], c.rec[2], 1, 2, 1)
	s := c.tr[1].Stats()
	if s.DroppedBy[DropTooLarge] != 2 || s.DroppedBy[DropUnknownPeer] != 2 || s.DroppedBy[DropInvalid] != 2 {
		t.Fatalf("drops %v", s.DroppedBy)
	}
	for _, m := range c.rec[2].from(1) {
		if m.Type != raftpb.MsgHeartbeat {
			t.Fatalf("an oversized message was delivered: %v", m)
		}
	}
}

func TestTCPLargeFrames(t *testing.T) {
	c := newTCPCluster(t, nil, 1, 2)
	snap := &raftpb.Snapshot{Meta: raftpb.SnapshotMeta{Index: 9, Term: 2, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}}},
		Data: bytes.Repeat([]byte("0123456789abcdef"), 300_000/16)} // > read buffer
	c.tr[1].Send([]raftpb.Message{
		{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 2, Index: 1, Snapshot: snap},
		{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 2, Index: 2, Snapshot: snap},
	})
	c.rec[2].waitTotal(t, 2, 10*time.Second)
	for _, m := range c.rec[2].from(1) {
		if !bytes.Equal(m.Snapshot.Data, snap.Data) || m.Snapshot.Meta.Index != 9 {
			t.Fatalf("snapshot corrupted in transit")
		}
	}
}

// rawConn dials node 1 of c directly and optionally sends a handshake
// claiming to be node `as`.
func rawConn(t *testing.T, c *tcpCluster, as uint64) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.addr[1], time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if as != 0 {
		if _, err := conn.Write(appendHandshake(nil, as, 1)); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

func TestTCPBadInputClosesOnlyThatConnection(t *testing.T) {
	c := newTCPCluster(t, func(cfg *TCPConfig) { cfg.MaxFrameBytes = 1 << 20; cfg.DialTimeout = 2 * time.Second }, 1, 2, 3)
	goodMsg := raftpb.AppendMessage(nil, &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 3, To: 1})
	cases := []struct {
		name string
		as   uint64 // handshake as this node first (0: none)
		send []byte
		half bool // close our write side after sending (truncation)
		log  string
	}{
		{"garbage instead of handshake", 0, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "frame length"},
		{"wrong magic", 0, frame([]byte("NOPE\x01\x03\x01")), false, "not a raftbench handshake"},
		{"handshake from unknown node", 9, nil, false, "unknown node 9"},
		{"handshake for another node", 0, appendHandshake(nil, 3, 2), false, "addressed to node 2"},
		{"oversized length", 3, []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, false, "frame length 4294967295"},
		{"zero length", 3, []byte{0, 0, 0, 0}, false, "frame length 0"},
		{"truncated frame", 3, append(binary.BigEndian.AppendUint32(nil, 100), goodMsg...), true, "truncated frame"},
		{"truncated large frame", 3, append(binary.BigEndian.AppendUint32(nil, 500_000), make([]byte, 200_000)...), true, "truncated frame"},
		{"truncated header", 3, []byte{0, 0}, true, "truncated frame"},
		{"malformed message", 3, frame([]byte{1, 99, 0, 0}), false, "unknown message type 99"},
		{"spoofed sender", 3, frame(raftpb.AppendMessage(nil, &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, To: 1})), false, "message 2->1"},
		{"silent after connect", 0, nil, false, "i/o timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.tr[1].Stats().ConnErrors
			conn := rawConn(t, c, tc.as)
			if len(tc.send) > 0 {
				if _, err := conn.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			if tc.half {
				conn.(*net.TCPConn).CloseWrite()
			}
			// The server must close the connection: our read ends.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection still open after bad input (read %d, %v)", n, err)
			}
			waitFor(t, "error counted", func() bool { return c.tr[1].Stats().ConnErrors > before })
			if !strings.Contains(c.logs.String(), tc.log) {
				t.Fatalf("log does not mention %q:\n%s", tc.log, c.logs.String())
			}
			// Node 1 keeps serving its real peers.
			n := len(c.rec[1].from(2))
			sendUntil(t, c.tr[2], c.rec[1], 2, 1, n+1)
		})
	}
	// A valid message on a raw connection is accepted, so the cases above
	// failed for the reason they name.
	conn := rawConn(t, c, 3)
	n := len(c.rec[1].from(3))
	conn.Write(frame(goodMsg))
	waitFor(t, "raw good frame delivered", func() bool { return len(c.rec[1].from(3)) > n })
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// waitFor polls cond for up to 10 s: for effects of another process-like
// party (a remote close) that offer nothing to block on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTCPCloseLeaksNoGoroutinesAndIsIdempotent(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		c := newTCPCluster(t, nil, 1, 2, 3)
		for _, from := range []uint64{1, 2, 3} {
			for _, to := range []uint64{1, 2, 3} {
				if from != to {
					sendUntil(t, c.tr[from], c.rec[to], from, to, 1)
				}
			}
		}
		raw := rawConn(t, c, 0) // an inbound connection stuck before its handshake
		_ = raw
		for _, tr := range c.tr {
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		}
		before := c.tr[1].Stats().Sent
		c.tr[1].Send(seqMsgs(1, 2, 1, 3))
		if s := c.tr[1].Stats(); s.DroppedBy[DropClosed] < 3 || s.Sent != before {
			t.Fatalf("Send after Close: %+v", s)
		}
		if err := c.tr[1].Start(func(raftpb.Message) {}); err == nil {
			t.Fatal("Start after Close succeeded")
		}
	}()
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
}

func TestTCPCloseWithoutStart(t *testing.T) {
	base := runtime.NumGoroutine()
	tr, err := NewTCP(TCPConfig{ID: 1, Peers: map[uint64]string{2: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Send(seqMsgs(1, 2, 1, 3))
	tr.Close()
	if s := tr.Stats(); s.DroppedBy[DropClosed] != 3 {
		t.Fatalf("queued messages not counted at Close: %+v", s)
	}
	if _, err := net.Dial("tcp", tr.Addr().String()); err == nil {
		t.Fatal("listener still open after Close")
	}
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
}

func TestTCPConfigErrors(t *testing.T) {
	cases := []TCPConfig{
		{},
		{ID: 1, Peers: map[uint64]string{0: "127.0.0.1:1"}},
		{ID: 1, Peers: map[uint64]string{2: ""}},
		{ID: 1, MaxFrameBytes: 1 << 40},
		{ID: 1, ListenAddr: "127.0.0.1:99999"},
	}
	for i, cfg := range cases {
		if tr, err := NewTCP(cfg); err == nil {
			tr.Close()
			t.Errorf("case %d: config %+v accepted", i, cfg)
		}
	}
}

func TestTCPMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newTCPCluster(t, func(cfg *TCPConfig) {
		if cfg.ID == 1 {
			cfg.Registerer = reg
		}
	}, 1, 2)
	sendUntil(t, c.tr[1], c.rec[2], 1, 2, 3)
	c.tr[1].Send([]raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 7}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "/" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	for _, k := range []string{
		"raftbench_transport_messages_sent_total/MsgHeartbeat",
		"raftbench_transport_messages_dropped_total/unknown_peer",
		"raftbench_transport_bytes_sent_total",
		"raftbench_transport_connects_total",
		"raftbench_transport_writes_total",
		"raftbench_transport_frames_written_total",
	} {
		if got[k] < 1 {
			t.Errorf("metric %s = %v, want >= 1 (have %v)", k, got[k], got)
		}
	}
	if _, err := NewTCP(TCPConfig{ID: 1, Registerer: reg}); err == nil {
		t.Fatal("a second transport registered the same series without error")
	}
}

// startBenchPair starts nodes 1 and 2 on loopback with the given handlers.
func startBenchPair(b *testing.B, handlers map[uint64]Handler) map[uint64]*TCP {
	addr := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for id := range handlers {
		lns[id] = listen(b)
		addr[id] = lns[id].Addr().String()
	}
	tr := map[uint64]*TCP{}
	for id, h := range handlers {
		t, err := NewTCP(TCPConfig{ID: id, Listener: lns[id], Peers: addr})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		if err := t.Start(h); err != nil {
			b.Fatal(err)
		}
		tr[id] = t
	}
	return tr
}

// BenchmarkTCPStream streams messages from node 1 to node 2 over
// loopback, one message per Send, with at most 1024 in flight, and
// reports msgs/s, MB/s (encoded message bytes) and frames per write.
// MsgApp64 is the benchmark's write: 64 entries of 144-byte commands
// (bench: 16 B key + 128 B value).
func BenchmarkTCPStream(b *testing.B) {
	for _, bc := range []struct {
		name string
		msg  raftpb.Message
	}{
		{"MsgApp64", benchMsgApp(1, 2)},
		{"MsgAppResp", raftpb.Message{Type: raftpb.MsgAppResp, From: 1, To: 2, Term: 3, Index: 1 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchStream(b, bc.msg) })
	}
}

func benchStream(b *testing.B, m raftpb.Message) {
	window := make(chan struct{}, 1024)
	done := make(chan struct{})
	got, want := 0, b.N
	tr := startBenchPair(b, map[uint64]Handler{
		1: func(raftpb.Message) {},
		2: func(raftpb.Message) { // one inbound connection: calls are serial
			<-window
			if got++; got == want {
				close(done)
			}
		},
	})
	msg := []raftpb.Message{m}
	b.SetBytes(int64(raftpb.MessageSize(&msg[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		window <- struct{}{}
		tr[1].Send(msg)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("not all %d delivered; stats %+v", want, tr[1].Stats())
	}
	b.StopTimer()
	s := tr[1].Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(s.FramesWritten)/float64(max(s.Writes, 1)), "frames/write")
}

// BenchmarkTCPPingPong measures one round trip (heartbeat and response)
// between two transports over loopback: ns/op is the round-trip time.
func BenchmarkTCPPingPong(b *testing.B) {
	pong := make(chan struct{}, 1)
	var tr map[uint64]*TCP
	reply := []raftpb.Message{{Type: raftpb.MsgHeartbeatResp, From: 2, To: 1, Term: 1}}
	tr = startBenchPair(b, map[uint64]Handler{
		1: func(raftpb.Message) { pong <- struct{}{} },
		2: func(raftpb.Message) { tr[2].Send(reply) },
	})
	ping := []raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 1}}
	tr[1].Send(ping) // connect both ways before timing
	<-pong
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr[1].Send(ping)
		<-pong
	}
}

// TestTCPAddRemovePeer: a peer added at run time is dialled and accepted;
// once removed, messages to it are dropped as unknown and its
// connections are refused.
func TestTCPAddRemovePeer(t *testing.T) {
	recv := make(chan raftpb.Message, 16)
	b, err := NewTCP(TCPConfig{ID: 2, Peers: map[uint64]string{2: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := NewTCP(TCPConfig{ID: 1, Peers: map[uint64]string{1: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := b.Start(func(m raftpb.Message) { recv <- m }); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(func(raftpb.Message) {}); err != nil {
		t.Fatal(err)
	}
	hb := []raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 1}}
	a.Send(hb)
	if a.Stats().DroppedBy[DropUnknownPeer] != 1 {
		t.Fatalf("send to a peer not yet added: %+v", a.Stats())
	}
	for _, bad := range []struct {
		id   uint64
		addr string
	}{{0, "127.0.0.1:1"}, {1, "127.0.0.1:1"}, {3, "no-port"}} {
		if err := a.AddPeer(bad.id, bad.addr); !errors.Is(err, ErrBadPeer) {
			t.Errorf("AddPeer(%d, %q): %v", bad.id, bad.addr, err)
		}
	}
	if err := a.AddPeer(2, b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	a.Send(hb)
	select {
	case m := <-recv:
		if m.From != 1 || m.Type != raftpb.MsgHeartbeat {
			t.Fatalf("got %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message to an added peer not delivered")
	}
	a.RemovePeer(2)
	if _, ok := a.Peers()[2]; ok {
		t.Fatal("removed peer still listed")
	}
	before := a.Stats().DroppedBy[DropUnknownPeer]
	a.Send(hb)
	if a.Stats().DroppedBy[DropUnknownPeer] != before+1 {
		t.Fatal("send to a removed peer not dropped as unknown")
	}
}
