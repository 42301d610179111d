package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/raftbench/raftbench/chaos/check"
)

// The Maelstrom protocol's error-code table, as the history records it.
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

func TestKeySpaceRetiresKeys(t *testing.T) {
	ks := newKeySpace(2, 3)
	rng := newRand(1)
	count := map[int]int{}
	for range 30 {
		count[ks.pick(rng)]++
	}
	if len(count) < 10 {
		t.Fatalf("30 picks over 2 live keys retired after 3 ops used only %d keys", len(count))
	}
	for k, n := range count {
		if n > 3 {
			t.Fatalf("key %d used %d times, limit 3", k, n)
		}
	}
}
