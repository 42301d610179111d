package driver

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/raftpb"
)

// counterSM appends every command to a log; its state is that log.
type counterSM struct{ log []byte }

func (c *counterSM) Apply(cmd []byte) []byte {
	c.log = append(c.log, cmd...)
	return []byte{byte(len(c.log))}
}

func (c *counterSM) Restore(state []byte) error {
	c.log = slices.Clone(state)
	return nil
}

// recorder is Hooks that keeps every Result.
type recorder struct {
	results  []Result
	restored []uint64
}

func (r *recorder) Applying(*raftpb.Entry)            {}
func (r *recorder) Applied(res *Result)               { r.results = append(r.results, *res) }
func (r *recorder) Restored(meta raftpb.SnapshotMeta) { r.restored = append(r.restored, meta.Index) }

func cmdEntry(index, client, seq uint64, cmd string) raftpb.Entry {
	return raftpb.Entry{Index: index, Term: 1, Data: append(AppendHeader(nil, client, seq), cmd...)}
}

// TestApplierSessions: each (client, seq) takes effect once; retries get
// the first result; too old a seq is expired, not applied.
func TestApplierSessions(t *testing.T) {
	sm := &counterSM{}
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: sm})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		client, seq uint64
		want        Kind
	}{
		{7, 1, Applied},
		{7, 1, Duplicate}, // a retry
		{7, 3, Applied},
		{7, 2, Applied}, // out of order inside the window
		{7, 3, Duplicate},
		{8, 1, Applied}, // another client
		{7, 100, Applied},
		{7, 3, Expired}, // fell out of the 64-seq window
	}
	var r recorder
	for i, s := range steps {
		b := Batch{Entries: []raftpb.Entry{cmdEntry(uint64(i+1), s.client, s.seq, "x")}}
		if err := a.Apply(&b, &r); err != nil {
			t.Fatal(err)
		}
		if got := r.results[i].Kind; got != s.want {
			t.Fatalf("step %d (client %d seq %d): %v, want %v", i, s.client, s.seq, got, s.want)
		}
	}
	if got := r.results[1].Output; string(got) != string(r.results[0].Output) {
		t.Fatalf("retry answered %v, first result was %v", got, r.results[0].Output)
	}
	if st := a.Stats(); st.Commands != 5 || st.SessionHits != 2 || st.SessionExpired != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(sm.log) != 5 {
		t.Fatalf("state machine applied %d commands, want 5", len(sm.log))
	}
}

// TestApplierSnapshotCarriesAppliedConfiguration: a snapshot's metadata
// says the configuration in force at its index (after the membership
// changes applied so far), and restoring it gives the same state.
func TestApplierSnapshotCarriesAppliedConfiguration(t *testing.T) {
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1, 2, 3}, StateMachine: &counterSM{}, SnapshotEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	conf := func(i uint64, typ engine.ConfChangeType, node uint64) raftpb.Entry {
		return raftpb.Entry{Index: i, Term: 1, Type: raftpb.EntryConfChange, Data: engine.Change(typ, node).Encode()}
	}
	b := Batch{Entries: []raftpb.Entry{
		{Index: 1, Term: 1}, // leader no-op
		conf(2, engine.AddVoter, 4),
		cmdEntry(3, 9, 1, "a"),
		conf(4, engine.RemoveVoter, 2),
	}}
	var r recorder
	if err := a.Apply(&b, &r); err != nil {
		t.Fatal(err)
	}
	kinds := []Kind{r.results[0].Kind, r.results[1].Kind, r.results[2].Kind, r.results[3].Kind}
	if !slices.Equal(kinds, []Kind{Empty, ConfChange, Applied, ConfChange}) {
		t.Fatalf("kinds %v", kinds)
	}
	if !a.SnapshotDue() {
		t.Fatal("no snapshot due after SnapshotEvery entries (node 1 has no stagger)")
	}
	meta, sessions := a.CaptureSnapshot()
	if meta.Index != 4 || !slices.Equal(meta.Voters, []uint64{1, 3, 4}) {
		t.Fatalf("snapshot meta %+v, want index 4 voters [1 3 4]", meta)
	}
	if a.SnapshotDue() {
		t.Fatal("snapshot still due right after one was taken")
	}
	sm2 := &counterSM{}
	b2, _ := NewApplier(ApplierConfig{ID: 2, Voters: []uint64{1, 2, 3}, StateMachine: sm2})
	if err := b2.Restore(raftpb.Snapshot{Meta: meta, Data: append(sessions, "a"...)}); err != nil {
		t.Fatal(err)
	}
	if idx, _ := b2.Applied(); idx != 4 || !slices.Equal(b2.Voters(), meta.Voters) || string(sm2.log) != "a" {
		t.Fatalf("restored applied %d voters %v state %q", idx, b2.Voters(), sm2.log)
	}
	var r2 recorder
	retry := Batch{Entries: []raftpb.Entry{cmdEntry(5, 9, 1, "a")}}
	if err := b2.Apply(&retry, &r2); err != nil || r2.results[0].Kind != Duplicate {
		t.Fatalf("retry after restore: %v %+v", err, r2.results)
	}
}

// TestSnapshotStagger: voters take their first snapshot at different
// points of the interval; a non-voter shares a voter's slot.
func TestSnapshotStagger(t *testing.T) {
	voters := []uint64{1, 2, 3}
	cases := []struct {
		id   uint64
		want uint64
	}{{1, 0}, {2, 300}, {3, 600}, {4, 0}}
	for _, c := range cases {
		if got := snapshotStagger(c.id, voters, 900); got != c.want {
			t.Errorf("stagger(%d) = %d, want %d", c.id, got, c.want)
		}
	}
}

// TestApplierRefusesGaps: committed entries must be contiguous.
func TestApplierRefusesGaps(t *testing.T) {
	a, _ := NewApplier(ApplierConfig{ID: 1, StateMachine: &counterSM{}})
	b := Batch{Entries: []raftpb.Entry{{Index: 2, Term: 1}}}
	if err := a.Apply(&b, &recorder{}); err == nil {
		t.Fatal("applied index 2 after 0")
	}
}

// TestSnapshotSizeTrigger: with SnapshotLogRatio, a snapshot waits until
// the entry data applied since the last one reaches ratio x its size.
func TestSnapshotSizeTrigger(t *testing.T) {
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: &counterSM{}, SnapshotEvery: 2, SnapshotLogRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(n int) {
		t.Helper()
		var b Batch
		for range n {
			idx++
			b.Entries = append(b.Entries, cmdEntry(idx, 7, idx, "0123456789"))
		}
		if err := a.Apply(&b, &recorder{}); err != nil {
			t.Fatal(err)
		}
	}
	apply(2)
	if !a.SnapshotDue() {
		t.Fatal("no snapshot due with no size known yet")
	}
	a.CaptureSnapshot()
	a.SetSnapshotBytes(1000) // the state is large: about 1000 bytes of log must pass first
	apply(10)
	if a.SnapshotDue() {
		t.Fatal("snapshot due after far less log than the state's size")
	}
	apply(60)
	if !a.SnapshotDue() {
		t.Fatal("no snapshot due after more log than the state's size")
	}
}

// prefetchSM is counterSM that records what Prefetch was told and
// checks each applied command was handed to it before, in order.
type prefetchSM struct {
	counterSM
	t       *testing.T
	pending []string // prefetched, not yet applied
	groups  []int
}

func (p *prefetchSM) Prefetch(cmds [][]byte) {
	if len(cmds) > PrefetchGroup {
		p.t.Errorf("Prefetch given %d commands, at most %d", len(cmds), PrefetchGroup)
	}
	if len(p.pending) > 0 {
		p.t.Errorf("Prefetch before %q (prefetched earlier) was applied", p.pending)
	}
	for _, c := range cmds {
		p.pending = append(p.pending, string(c))
	}
	p.groups = append(p.groups, len(cmds))
}

func (p *prefetchSM) Apply(cmd []byte) []byte {
	if len(p.pending) > 0 {
		if p.pending[0] != string(cmd) {
			p.t.Errorf("applying %q, next prefetched %q", cmd, p.pending[0])
		}
		p.pending = p.pending[1:]
	}
	return p.counterSM.Apply(cmd)
}

// TestApplierPrefetches: a Prefetcher is handed each batch's commands in
// groups of at most PrefetchGroup, in log order, before they are applied
// (duplicates included, configuration changes, no-ops and malformed
// entries left out, a lone command not at all), and the results and the
// state are those of the same state machine without Prefetch.
func TestApplierPrefetches(t *testing.T) {
	var entries []raftpb.Entry
	for i := range uint64(100) {
		idx := i + 1
		switch {
		case i == 10:
			entries = append(entries, raftpb.Entry{Index: idx, Term: 1}) // no-op
		case i == 20:
			entries = append(entries, raftpb.Entry{Index: idx, Term: 1, Data: []byte{9}}) // malformed
		case i == 40:
			entries = append(entries, raftpb.Entry{Index: idx, Term: 1, Type: raftpb.EntryConfChange,
				Data: engine.Change(engine.AddLearner, 9).Encode()})
		case i%7 == 0 && i > 0:
			entries = append(entries, cmdEntry(idx, i%5, i-1, fmt.Sprint("c", i-1))) // a retry
		default:
			entries = append(entries, cmdEntry(idx, i%5, i, fmt.Sprint("c", i)))
		}
	}
	run := func(sm StateMachine) ([]Result, error) {
		a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: sm})
		if err != nil {
			return nil, err
		}
		var r recorder
		// One entry, then a batch longer than three groups, then the rest.
		for _, part := range [][]raftpb.Entry{entries[:1], entries[:70], entries[60:]} {
			if err := a.Apply(&Batch{Entries: part}, &r); err != nil {
				return nil, err
			}
		}
		return r.results, nil
	}
	plain := &counterSM{}
	want, err := run(plain)
	if err != nil {
		t.Fatal(err)
	}
	p := &prefetchSM{t: t}
	got, err := run(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || string(p.log) != string(plain.log) {
		t.Fatalf("results or state differ with Prefetch")
	}
	if len(p.pending) != 0 {
		t.Fatalf("prefetched but never applied: %q", p.pending)
	}
	// Entries 2-70: groups from 2, 34, 66 (69 left out: 11, 21, 41 are
	// not commands); entries 71-100: groups from 71 and 103.
	if wantGroups := []int{30, 31, 5, 30}; !slices.Equal(p.groups, wantGroups) {
		t.Fatalf("Prefetch groups %v, want %v", p.groups, wantGroups)
	}
}

// blindSM is counterSM whose commands starting with 'w' are blind: they
// always answer "ok" (and are still appended to the state).
type blindSM struct{ counterSM }

func (b *blindSM) Apply(cmd []byte) []byte {
	out := b.counterSM.Apply(cmd)
	if len(cmd) > 0 && cmd[0] == 'w' {
		return []byte("ok")
	}
	return out
}

func (b *blindSM) BlindResult(cmd []byte) ([]byte, bool) {
	if len(cmd) > 0 && cmd[0] == 'w' {
		return []byte("ok"), true
	}
	return nil, false
}

// settleRecorder is recorder that also keeps what Settled saw, and when
// (how many entries had been applied by then).
type settleRecorder struct {
	recorder
	settled   []Result
	atApplied []int
}

func (r *settleRecorder) Settled(res *Result) {
	r.settled = append(r.settled, *res)
	r.atApplied = append(r.atApplied, len(r.results))
}

// TestApplierSettlesBlindCommands: a batch's blind commands that the
// session table will apply are settled before any of the batch is
// applied, with the result Apply then gives; duplicates, expired seqs,
// state-dependent commands and a client's second entry in the batch are
// not; everything is still applied in order, exactly as without.
func TestApplierSettlesBlindCommands(t *testing.T) {
	sm := &blindSM{}
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: sm})
	if err != nil {
		t.Fatal(err)
	}
	var r settleRecorder
	first := Batch{Entries: []raftpb.Entry{cmdEntry(1, 7, 1, "w1"), cmdEntry(2, 9, 100, "w0")}}
	if err := a.Apply(&first, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.settled) != 2 {
		t.Fatalf("settled %d of the first batch's 2 new blind writes", len(r.settled))
	}
	r = settleRecorder{}
	b := Batch{Entries: []raftpb.Entry{
		cmdEntry(2, 9, 100, "w0"),                // already applied (index <= applied): skipped
		cmdEntry(3, 7, 1, "w1"),                  // duplicate of index 1: not settled
		cmdEntry(4, 9, 1, "w2"),                  // expired (100 - 1 >= 64): not settled
		{Index: 5, Term: 1},                      // a leader's empty entry
		cmdEntry(6, 8, 1, "c1"),                  // state-dependent: not settled
		cmdEntry(7, 10, 1, "w3"),                 // settled
		cmdEntry(8, 8, 2, "w4"),                  // client 8 has an earlier entry in the batch: not settled
		cmdEntry(9, 11, 5, "w5"),                 // settled
		{Index: 10, Term: 1, Data: []byte{1, 2}}, // malformed
		cmdEntry(11, 10, 2, "w6"),                // client 10 again: not settled
	}}
	if err := a.Apply(&b, &r); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i, s := range r.settled {
		got = append(got, s.Index)
		if r.atApplied[i] != 0 {
			t.Fatalf("index %d settled after %d entries of its batch were applied, want before any", s.Index, r.atApplied[i])
		}
		if s.Kind != Applied || string(s.Output) != "ok" {
			t.Fatalf("settled %+v, want Applied with the blind result", s)
		}
	}
	if want := []uint64{7, 9}; !slices.Equal(got, want) {
		t.Fatalf("settled indexes %v, want %v", got, want)
	}
	// Every entry is still applied in its turn, and each settled one
	// with the result it was settled with.
	kinds := map[uint64]Kind{}
	for _, res := range r.results {
		kinds[res.Index] = res.Kind
		for _, s := range r.settled {
			if s.Index == res.Index && (res.Kind != Applied || string(res.Output) != string(s.Output) || res.Client != s.Client || res.Seq != s.Seq) {
				t.Fatalf("index %d settled as %+v, applied as %+v", s.Index, s, res)
			}
		}
	}
	for _, res := range r.results {
		if res.Settled != (res.Index == 7 || res.Index == 9) {
			t.Fatalf("index %d applied with Settled %v", res.Index, res.Settled)
		}
	}
	want := map[uint64]Kind{3: Duplicate, 4: Expired, 5: Empty, 6: Applied, 7: Applied, 8: Applied, 9: Applied, 10: Malformed, 11: Applied}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("applied kinds %v, want %v", kinds, want)
	}
	if applied, _ := a.Applied(); applied != 11 {
		t.Fatalf("applied %d, want 11", applied)
	}
	// Nothing past a gap in the indexes is settled (Apply refuses it).
	r = settleRecorder{}
	gap := Batch{Entries: []raftpb.Entry{cmdEntry(12, 20, 1, "w"), cmdEntry(14, 21, 1, "w")}}
	if err := a.Apply(&gap, &r); err == nil || len(r.settled) != 1 || r.settled[0].Index != 12 {
		t.Fatalf("gap: err %v, settled %+v", err, r.settled)
	}
	// Hooks without Settled get every answer from Applied, as before.
	var plain recorder
	next := Batch{Entries: []raftpb.Entry{cmdEntry(13, 12, 1, "w7")}}
	if err := a.Apply(&next, &plain); err != nil || len(plain.results) != 1 || plain.results[0].Kind != Applied || plain.results[0].Settled {
		t.Fatalf("plain hooks: %v %+v", err, plain.results)
	}
	// A batch with more clients than the few the Applier tracks in a
	// slice: each client's first entry is settled, a repeat is not, in
	// this batch and the next.
	for round := range 2 {
		r = settleRecorder{}
		var big Batch
		index, _ := a.Applied()
		for c := uint64(100); c < 300; c++ {
			index++
			big.Entries = append(big.Entries, cmdEntry(index, c, uint64(10+round), "w"))
		}
		index++
		big.Entries = append(big.Entries, cmdEntry(index, 150, uint64(20+round), "w"))
		if err := a.Apply(&big, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.settled) != 200 || r.settled[199].Client != 299 {
			t.Fatalf("round %d: settled %d of 200 first entries", round, len(r.settled))
		}
	}
}

// TestApplierTakesWantedSnapshots: a batch asking for a snapshot at an
// index (a follower needs entries the leader dropped from memory) makes
// one due once applied reaches it, whatever SnapshotEvery says, and only
// until one is captured there.
func TestApplierTakesWantedSnapshots(t *testing.T) {
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: &counterSM{}})
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(n int, wanted uint64) {
		t.Helper()
		b := Batch{SnapshotWanted: wanted}
		for range n {
			idx++
			b.Entries = append(b.Entries, cmdEntry(idx, 7, idx, "x"))
		}
		if err := a.Apply(&b, &recorder{}); err != nil {
			t.Fatal(err)
		}
	}
	apply(3, 5)
	if a.SnapshotDue() {
		t.Fatal("snapshot due at 3, asked for at 5")
	}
	apply(2, 0)
	if !a.SnapshotDue() {
		t.Fatal("no snapshot due at 5, asked for at 5")
	}
	if meta, _ := a.CaptureSnapshot(); meta.Index != 5 {
		t.Fatalf("captured at %d, want 5", meta.Index)
	}
	apply(1, 5) // the leader asks again until the snapshot reaches its core
	if a.SnapshotDue() {
		t.Fatal("snapshot due again after one was captured at the asked index")
	}
	apply(0, 6)
	if !a.SnapshotDue() {
		t.Fatal("no snapshot due when asked for one at the applied index 6")
	}
}

// okSM answers every command with the same shared output and keeps
// nothing: an Applier's own allocations show alone.
type okSM struct{}

var okOutput = []byte("ok")

func (okSM) Apply([]byte) []byte               { return okOutput }
func (okSM) BlindResult([]byte) ([]byte, bool) { return okOutput, true }
func (okSM) Snapshot() []byte                  { return nil }
func (okSM) Restore([]byte) error              { return nil }

// settleHooks observes nothing: the hooks the runtime passes, less their work.
type settleHooks struct{}

func (settleHooks) Applying(*raftpb.Entry)       {}
func (settleHooks) Applied(*Result)              {}
func (settleHooks) Restored(raftpb.SnapshotMeta) {}
func (settleHooks) Settled(*Result)              {}

// TestApplyAndSettleDoNotAllocate: applying a batch of blind commands,
// settling them first, allocates nothing in the Applier (its Result is
// reused for every hook call; a Result on the stack handed to a hook
// escaped to the heap once per batch).
func TestApplyAndSettleDoNotAllocate(t *testing.T) {
	a, err := NewApplier(ApplierConfig{ID: 1, Voters: []uint64{1}, StateMachine: okSM{}})
	if err != nil {
		t.Fatal(err)
	}
	const runs = 101 // AllocsPerRun's warm-up call and 100 measured
	batches := make([]Batch, runs)
	for i := range batches {
		idx := uint64(2*i + 1)
		batches[i].Entries = []raftpb.Entry{cmdEntry(idx, 1, idx, "w"), cmdEntry(idx+1, 2, idx, "w")}
	}
	next := 0
	allocs := testing.AllocsPerRun(runs-1, func() {
		if err := a.Apply(&batches[next], settleHooks{}); err != nil {
			t.Fatal(err)
		}
		next++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per applied batch of two settled commands, want 0", allocs)
	}
	if applied, _ := a.Applied(); applied != 2*runs {
		t.Fatalf("applied %d, want %d", applied, 2*runs)
	}
}
