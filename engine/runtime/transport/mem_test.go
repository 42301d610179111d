package transport

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// recorder is a Handler that keeps what it got, per sender.
type recorder struct {
	mu    sync.Mutex
	got   map[uint64][]raftpb.Message
	total int
	cond  *sync.Cond
}

func newRecorder() *recorder {
	r := &recorder{got: map[uint64][]raftpb.Message{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) handle(m raftpb.Message) {
	r.mu.Lock()
	r.got[m.From] = append(r.got[m.From], m)
	r.total++
	r.mu.Unlock()
	r.cond.Broadcast()
}

// waitTotal blocks until n messages arrived or the deadline passes.
func (r *recorder) waitTotal(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, r.cond.Broadcast)
	defer stop.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.total < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d messages, want %d within %v", r.total, n, d)
		}
		r.cond.Wait()
	}
}

func (r *recorder) from(id uint64) []raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[id])
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// seqMsgs builds n heartbeats from -> to whose Index is first, first+1, ...
func seqMsgs(from, to uint64, first uint64, n int) []raftpb.Message {
	out := make([]raftpb.Message, n)
	for i := range out {
		out[i] = raftpb.Message{Type: raftpb.MsgHeartbeat, From: from, To: to, Term: 1, Index: first + uint64(i)}
	}
	return out
}

// checkInOrder asserts msgs carry Index 1..n in order.
func checkInOrder(t *testing.T, what string, msgs []raftpb.Message, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("%s: got %d messages, want %d", what, len(msgs), n)
	}
	for i, m := range msgs {
		if m.Index != uint64(i+1) {
			t.Fatalf("%s: message %d has Index %d: out of order", what, i, m.Index)
		}
	}
}

func startMem(t *testing.T, n *MemNetwork, ids ...uint64) (map[uint64]Transport, map[uint64]*recorder) {
	t.Helper()
	eps, recs := map[uint64]Transport{}, map[uint64]*recorder{}
	for _, id := range ids {
		eps[id], recs[id] = n.Endpoint(id), newRecorder()
		if err := eps[id].Start(recs[id].handle); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eps[id].Close() })
	}
	return eps, recs
}

func TestMemDeliversInOrderPerPair(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(map[bool]string{false: "queued", true: "direct"}[direct], func(t *testing.T) {
			testMemInOrder(t, MemOptions{Direct: direct})
		})
	}
}

func testMemInOrder(t *testing.T, opts MemOptions) {
	net := NewMemNetwork(opts)
	ids := []uint64{1, 2, 3}
	eps, recs := startMem(t, net, ids...)
	const perPair = 3000
	var wg sync.WaitGroup
	for _, from := range ids {
		wg.Go(func() {
			for sent := 0; sent < perPair; sent += 100 {
				var batch []raftpb.Message
				for _, to := range ids {
					if to != from {
						batch = append(batch, seqMsgs(from, to, uint64(sent+1), 100)...)
					}
				}
				eps[from].Send(batch)
			}
		})
	}
	wg.Wait()
	for _, to := range ids {
		recs[to].waitTotal(t, 2*perPair, 10*time.Second)
		for _, from := range ids {
			if from != to {
				checkInOrder(t, "pair", recs[to].from(from), perPair)
			}
		}
	}
	s := net.Stats()
	if s.Sent != 6*perPair || s.Received != 6*perPair || s.Dropped != 0 {
		t.Fatalf("stats: sent %d received %d dropped %d, want %d/%d/0", s.Sent, s.Received, s.Dropped, 6*perPair, 6*perPair)
	}
	if s.SentByType[raftpb.MsgHeartbeat] != 6*perPair {
		t.Fatalf("SentByType = %v", s.SentByType)
	}
}

func TestMemPartitionsAndCuts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := NewMemNetwork(MemOptions{})
		eps, recs := startMem(t, net, 1, 2, 3)
		// sendAll sends one message on every ordered pair and returns
		// which pairs were delivered.
		sendAll := func() map[[2]uint64]bool {
			before := map[[2]uint64]int{}
			for to, r := range recs {
				for from := range eps {
					before[[2]uint64{from, to}] = len(r.from(from))
				}
			}
			for from, ep := range eps {
				for to := range eps {
					if to != from {
						ep.Send([]raftpb.Message{{Type: raftpb.MsgHeartbeat, From: from, To: to}})
					}
				}
			}
			synctest.Wait() // every delivery goroutine is idle again
			got := map[[2]uint64]bool{}
			for k, n := range before {
				if len(recs[k[1]].from(k[0])) > n {
					got[k] = true
				}
			}
			return got
		}
		type pair = [2]uint64
		all := map[pair]bool{{1, 2}: true, {1, 3}: true, {2, 1}: true, {2, 3}: true, {3, 1}: true, {3, 2}: true}
		cases := []struct {
			name  string
			setup func()
			want  map[pair]bool
		}{
			{"connected", func() {}, all},
			{"minority 1", func() { net.Partition([]uint64{1}, []uint64{2, 3}) }, map[pair]bool{{2, 3}: true, {3, 2}: true}},
			{"unnamed form a group", func() { net.Partition([]uint64{3}) }, map[pair]bool{{1, 2}: true, {2, 1}: true}},
			{"isolate 2", func() { net.Heal(); net.Isolate(2) }, map[pair]bool{{1, 3}: true, {3, 1}: true}},
			{"one-way cut", func() { net.Heal(); net.BlockLink(1, 2) },
				map[pair]bool{{1, 3}: true, {2, 1}: true, {2, 3}: true, {3, 1}: true, {3, 2}: true}},
			{"healed", net.Heal, all},
		}
		for _, tc := range cases {
			tc.setup()
			got := sendAll()
			if len(got) != len(tc.want) {
				t.Fatalf("%s: delivered %v, want %v", tc.name, got, tc.want)
			}
			for k := range tc.want {
				if !got[k] || !net.Connected(k[0], k[1]) {
					t.Fatalf("%s: delivered %v, want %v", tc.name, got, tc.want)
				}
			}
		}
		if s := net.Stats(); s.DroppedBy[DropPartition] != 4+4+4+1 {
			t.Fatalf("partition drops = %d, want 13", s.DroppedBy[DropPartition])
		}
	})
}

func TestMemPartitionCutsMessagesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := NewMemNetwork(MemOptions{Latency: 10 * time.Millisecond})
		eps, recs := startMem(t, net, 1, 2)
		eps[1].Send(seqMsgs(1, 2, 1, 5))
		time.Sleep(5 * time.Millisecond)
		net.Isolate(2)
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if n := recs[2].count(); n != 0 {
			t.Fatalf("%d messages crossed a partition made while they were in flight", n)
		}
		if s := net.Stats(); s.DroppedBy[DropPartition] != 5 {
			t.Fatalf("partition drops %d, want 5", s.DroppedBy[DropPartition])
		}
	})
}

func TestMemLatencyAndJitterKeepPairOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lat, jit = 10 * time.Millisecond, 8 * time.Millisecond
		net := NewMemNetwork(MemOptions{Latency: lat, Jitter: jit, Seed: 7})
		eps, recs := startMem(t, net, 1, 2, 3)
		start := time.Now()
		for i := range 200 {
			eps[1].Send(seqMsgs(1, 2, uint64(i+1), 1))
			eps[3].Send(seqMsgs(3, 2, uint64(i+1), 1))
		}
		time.Sleep(lat - time.Millisecond)
		synctest.Wait()
		if n := recs[2].count(); n != 0 {
			t.Fatalf("%d messages arrived before the %v latency", n, lat)
		}
		time.Sleep(jit + 2*time.Millisecond)
		synctest.Wait()
		checkInOrder(t, "1->2", recs[2].from(1), 200)
		checkInOrder(t, "3->2", recs[2].from(3), 200)
		if time.Since(start) > lat+jit+time.Millisecond {
			t.Fatalf("fake clock ran ahead: %v", time.Since(start))
		}
	})
}

func TestMemDropRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := NewMemNetwork(MemOptions{DropRate: 0.5, Seed: 1})
		eps, recs := startMem(t, net, 1, 2)
		eps[1].Send(seqMsgs(1, 2, 1, 2000))
		synctest.Wait()
		got := recs[2].from(1)
		if len(got) < 800 || len(got) > 1200 {
			t.Fatalf("delivered %d of 2000 at drop rate 0.5", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Index <= got[i-1].Index {
				t.Fatalf("loss reordered messages: %d after %d", got[i].Index, got[i-1].Index)
			}
		}
		s := net.Stats()
		if s.DroppedBy[DropRandom] != uint64(2000-len(got)) || s.Received != uint64(len(got)) {
			t.Fatalf("stats %+v do not add up to %d delivered", s, len(got))
		}
		net.SetDropRate(0)
		eps[1].Send(seqMsgs(1, 2, 1, 100))
		synctest.Wait()
		if n := recs[2].count(); n != len(got)+100 {
			t.Fatalf("after SetDropRate(0) still losing: %d", n-len(got))
		}
	})
}

func TestMemInboxBoundAndStartLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := NewMemNetwork(MemOptions{InboxLimit: 10})
		a, b := net.Endpoint(1), net.Endpoint(2)
		defer a.Close()
		defer b.Close()
		a.Send(seqMsgs(1, 2, 1, 15)) // b not started: its inbox holds 10
		rec := newRecorder()
		if err := b.Start(rec.handle); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(rec.handle); err == nil {
			t.Fatal("second Start succeeded")
		}
		synctest.Wait()
		checkInOrder(t, "bounded inbox", rec.from(1), 10)
		if s := net.Stats(); s.DroppedBy[DropQueueFull] != 5 {
			t.Fatalf("queue_full drops %d, want 5", s.DroppedBy[DropQueueFull])
		}
	})
}

func TestMemRejectsUnknownSelfInvalid(t *testing.T) {
	net := NewMemNetwork(MemOptions{})
	eps, _ := startMem(t, net, 1, 2)
	eps[1].Send([]raftpb.Message{
		{Type: raftpb.MsgHeartbeat, From: 1, To: 9},
		{Type: raftpb.MsgHeartbeat, From: 1, To: 1},
		{Type: 0, From: 1, To: 2},
		{Type: 200, From: 1, To: 2},
		{Type: raftpb.MsgHeartbeat, From: 3, To: 2}, // not the sender's ID
	})
	s := net.Stats()
	if s.DroppedBy[DropUnknownPeer] != 2 || s.DroppedBy[DropInvalid] != 3 || s.Sent != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMemCloseAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := NewMemNetwork(MemOptions{})
		eps, recs := startMem(t, net, 1, 2)
		if net.Endpoint(2) != eps[2] {
			t.Fatal("Endpoint of an open node returned a new endpoint")
		}
		if err := eps[2].Close(); err != nil {
			t.Fatal(err)
		}
		if err := eps[2].Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := eps[2].Start(recs[2].handle); err == nil {
			t.Fatal("Start after Close succeeded")
		}
		eps[1].Send(seqMsgs(1, 2, 1, 3))
		eps[2].Send(seqMsgs(2, 1, 1, 3))
		synctest.Wait()
		if recs[2].count() != 0 || recs[1].count() != 0 {
			t.Fatal("a closed endpoint sent or received")
		}
		// A restarted node gets a fresh endpoint under the same ID.
		fresh, rec := net.Endpoint(2), newRecorder()
		if fresh == eps[2] {
			t.Fatal("Endpoint reused a closed endpoint")
		}
		if err := fresh.Start(rec.handle); err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		eps[1].Send(seqMsgs(1, 2, 1, 3))
		synctest.Wait()
		checkInOrder(t, "after restart", rec.from(1), 3)
		if s := net.Stats(); s.DroppedBy[DropClosed] != 6 || s.Received != 3 {
			t.Fatalf("stats after restart: %+v", s)
		}
	})
}

func TestMemCopyEntries(t *testing.T) {
	for _, copyEntries := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			net := NewMemNetwork(MemOptions{CopyEntries: copyEntries})
			eps, recs := startMem(t, net, 1, 2)
			ents := []raftpb.Entry{{Term: 1, Index: 1, Data: []byte("a")}}
			msgs := []raftpb.Message{{Type: raftpb.MsgApp, From: 1, To: 2, Entries: ents}}
			eps[1].Send(msgs)
			msgs[0].Index = 99 // the msgs slice itself is always copied
			synctest.Wait()
			ents[0].Index = 42 // a sender that reuses its Entries array
			got := recs[2].from(1)[0]
			if got.Index != 0 {
				t.Fatal("transport retained the caller's msgs slice")
			}
			if shared := got.Entries[0].Index == 42; shared == copyEntries {
				t.Fatalf("CopyEntries=%v but entries shared=%v", copyEntries, shared)
			}
		})
	}
}

// BenchmarkMemTransport sends 64-entry MsgApps (144-byte commands), one
// per Send, from node 1 to node 2 and waits until all have arrived.
func BenchmarkMemTransport(b *testing.B) {
	net := NewMemNetwork(MemOptions{InboxLimit: 1 << 16})
	a, c := net.Endpoint(1), net.Endpoint(2)
	defer a.Close()
	defer c.Close()
	var mu sync.Mutex
	got, want := 0, 0
	done := make(chan struct{}, 1)
	c.Start(func(m raftpb.Message) {
		mu.Lock()
		got++
		if got == want {
			done <- struct{}{}
		}
		mu.Unlock()
	})
	a.Start(func(raftpb.Message) {})
	msg := []raftpb.Message{benchMsgApp(1, 2)}
	b.SetBytes(int64(raftpb.MessageSize(&msg[0])))
	b.ReportAllocs()
	mu.Lock()
	want = b.N
	mu.Unlock()
	for range b.N {
		a.Send(msg)
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if s := net.Stats(); s.Dropped != 0 {
		b.Fatalf("dropped %d", s.Dropped)
	}
}

func benchMsgApp(from, to uint64) raftpb.Message {
	m := raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 3, LogTerm: 3, Index: 1 << 20, Commit: 1<<20 - 5}
	m.Entries = make([]raftpb.Entry, 64)
	data := make([]byte, 64*144)
	for i := range m.Entries {
		m.Entries[i] = raftpb.Entry{Term: 3, Index: m.Index + 1 + uint64(i), Data: data[i*144 : (i+1)*144 : (i+1)*144]}
	}
	return m
}

// With Direct, Send runs the receiver's Handler before it returns, never
// two at once for one receiver, and never ahead of messages queued
// before the receiver started.
func TestMemDirectDelivery(t *testing.T) {
	net := NewMemNetwork(MemOptions{Direct: true})
	a, b := net.Endpoint(1), net.Endpoint(2)
	ra := newRecorder()
	if err := a.Start(ra.handle); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Queued: b is not started yet.
	b2a := seqMsgs(2, 1, 1, 10)
	a.Send(seqMsgs(1, 2, 1, 10))
	var busy, overlaps int32
	var mu sync.Mutex
	rb := newRecorder()
	if err := b.Start(func(m raftpb.Message) {
		mu.Lock()
		busy++
		if busy > 1 {
			overlaps++
		}
		mu.Unlock()
		rb.handle(m)
		mu.Lock()
		busy--
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Send(b2a[:5])
	if got := ra.count(); got != 5 {
		t.Fatalf("after a direct Send returned the receiver had %d messages, want 5", got)
	}
	b.Send(b2a[5:])
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 100; i++ {
				a.Send(seqMsgs(1, 2, uint64(11+g*100+i), 1))
			}
		})
	}
	wg.Wait()
	rb.waitTotal(t, 410, 10*time.Second)
	got := rb.from(1)
	checkInOrder(t, "queued before start, then direct", got[:10], 10)
	checkInOrder(t, "direct", ra.from(2), 10)
	mu.Lock()
	defer mu.Unlock()
	if overlaps != 0 {
		t.Fatalf("handler ran concurrently %d times", overlaps)
	}
}
