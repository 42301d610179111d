package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/raftbench/raftbench/chaos/check"
)

// Maelstrom's error-code table and its lin-kv client's rules, as the
// history records them.
func TestClassify(t *testing.T) {
	cases := []struct {
		kind      check.Kind
		answer    string
		want      check.Outcome
		missing   bool
		mismatch  bool
		value     string
		protoFail bool
	}{
		{check.Read, `{"type":"read_ok","value":3}`, check.OK, false, false, "3", false},
		{check.Read, `{"type":"read_ok","value":[1, 2]}`, check.OK, false, false, "[1,2]", false},
		{check.Read, `{"type":"read_ok"}`, check.Info, false, false, "", true},
		// Maelstrom's register starts at nil: a null read saw no value.
		{check.Read, `{"type":"read_ok","value":null}`, check.OK, true, false, "", false},
		// Reads are idempotent in Maelstrom's client: any error fails them.
		{check.Read, `{"type":"error","code":13}`, check.Fail, false, false, "", false},
		{check.Read, `{"type":"error","code":0}`, check.Fail, false, false, "", false},
		{check.Write, `{"type":"error","code":12}`, check.Fail, false, false, "", false},
		{check.Cas, `{"type":"error","code":30}`, check.Fail, false, false, "", false},
		{check.Write, `{"type":"error","code":1}`, check.Fail, false, false, "", false},
		{check.Read, `{"type":"write_ok"}`, check.Info, false, false, "", true},
		{check.Write, `{"type":"write_ok"}`, check.OK, false, false, "", false},
		{check.Cas, `{"type":"cas_ok"}`, check.OK, false, false, "", false},
		{check.Read, `{"type":"error","code":20}`, check.OK, true, false, "", false},
		{check.Cas, `{"type":"error","code":20}`, check.OK, true, false, "", false},
		{check.Cas, `{"type":"error","code":22}`, check.OK, false, true, "", false},
		{check.Write, `{"type":"error","code":22}`, check.Fail, false, false, "", false},
		{check.Write, `{"type":"error","code":11}`, check.Fail, false, false, "", false},
		{check.Cas, `{"type":"error","code":21}`, check.Fail, false, false, "", false},
		{check.Read, `{"type":"error","code":14}`, check.Fail, false, false, "", false},
		{check.Write, `{"type":"error","code":0}`, check.Info, false, false, "", false},
		{check.Write, `{"type":"error","code":13}`, check.Info, false, false, "", false},
		{check.Cas, `{"type":"error","code":1000}`, check.Info, false, false, "", false},
		{check.Cas, `{"type":"error","code":17}`, check.Info, false, false, "", false},
		{check.Cas, `{"type":"error"}`, check.Info, false, false, "", true},
	}
	for _, tc := range cases {
		var b replyBody
		if err := json.Unmarshal([]byte(tc.answer), &b); err != nil {
			t.Fatal(err)
		}
		op := check.Op{Kind: tc.kind}
		perr := classify(&op, b)
		if op.Outcome != tc.want || op.Missing != tc.missing || op.Mismatch != tc.mismatch ||
			(tc.kind == check.Read && op.Value != tc.value) || (perr != "") != tc.protoFail {
			t.Errorf("%s answered %s: got %+v (protocol error %q)", tc.kind, tc.answer, op, perr)
		}
	}
}

func TestReadLineBoundsLength(t *testing.T) {
	long := strings.Repeat("x", 300)
	in := "short\n" + long + "\n" + "after\n" + "tail"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	var tooLong int
	for {
		line, err := readLine(r, 100)
		if errors.Is(err, errLineTooLong) {
			tooLong++
			continue
		}
		if len(line) > 0 {
			got = append(got, string(line))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"short\n", "after\n", "tail\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") || tooLong != 1 {
		t.Fatalf("got %q with %d too long, want %q with 1", got, tooLong, want)
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		s    Summary
		want int
	}{
		{Summary{Valid: true, Verdict: "linearizable"}, 0},
		{Summary{Verdict: "linearizable"}, 1},
		{Summary{Verdict: "not-linearizable"}, 1},
		{Summary{Verdict: "unknown"}, 3},
	}
	for _, tc := range cases {
		if got := tc.s.ExitCode(); got != tc.want {
			t.Errorf("%+v: exit %d, want %d", tc.s, got, tc.want)
		}
	}
}

// The default workload sends exactly what Maelstrom's lin-kv workload
// sends: read {key}, write {key, value}, cas {key, from, to} (plus type
// and msg_id), values 0..4, never create_if_not_exists; reads only from
// the first half of each group of 2 × nodes threads, each thread bound
// to node thread mod n; writes and cas one to two.
func TestWorkloadIsMaelstromsLinKV(t *testing.T) {
	cfg := Config{Bin: "x", Out: "x", Nodes: 3, Concurrency: 12}
	cfg.fillDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if info := cfg.workloadInfo(); !info.MaelstromFaithful || info.ThreadsPerKey != 6 || info.ReadersPerKey != 3 || info.ConcurrentKeys != 2 {
		t.Fatalf("workload info %+v", info)
	}
	ws := newWorkers(cfg, 1, nil, nil, serverNames(3), time.Now())
	wantFields := map[string][]string{
		"read":  {"key", "msg_id", "type"},
		"write": {"key", "msg_id", "type", "value"},
		"cas":   {"from", "key", "msg_id", "to", "type"},
	}
	kinds := map[string]int{}
	keysByGroup := map[int]map[int]bool{}
	for i, w := range ws {
		if w.node != serverNames(3)[i%3] || w.reader != (i%6 < 3) {
			t.Fatalf("thread %d: node %s reader %v", i, w.node, w.reader)
		}
		for n := range 300 {
			req, op := w.randomOp(i, int64(n+1))
			b, _ := json.Marshal(req)
			var fields map[string]any
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatal(err)
			}
			var names []string
			for f, v := range fields {
				names = append(names, f)
				if f == "value" || f == "from" || f == "to" {
					if x := v.(float64); x < 0 || x > 4 || x != float64(int(x)) {
						t.Fatalf("%s = %v outside 0..4: %s", f, v, b)
					}
				}
			}
			sort.Strings(names)
			if !reflect.DeepEqual(names, wantFields[req.Type]) {
				t.Fatalf("%s request sends %v, Maelstrom sends %v: %s", req.Type, names, wantFields[req.Type], b)
			}
			if (req.Type == "read") != w.reader {
				t.Fatalf("thread %d (reader %v) sent %s", i, w.reader, b)
			}
			kinds[req.Type]++
			if keysByGroup[i/6] == nil {
				keysByGroup[i/6] = map[int]bool{}
			}
			keysByGroup[i/6][req.Key] = true
			_ = op
		}
	}
	if r := float64(kinds["cas"]) / float64(kinds["write"]); r < 1.7 || r > 2.3 {
		t.Fatalf("cas:write = %.2f, want about 2 (%v)", r, kinds)
	}
	// No faults, so no new processes: each group stays on its first key.
	if !reflect.DeepEqual(keysByGroup, map[int]map[int]bool{0: {0: true}, 1: {1: true}}) {
		t.Fatalf("keys per group: %v", keysByGroup)
	}
}

// The extension workload is explicit and says so.
func TestCreateWorkloadIsMarked(t *testing.T) {
	cfg := Config{Bin: "x", Out: "x", Nodes: 1, Workload: WorkloadLinKVCreate}
	cfg.fillDefaults()
	if info := cfg.workloadInfo(); info.MaelstromFaithful || info.CreateFraction == 0 {
		t.Fatalf("workload info %+v", info)
	}
	w := newWorkers(cfg, 1, nil, nil, serverNames(1), time.Now())[1]
	creates := 0
	for n := range 1000 {
		if req, _ := w.randomOp(1, int64(n)); req.Create {
			creates++
		}
	}
	if creates == 0 {
		t.Fatal("lin-kv-create sent no create_if_not_exists")
	}
}

// A key's group moves on when a new process would exceed the process
// limit, or after its per-key operation limit.
func TestKeyRotation(t *testing.T) {
	g := newKeyGroup(&keyCounter{}, newRand(1), 3, 0)
	for p := range 3 {
		if k := g.keyFor(p); k != 0 {
			t.Fatalf("process %d got key %d", p, k)
		}
	}
	if k := g.keyFor(1); k != 0 {
		t.Fatal("a known process must not rotate the key")
	}
	if k := g.keyFor(7); k != 1 {
		t.Fatalf("a 4th process under limit 3 must move to key 1, got %d", k)
	}
	g = newKeyGroup(&keyCounter{}, newRand(1), -1, 100)
	counts := map[int]int{}
	for range 1000 {
		counts[g.keyFor(0)]++
	}
	for k, n := range counts {
		if k < len(counts)-1 && (n < 90 || n > 100) {
			t.Fatalf("key %d had %d ops, want 90..100 (Jepsen's 0.9-1.0 × limit)", k, n)
		}
	}
}
