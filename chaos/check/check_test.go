package check

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers that read like a history table: key "k" unless changed.
func w(client int, v string, call, ret int64) Op {
	return Op{Client: client, Kind: Write, Key: "k", Value: v, Call: call, Return: ret, Outcome: OK}
}

func r(client int, v string, call, ret int64) Op {
	return Op{Client: client, Kind: Read, Key: "k", Value: v, Call: call, Return: ret, Outcome: OK}
}

func rMissing(client int, call, ret int64) Op {
	return Op{Client: client, Kind: Read, Key: "k", Missing: true, Call: call, Return: ret, Outcome: OK}
}

func cas(client int, from, to string, call, ret int64) Op {
	return Op{Client: client, Kind: Cas, Key: "k", From: from, Value: to, Call: call, Return: ret, Outcome: OK}
}

func info(op Op) Op { op.Outcome, op.Return = Info, 0; return op }
func fail(op Op) Op { op.Outcome = Fail; return op }
func key(k string, op Op) Op {
	op.Key = k
	return op
}
func mismatch(op Op) Op { op.Mismatch = true; return op }
func missing(op Op) Op  { op.Missing = true; return op }
func create(op Op) Op   { op.CreateIfMissing = true; return op }

func TestCheckHistories(t *testing.T) {
	cases := []struct {
		name string
		h    []Op
		want Verdict
	}{
		{"empty", nil, Linearizable},
		{"write then read", []Op{w(0, "1", 0, 10), r(1, "1", 20, 30)}, Linearizable},
		{"read of never-written key is missing", []Op{rMissing(0, 0, 10)}, Linearizable},
		{"read of never-written value", []Op{r(0, "1", 0, 10)}, NotLinearizable},
		{"stale read", []Op{w(0, "1", 0, 10), w(0, "2", 20, 30), r(1, "1", 40, 50)}, NotLinearizable},
		{"concurrent read may see old or new", []Op{
			w(0, "1", 0, 10), w(0, "2", 20, 100), r(1, "1", 30, 40), r(2, "2", 50, 60), r(3, "2", 110, 120),
		}, Linearizable},
		{"reads go backwards under a concurrent write", []Op{
			w(0, "1", 0, 10), w(0, "2", 20, 100), r(1, "2", 30, 40), r(2, "1", 50, 60),
		}, NotLinearizable},
		{"lost write: cas acknowledged then old value read", []Op{
			w(0, "1", 0, 10), cas(1, "1", "2", 20, 30), r(2, "1", 40, 50),
		}, NotLinearizable},
		{"missing read after an acknowledged write", []Op{
			w(0, "1", 0, 10), rMissing(1, 20, 30),
		}, NotLinearizable},
		{"missing read concurrent with the first write", []Op{
			w(0, "1", 0, 30), rMissing(1, 10, 20), r(2, "1", 40, 50),
		}, Linearizable},
		{"info write takes effect later", []Op{
			info(w(0, "1", 0, 0)), rMissing(1, 10, 20), r(2, "1", 30, 40), r(1, "1", 50, 60),
		}, Linearizable},
		{"info write never takes effect", []Op{
			info(w(0, "1", 0, 0)), rMissing(1, 10, 20), rMissing(2, 30, 40),
		}, Linearizable},
		{"info write cannot take effect before its call", []Op{
			r(1, "1", 0, 10), info(w(0, "1", 20, 0)),
		}, NotLinearizable},
		{"info write cannot take effect twice", []Op{
			w(1, "1", 0, 5), info(w(0, "2", 10, 0)), r(1, "2", 20, 30), w(1, "3", 40, 50), r(2, "2", 60, 70),
		}, NotLinearizable},
		{"info cas takes effect later", []Op{
			w(0, "1", 0, 10), info(cas(1, "1", "2", 20, 0)), r(2, "1", 30, 40), r(2, "2", 50, 60),
		}, Linearizable},
		{"info cas with a false precondition does nothing", []Op{
			w(0, "1", 0, 10), info(cas(1, "7", "2", 20, 0)), r(2, "2", 30, 40),
		}, NotLinearizable},
		{"failed write is dropped", []Op{
			fail(w(0, "5", 0, 10)), rMissing(1, 20, 30),
		}, Linearizable},
		{"failed write must not be seen", []Op{
			fail(w(0, "5", 0, 10)), r(1, "5", 20, 30),
		}, NotLinearizable},
		{"info read is dropped", []Op{
			w(0, "1", 0, 10), info(r(1, "9", 20, 0)),
		}, Linearizable},
		{"cas mismatch observation fits", []Op{
			w(0, "1", 0, 10), mismatch(cas(1, "2", "3", 20, 30)), r(2, "1", 40, 50),
		}, Linearizable},
		{"cas mismatch contradicts the value", []Op{
			w(0, "1", 0, 10), mismatch(cas(1, "1", "3", 20, 30)),
		}, NotLinearizable},
		{"cas missing contradicts an acknowledged write", []Op{
			w(0, "1", 0, 10), missing(cas(1, "1", "3", 20, 30)),
		}, NotLinearizable},
		{"cas missing on a fresh key fits", []Op{
			missing(cas(1, "1", "3", 0, 10)), rMissing(0, 20, 30),
		}, Linearizable},
		// Maelstrom's register compares "from" with nil on a missing key:
		// 22 there is within the protocol, and must not be flagged.
		{"cas mismatch on a missing key fits", []Op{
			mismatch(cas(1, "1", "3", 0, 10)),
		}, Linearizable},
		{"cas mismatch on a missing key still orders", []Op{
			w(0, "1", 0, 10), mismatch(cas(1, "1", "3", 20, 30)), rMissing(2, 40, 50),
		}, NotLinearizable},
		{"cas create on a missing key writes", []Op{
			create(cas(1, "0", "3", 0, 10)), r(0, "3", 20, 30),
		}, Linearizable},
		{"cas create on an existing key compares", []Op{
			w(0, "1", 0, 10), create(cas(1, "0", "3", 20, 30)),
		}, NotLinearizable},
		{"cas create cannot answer missing", []Op{
			missing(create(cas(1, "0", "3", 0, 10))),
		}, NotLinearizable},
		{"successful cas chain", []Op{
			w(0, "1", 0, 10), cas(1, "1", "2", 20, 30), cas(2, "2", "3", 40, 50), r(0, "3", 60, 70),
		}, Linearizable},
		{"two concurrent cas from the same value cannot both win", []Op{
			w(0, "1", 0, 10), cas(1, "1", "2", 20, 50), cas(2, "1", "3", 20, 50),
		}, NotLinearizable},
		{"keys are independent", []Op{
			w(0, "1", 0, 10), key("j", rMissing(1, 20, 30)), r(2, "1", 40, 50),
		}, Linearizable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(tc.h, Options{Timeout: 10 * time.Second})
			if res.Err != nil {
				t.Fatalf("unexpected error: %v", res.Err)
			}
			if res.Linearizable != tc.want {
				t.Fatalf("got %s, want %s (keys %+v)", res.Linearizable, tc.want, res.Keys)
			}
			if (res.BadKey == "") != (tc.want == Linearizable) {
				t.Fatalf("BadKey %q with verdict %s", res.BadKey, res.Linearizable)
			}
		})
	}
}

func TestCheckReportsBadKeyAndAllKeys(t *testing.T) {
	h := []Op{
		key("a", w(0, "1", 0, 10)), key("a", r(1, "1", 20, 30)),
		key("b", w(0, "1", 0, 10)), key("b", r(1, "2", 20, 30)),
		key("c", w(0, "1", 0, 10)), key("c", rMissing(1, 20, 30)),
		key("d", fail(w(0, "1", 0, 10))),
	}
	res := Check(h, Options{})
	if res.Linearizable != NotLinearizable || res.BadKey != "b" {
		t.Fatalf("got %s bad key %q, want not-linearizable at b", res.Linearizable, res.BadKey)
	}
	want := map[string]Verdict{"a": Linearizable, "b": NotLinearizable, "c": NotLinearizable}
	if len(res.Keys) != len(want) {
		t.Fatalf("keys %+v, want %v", res.Keys, want)
	}
	for _, kr := range res.Keys {
		if want[kr.Key] != kr.Linearizable || kr.Ops != 2 {
			t.Errorf("key %s: %s with %d ops, want %s with 2", kr.Key, kr.Linearizable, kr.Ops, want[kr.Key])
		}
	}
	if res.Dropped != 1 {
		t.Errorf("dropped %d, want 1", res.Dropped)
	}
}

func TestWriteVisualization(t *testing.T) {
	h := []Op{w(0, "1", 0, 10), w(0, "2", 20, 30), r(1, "1", 40, 50)}
	h[2].Note = "answered by n3"
	res := Check(h, Options{Events: []Event{{Start: 15, End: 45, Tag: "nemesis", Description: "partition"}}})
	path := filepath.Join(t.TempDir(), "k.html")
	if err := res.WriteVisualization(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", "write(2)", "read() → 1", "answered by n3", "partition"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	ok := Check([]Op{w(0, "1", 0, 10)}, Options{})
	if err := ok.WriteVisualization(path); !errors.Is(err, ErrNoVisualization) {
		t.Fatalf("linearizable history: got %v, want ErrNoVisualization", err)
	}
}

func TestCheckRejectsInvalidHistory(t *testing.T) {
	bad := []struct {
		name string
		op   Op
		want string
	}{
		{"kind", Op{Key: "k", Outcome: OK}, "unknown kind"},
		{"outcome", Op{Key: "k", Kind: Read}, "unknown outcome"},
		{"time", r(0, "1", 10, 5), "before its call"},
		{"flags", missing(mismatch(cas(0, "1", "2", 0, 1))), "both missing and mismatch"},
		{"write missing", missing(w(0, "1", 0, 1)), "cannot observe"},
	}
	for _, tc := range bad {
		res := Check([]Op{w(0, "1", 0, 1), tc.op}, Options{})
		if res.Linearizable != Unknown || res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
			t.Errorf("%s: got %s, %v; want unknown with %q", tc.name, res.Linearizable, res.Err, tc.want)
		}
	}
}

// A history whose search space is large: many concurrent writes of
// distinct values and a read of a value nobody wrote, so porcupine must
// exhaust every order before saying Illegal. A cas keeps it from the
// zones method (which decides it at once without the cas).
func TestCheckTimeoutIsUnknown(t *testing.T) {
	var h []Op
	for i := 0; i < 24; i++ {
		h = append(h, w(i, string(rune('a'+i)), 0, 1000))
		h = append(h, r(100+i, string(rune('a'+(i+1)%24)), 0, 1000))
	}
	h = append(h, r(200, "zz", 0, 1000))
	if res := Check(h, Options{Timeout: 20 * time.Millisecond}); res.Linearizable != NotLinearizable || res.Keys[0].Method != MethodZones {
		t.Fatalf("without a cas: %s by %s, want not-linearizable by zones", res.Linearizable, res.Keys[0].Method)
	}
	h = append(h, Op{Client: 300, Kind: Cas, Key: "k", From: "none", Value: "x", Mismatch: true, Call: 0, Return: 1000, Outcome: OK})
	res := Check(h, Options{Timeout: 20 * time.Millisecond})
	if res.Linearizable != Unknown || res.BadKey != "k" {
		t.Fatalf("got %s (bad key %q), want unknown at k", res.Linearizable, res.BadKey)
	}
	if res.OK() {
		t.Fatal("unknown must not be OK")
	}
}
