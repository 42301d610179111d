package maelstrom

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// session drives one single-node Server through pipes.
type session struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan map[string]any
	done  chan error
}

func newSession(t *testing.T, opts Options) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &session{t: t, in: inW, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		s.done <- Run(context.Background(), inR, outW, opts)
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("node wrote a non-JSON line %q", sc.Text())
				continue
			}
			s.lines <- m
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after stdin closed")
		}
	})
	return s
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// expect waits for the reply to msgID and returns its body.
func (s *session) expect(msgID float64) map[string]any {
	s.t.Helper()
	return s.expectMessage(msgID)["body"].(map[string]any)
}

// expectMessage waits for the reply to msgID and returns the whole message.
func (s *session) expectMessage(msgID float64) map[string]any {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-s.lines:
			if !ok {
				s.t.Fatal("node output ended")
			}
			body := m["body"].(map[string]any)
			if body["in_reply_to"] == msgID {
				return m
			}
		case <-timeout:
			s.t.Fatalf("no reply to msg_id %v", msgID)
		}
	}
}

func (s *session) init() {
	s.t.Helper()
	s.send(`{"src":"c0","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0"]}}`)
	if b := s.expect(1); b["type"] != "init_ok" {
		s.t.Fatalf("init answered %v", b)
	}
}

func TestLinKVOnOneNode(t *testing.T) {
	s := newSession(t, Options{})
	s.init()
	steps := []struct {
		req      string
		wantType string
		wantCode float64
		value    any
	}{
		{`"type":"read","key":1`, "error", CodeKeyDoesNotExist, nil},
		{`"type":"cas","key":1,"from":1,"to":2`, "error", CodeKeyDoesNotExist, nil},
		{`"type":"cas","key":1,"from":1,"to":2,"create_if_not_exists":true`, "cas_ok", 0, nil},
		{`"type":"read","key":1`, "read_ok", 0, float64(2)},
		{`"type":"write","key":1,"value":3`, "write_ok", 0, nil},
		{`"type":"cas","key":1,"from":2,"to":4`, "error", CodePreconditionFailed, nil},
		{`"type":"cas","key":1,"from":3,"to":4`, "cas_ok", 0, nil},
		{`"type":"read","key":1`, "read_ok", 0, float64(4)},
		{`"type":"write","key":"k","value":{"a": [1, 2]}`, "write_ok", 0, nil},
		{`"type":"cas","key":"k","from":{"a":[1,2]},"to":5`, "cas_ok", 0, nil},
	}
	for i, st := range steps {
		id := float64(100 + i)
		s.send(`{"src":"c1","dest":"n0","body":{"msg_id":` + jsonNum(id) + `,` + st.req + `}}`)
		b := s.expect(id)
		if b["type"] != st.wantType || (st.wantCode != 0 && b["code"] != st.wantCode) || (st.value != nil && b["value"] != st.value) {
			t.Fatalf("step %d %s: got %v", i, st.req, b)
		}
	}
}

func TestBadInputIsAnsweredAndTheNodeKeepsServing(t *testing.T) {
	s := newSession(t, Options{MaxInLineBytes: 4096})
	// Before init, client requests are definitely refused.
	s.send(`{"src":"c1","dest":"n0","body":{"type":"read","msg_id":5,"key":1}}`)
	if m := s.expectMessage(5); m["src"] != "n0" || m["dest"] != "c1" || m["body"].(map[string]any)["code"] != float64(CodeTemporarilyUnavailable) {
		t.Fatalf("request before init: want a definite error from n0 (the request's dest) to c1, got %v", m)
	}
	s.init()
	s.send(`this is not json`)
	s.send(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":6,"key":1,"value":` + strings.Repeat("9", 10000) + `}}`)
	s.send(`{"src":"c1","dest":"n0","body":{"type":"frobnicate","msg_id":7}}`)
	if b := s.expect(7); b["code"] != float64(CodeNotSupported) {
		t.Fatalf("unknown type: %v", b)
	}
	s.send(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":8,"key":1}}`)
	if b := s.expect(8); b["code"] != float64(CodeMalformedRequest) {
		t.Fatalf("write without value: %v", b)
	}
	s.send(`{"src":"c1","dest":"n0","body":{"type":"cas","msg_id":9,"key":1,"from":[1,}}`)
	s.send(`{"src":"c1","dest":"n0","body":{"type":"raft","m":"!!notbase64"}}`)
	s.send(`{"src":"c1","dest":"n0","body":{"type":"init","msg_id":10,"node_id":"n1","node_ids":["n1"]}}`)
	if b := s.expect(10); b["code"] != float64(CodeMalformedRequest) {
		t.Fatalf("conflicting re-init: %v", b)
	}
	// The oversize write (msg 6) was skipped, never acknowledged, and the
	// node still serves.
	s.send(`{"src":"c1","dest":"n0","body":{"type":"read","msg_id":11,"key":1}}`)
	if b := s.expect(11); b["code"] != float64(CodeKeyDoesNotExist) {
		t.Fatalf("read after bad input: %v (the oversize write must not have happened)", b)
	}
}

func TestRestartOnTheSameDataDirRecovers(t *testing.T) {
	dir := t.TempDir()
	first := newSession(t, Options{DataDir: dir})
	first.init()
	first.send(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":2,"key":7,"value":42}}`)
	if b := first.expect(2); b["type"] != "write_ok" {
		t.Fatalf("write: %v", b)
	}
	first.in.Close()
	if err := <-first.done; err != nil {
		t.Fatal(err)
	}
	first.done <- nil // let the cleanup's wait succeed
	second := newSession(t, Options{DataDir: dir})
	second.init()
	second.send(`{"src":"c1","dest":"n0","body":{"type":"read","msg_id":3,"key":7}}`)
	if b := second.expect(3); b["value"] != float64(42) {
		t.Fatalf("acknowledged write lost across restart: %v", b)
	}
}

func TestErrorCodeDefiniteness(t *testing.T) {
	for code, definite := range map[int]bool{0: false, 1: true, 10: true, 11: true, 12: true, 13: false, 14: true, 20: true, 21: true, 22: true, 30: true, 1000: false} {
		if DefiniteCode(code) != definite {
			t.Errorf("code %d: definite=%v, want %v", code, !definite, definite)
		}
	}
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
