package raftpb

import (
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestPureImports enforces the package contract (doc.go): raftpb is pure
// data and pure functions.
func TestPureImports(t *testing.T) {
	forbidden := map[string]bool{"time": true, "os": true, "net": true, "sync": true,
		"math/rand": true, "math/rand/v2": true, "sync/atomic": true, "unsafe": true}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] || strings.HasPrefix(path, "github.com/raftbench/") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
}

// sampleMessages has at least one message of every type, with the field
// shapes each type really carries, plus edge values (max uint64, empty
// data, terms that go down between entries).
func sampleMessages() []Message {
	const max = ^uint64(0)
	ents := func(term, first uint64, n int, size int) []Entry {
		out := make([]Entry, n)
		for i := range out {
			d := bytes.Repeat([]byte{byte(i)}, size)
			if size == 0 {
				d = nil
			}
			out[i] = Entry{Term: term, Index: first + uint64(i), Type: EntryNormal, Data: d}
		}
		return out
	}
	return []Message{
		{Type: MsgApp, To: 2, From: 1, Term: 5, LogTerm: 4, Index: 100, Commit: 99, Entries: ents(5, 101, 3, 16)},
		{Type: MsgApp, To: 2, From: 1, Term: 5, LogTerm: 5, Index: 7, Commit: 7}, // empty append = probe
		{Type: MsgApp, To: max, From: max, Term: max, LogTerm: max, Index: max, Commit: max,
			Entries: []Entry{
				{Term: max, Index: max, Type: EntryNoop},
				{Term: 0, Index: 0, Type: EntryConfChange, Data: []byte{1, 2, 3}},
				{Term: 7, Index: 1 << 40, Type: EntryNormal, Data: []byte("x")},
			}},
		{Type: MsgAppResp, To: 1, From: 3, Term: 5, Index: 103},
		{Type: MsgAppResp, To: 1, From: 3, Term: 5, Index: 100, Reject: true, RejectHint: 42, LogTerm: 3},
		{Type: MsgVote, To: 2, From: 3, Term: 9, LogTerm: 8, Index: 1234},
		{Type: MsgVoteResp, To: 3, From: 2, Term: 9},
		{Type: MsgVoteResp, To: 3, From: 2, Term: 9, Reject: true},
		{Type: MsgPreVote, To: 2, From: 3, Term: 10, LogTerm: 8, Index: 1234},
		{Type: MsgPreVoteResp, To: 3, From: 2, Term: 10, Reject: true},
		{Type: MsgHeartbeat, To: 2, From: 1, Term: 5, Commit: 1 << 33, Context: []byte("read-ctx-0001")},
		{Type: MsgHeartbeatResp, To: 1, From: 2, Term: 5, Context: []byte("read-ctx-0001")},
		{Type: MsgProp, To: 1, From: 2, Entries: ents(0, 0, 2, 128)},
		{Type: MsgReadIndex, To: 1, From: 2, Context: []byte{0, 0, 0, 1}},
		{Type: MsgReadIndexResp, To: 2, From: 1, Term: 5, Index: 777, Context: []byte{0, 0, 0, 1}},
		{Type: MsgSnap, To: 3, From: 1, Term: 6, Snapshot: &Snapshot{
			Meta: SnapshotMeta{Index: 5000, Term: 6, ConfState: ConfState{Voters: []uint64{1, 2, 3}}},
			Data: bytes.Repeat([]byte("kv"), 1000),
		}},
		{Type: MsgSnap, To: 3, From: 1, Term: 6, Snapshot: &Snapshot{}}, // empty snapshot still present
		{Type: MsgTimeoutNow, To: 2, From: 1, Term: 5},
		{Type: MsgTransferLeader, To: 1, From: 2, Term: 5},
		{Type: MsgApp, To: 2, From: 1, Term: 3, Index: 10, Entries: ents(3, 11, 64, 0)}, // all-empty data
		ChunkMessage(1, 3, 6, SnapChunk{Meta: SnapshotMeta{Index: 5000, Term: 6, ConfState: ConfState{Voters: []uint64{1, 2, 3}}},
			Offset: 1 << 20, Total: 3 << 20, Checksum: 0xdeadbeef, Data: bytes.Repeat([]byte("c"), 100)}),
		{Type: MsgSnapChunkResp, To: 1, From: 3, Term: 6, Index: 1 << 20, Commit: 3 << 20, Reject: true,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 5000, Term: 6}}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[MessageType]bool{}
	for i, m := range sampleMessages() {
		t.Run(fmt.Sprintf("%d_%s", i, m.Type), func(t *testing.T) {
			seen[m.Type] = true
			b := AppendMessage([]byte("prefix"), &m)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendMessage clobbered the prefix")
			}
			b = b[len("prefix"):]
			if got := MessageSize(&m); got != len(b) {
				t.Fatalf("MessageSize = %d, encoded %d bytes", got, len(b))
			}
			var out Message
			if err := UnmarshalMessage(b, &out, DefaultLimits); err != nil {
				t.Fatalf("UnmarshalMessage: %v", err)
			}
			if !reflect.DeepEqual(out, m) {
				t.Fatalf("round trip mismatch:\n got %#v\nwant %#v", out, m)
			}
			// The result must not alias the input: scribbling over the
			// input leaves the decoded message intact.
			for j := range b {
				b[j] = 0xEE
			}
			if !reflect.DeepEqual(out, m) {
				t.Fatalf("decoded message aliases its input buffer")
			}
		})
	}
	for _, typ := range AllMessageTypes() {
		if !seen[typ] {
			t.Errorf("no sample of %s", typ)
		}
	}
}

func TestEncodingIsCompact(t *testing.T) {
	m := Message{Type: MsgApp, To: 2, From: 1, Term: 1 << 20, LogTerm: 1 << 20, Index: 1 << 30, Commit: 1 << 30}
	for i := range 64 {
		m.Entries = append(m.Entries, Entry{Term: 1 << 20, Index: 1<<30 + 1 + uint64(i), Data: make([]byte, 128)})
	}
	// Per entry: dTerm 1, dIndex 1, type 1, len 2, data 128.
	perEntry := (MessageSize(&m) - MessageSize(&Message{Type: MsgApp, To: 2, From: 1, Term: 1 << 20,
		LogTerm: 1 << 20, Index: 1 << 30, Commit: 1 << 30})) / 64
	if perEntry != 133 {
		t.Fatalf("a 128-byte entry costs %d bytes on the wire, want 133", perEntry)
	}
}

func TestDecodedSlicesAreCapped(t *testing.T) {
	m := Message{Type: MsgApp, Entries: []Entry{{Index: 1, Data: []byte("aa")}, {Index: 2, Data: []byte("bb")}},
		Context: []byte("cc")}
	var out Message
	if err := UnmarshalMessage(AppendMessage(nil, &m), &out, Limits{}); err != nil {
		t.Fatal(err)
	}
	_ = append(out.Entries[0].Data, 'X')
	if string(out.Entries[1].Data) != "bb" || string(out.Context) != "cc" {
		t.Fatalf("appending to one entry's data overwrote a neighbour: %q %q", out.Entries[1].Data, out.Context)
	}
}

func TestUnmarshalOverwritesDestination(t *testing.T) {
	out := Message{Reject: true, Context: []byte("old"), Snapshot: &Snapshot{}, Entries: make([]Entry, 3)}
	m := Message{Type: MsgHeartbeat, To: 1, From: 2}
	if err := UnmarshalMessage(AppendMessage(nil, &m), &out, Limits{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, m) {
		t.Fatalf("stale fields survived: %#v", out)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := AppendMessage(nil, &Message{Type: MsgApp, To: 2, From: 1, Term: 1,
		Entries: []Entry{{Term: 1, Index: 1, Data: []byte("hello")}}, Context: []byte("c")})
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	entryTypeOff := len(good) - len("hello") - 1 - 2 - 1 // ... type len(5) data | ctxLen ctx
	cases := []struct {
		name string
		in   []byte
		lim  Limits
		want string
	}{
		{"empty", nil, Limits{}, "truncated"},
		{"version", with(func(b []byte) []byte { b[0] = 2; return b }), Limits{}, "version"},
		{"type zero", with(func(b []byte) []byte { b[1] = 0; return b }), Limits{}, "message type"},
		{"type too big", with(func(b []byte) []byte { b[1] = byte(msgTypeEnd); return b }), Limits{}, "message type"},
		{"flags", with(func(b []byte) []byte { b[2] = 0x80; return b }), Limits{}, "flag"},
		{"entry type", with(func(b []byte) []byte { b[entryTypeOff] = 9; return b }), Limits{}, "entry 0 has unknown type"},
		{"trailing", append(append([]byte(nil), good...), 0), Limits{}, "trailing"},
		{"truncated", good[:len(good)-1], Limits{}, "exceeds the"},
		{"zero limits mean defaults", good, Limits{}, ""},
		{"entry count limit", AppendMessage(nil, &Message{Type: MsgApp, Entries: make([]Entry, 3)}),
			Limits{MaxEntries: 2}, "entry count length 3 exceeds limit 2"},
		{"entry bytes limit", good, Limits{MaxEntryBytes: 4}, "entry data length 5 exceeds limit 4"},
		{"context limit", AppendMessage(nil, &Message{Type: MsgHeartbeat, Context: []byte("abc")}),
			Limits{MaxContextBytes: 2}, "context length 3 exceeds limit 2"},
		{"snapshot limit", AppendMessage(nil, &Message{Type: MsgSnap, Snapshot: &Snapshot{Data: []byte("abc")}}),
			Limits{MaxSnapshotBytes: 2}, "snapshot data length 3"},
		// Claims 2^40 entries in 20 bytes: must fail before allocating.
		{"huge entry count", append(hdr(MsgApp), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10),
			Limits{MaxEntries: 1 << 62}, "entry count length"},
		{"count beyond input", append(hdr(MsgApp), 10, 0, 1, 0, 0), Limits{}, "exceeds the 4 bytes left"},
		{"huge context", append(hdr(MsgHeartbeat), 0, 0xff, 0xff, 0x03), Limits{}, "context length"},
		{"overlong varint", append(hdr(MsgApp)[:3], 0x81, 0x00), Limits{}, "non-minimal"},
		{"varint overflow", append(hdr(MsgApp)[:3], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
			Limits{}, "overflow"},
		{"truncated varint", append(hdr(MsgApp)[:3], 0x81), Limits{}, "truncated varint"},
		// Cut off the last voter, the configuration length and the data length.
		{"voters beyond input", dropLast(AppendMessage(nil, &Message{Type: MsgSnap, Snapshot: &Snapshot{
			Meta: SnapshotMeta{ConfState: ConfState{Voters: []uint64{1}}}}}), 3), Limits{}, "voter count length 1 exceeds the 0 bytes left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := UnmarshalMessage(tc.in, &m, tc.lim)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %x as %v", tc.in, m)
			}
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("error %v does not wrap ErrMalformedMessage", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func dropLast(b []byte, n int) []byte { return b[:len(b)-n] }

// hdr is the encoding of an otherwise empty message of type t up to (not
// including) its entry count.
func hdr(t MessageType) []byte {
	b := AppendMessage(nil, &Message{Type: t})
	return b[:len(b)-2] // drop nEntries=0, ctxLen=0
}

func FuzzUnmarshalMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(AppendMessage(nil, &m))
	}
	lim := Limits{MaxEntries: 1 << 10, MaxEntryBytes: 1 << 16, MaxContextBytes: 1 << 10, MaxSnapshotBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m Message
		err := UnmarshalMessage(in, &m, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("error %v does not wrap ErrMalformedMessage", err)
			}
			return
		}
		// Encodings are canonical: re-encoding gives back the input.
		out := AppendMessage(nil, &m)
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
		}
		if MessageSize(&m) != len(in) {
			t.Fatalf("MessageSize %d != %d", MessageSize(&m), len(in))
		}
		if len(m.Entries) > lim.MaxEntries || len(m.Context) > lim.MaxContextBytes {
			t.Fatalf("limits not enforced: %d entries, %d context bytes", len(m.Entries), len(m.Context))
		}
	})
}

func benchApp() Message {
	m := Message{Type: MsgApp, To: 2, From: 1, Term: 12, LogTerm: 12, Index: 1 << 20, Commit: 1<<20 - 3}
	for i := range 64 {
		m.Entries = append(m.Entries, Entry{Term: 12, Index: 1<<20 + 1 + uint64(i), Data: make([]byte, 144)})
	}
	return m
}

// BenchmarkEncodeMsgApp64 encodes a 64-entry MsgApp of 144-byte commands
// into a reused buffer, as the TCP writer does.
func BenchmarkEncodeMsgApp64(b *testing.B) {
	m := benchApp()
	buf := make([]byte, 0, MessageSize(&m))
	b.SetBytes(int64(MessageSize(&m)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkDecodeMsgApp64(b *testing.B) {
	m := benchApp()
	enc := AppendMessage(nil, &m)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	var out Message
	for b.Loop() {
		if err := UnmarshalMessage(enc, &out, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHeartbeat(b *testing.B) {
	m := Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 12, Commit: 1 << 20}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkDecodeHeartbeat(b *testing.B) {
	m := Message{Type: MsgHeartbeat, To: 2, From: 1, Term: 12, Commit: 1 << 20}
	enc := AppendMessage(nil, &m)
	b.ReportAllocs()
	var out Message
	for b.Loop() {
		if err := UnmarshalMessage(enc, &out, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSnapshotConfigurationRoundTrip(t *testing.T) {
	cs := ConfState{Voters: []uint64{1, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{6}, AutoLeave: true,
		Addrs: []PeerAddr{{ID: 4, Addr: "127.0.0.1:7004"}, {ID: 6, Addr: "127.0.0.1:7006"}}}
	m := Message{Type: MsgSnap, To: 2, From: 1, Term: 3, Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 9, Term: 3, ConfState: cs}, Data: []byte("x")}}
	b := AppendMessage(nil, &m)
	if len(b) != MessageSize(&m) {
		t.Fatalf("MessageSize %d, encoded %d bytes", MessageSize(&m), len(b))
	}
	var got Message
	if err := UnmarshalMessage(b, &got, Limits{}); err != nil {
		t.Fatal(err)
	}
	if !got.Snapshot.Meta.ConfState.Equal(cs) {
		t.Fatalf("configuration %+v, want %+v", got.Snapshot.Meta.ConfState, cs)
	}
	// An extension that encodes nothing has no canonical form: refused.
	if err := DecodeConfExtension([]byte{0, 0, 0, 0}, &ConfState{}); err == nil {
		t.Fatal("empty extension accepted")
	}
	if err := DecodeConfExtension([]byte{0, 0, 2, 0}, &ConfState{}); err == nil {
		t.Fatal("auto-leave flag 2 accepted")
	}
	// A demotion in progress: learners-next travels after the addresses,
	// and an encoding without it reads as before.
	demoting := ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, AutoLeave: true}
	ext := AppendConfExtension(nil, demoting)
	got2 := ConfState{Voters: []uint64{1, 2}}
	if err := DecodeConfExtension(ext, &got2); err != nil || !got2.Equal(demoting) {
		t.Fatalf("learners next: %+v, %v; want %+v", got2, err, demoting)
	}
	if err := DecodeConfExtension(append(AppendConfExtension(nil, ConfState{AutoLeave: true}), 0), &ConfState{}); err == nil {
		t.Fatal("empty learners-next list accepted")
	}
}
