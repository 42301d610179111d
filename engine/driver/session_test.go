package driver

import (
	"bytes"
	"fmt"
	"testing"
)

func TestSessionTableDedup(t *testing.T) {
	tb := newSessionTable(10)
	steps := []struct {
		seq     uint64
		want    verdict
		wantRes string
	}{
		{5, verdictApply, ""},
		{5, verdictDuplicate, "r5"},
		{3, verdictApply, ""}, // out of order, inside the window
		{3, verdictDuplicate, "r3"},
		{70, verdictApply, ""},
		{5, verdictStale, ""},  // fell out of the window
		{69, verdictApply, ""}, // never applied
		{70, verdictDuplicate, "r70"},
	}
	idx := uint64(0)
	for i, s := range steps {
		v, res := tb.check(1, s.seq)
		if v != s.want || string(res) != s.wantRes {
			t.Fatalf("step %d seq %d: got %v %q, want %v %q", i, s.seq, v, res, s.want, s.wantRes)
		}
		if v == verdictApply {
			idx++
			tb.record(1, s.seq, idx, []byte(fmt.Sprintf("r%d", s.seq)))
		}
	}
}

func TestSessionTableEvictsByAppliedOrder(t *testing.T) {
	tb := newSessionTable(3)
	for i, id := range []uint64{1, 2, 3, 1, 4} { // 2 is least recently applied at the end
		tb.record(id, 1+uint64(i), uint64(i+1), []byte("x"))
	}
	if _, ok := tb.m[2]; ok || len(tb.m) != 3 {
		t.Fatalf("sessions %v: want 2 evicted and 3 left", keys(tb))
	}
	// The snapshot preserves the eviction order.
	b := tb.appendSnapshot(nil)
	b = append(b, "SM"...)
	rt := newSessionTable(3)
	rest, err := rt.restoreSnapshot(b)
	if err != nil || string(rest) != "SM" {
		t.Fatalf("restore: %v rest %q", err, rest)
	}
	if !bytes.Equal(rt.appendSnapshot(nil), tb.appendSnapshot(nil)) {
		t.Fatal("snapshot round trip changed the table")
	}
	rt.record(5, 1, 9, nil)
	if _, ok := rt.m[3]; ok {
		t.Fatalf("restored table evicted the wrong session: %v", keys(rt))
	}
	// Corrupt snapshots are errors, never silently accepted.
	for _, bad := range [][]byte{nil, []byte("RBNS1"), b[:len(b)-5], append([]byte("XXXXX"), b[5:]...)} {
		if _, err := newSessionTable(3).restoreSnapshot(bad); err == nil {
			t.Fatalf("corrupt snapshot %q accepted", bad)
		}
	}
}

func keys(tb *sessionTable) []uint64 {
	var out []uint64
	for s := tb.head; s != nil; s = s.next {
		out = append(out, s.id)
	}
	return out
}

func TestEntryHeader(t *testing.T) {
	b := AppendHeader(nil, 7, 9)
	b = append(b, "cmd"...)
	id, seq, cmd, err := ParseEntry(b)
	if err != nil || id != 7 || seq != 9 || string(cmd) != "cmd" {
		t.Fatalf("parse: %d %d %q %v", id, seq, cmd, err)
	}
	for _, bad := range [][]byte{nil, b[:5], append([]byte{9}, b[1:]...)} {
		if _, _, _, err := ParseEntry(bad); err == nil {
			t.Fatalf("malformed entry %x accepted", bad)
		}
	}
}
