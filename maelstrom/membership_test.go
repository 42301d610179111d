package maelstrom

import (
	"strings"
	"testing"
	"time"
)

// TestMemberMessages: the chaos harness's membership message on one
// node: status names the leader and the voters; malformed requests and
// changes that do not apply (unknown op or node, removing or demoting
// the last voter) are definite errors that change nothing.
func TestMemberMessages(t *testing.T) {
	s := newSession(t, Options{})
	s.init()
	status := func(id float64) map[string]any {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.send(`{"src":"c0","dest":"n0","body":{"type":"raftbench_member","msg_id":` + jsonNum(id) + `,"op":"status"}}`)
			b := s.expect(id)
			if b["type"] != "raftbench_member_ok" {
				t.Fatalf("status: %v", b)
			}
			v := b["value"].(map[string]any)
			if v["leader"] == "n0" || time.Now().After(deadline) {
				return v
			}
			id += 1000
			time.Sleep(20 * time.Millisecond)
		}
	}
	v := status(20)
	if v["leader"] != "n0" || len(v["voters"].([]any)) != 1 || v["voters"].([]any)[0] != "n0" {
		t.Fatalf("status of a one-node cluster: %v", v)
	}
	// A write applied means the leader's term has committed an entry:
	// changes are no longer "in progress" (code 11).
	s.send(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":25,"key":1,"value":1}}`)
	if b := s.expect(25); b["type"] != "write_ok" {
		t.Fatalf("first write: %v", b)
	}
	for i, c := range []struct{ req, want string }{
		{`"op":"frobnicate","node":"n0"`, "membership op"},
		{`"op":"remove","node":"n9"`, "is not one of"},
		{`"op":"remove","node":"n0"`, "last voter"},
		{`"op":"demote","node":"n0"`, "last voter"},
		{`"op":"promote","node":"n0"`, "already a voter"},
	} {
		id := float64(30 + i)
		s.send(`{"src":"c0","dest":"n0","body":{"type":"raftbench_member","msg_id":` + jsonNum(id) + `,` + c.req + `}}`)
		b := s.expect(id)
		if b["type"] != "error" || b["code"] != float64(CodeMalformedRequest) || !strings.Contains(b["text"].(string), c.want) {
			t.Errorf("%s: %v, want error 12 saying %q", c.req, b, c.want)
		}
	}
	if v := status(40); len(v["voters"].([]any)) != 1 {
		t.Fatalf("a refused change changed the configuration: %v", v)
	}
	// The node still serves its clients.
	s.send(`{"src":"c1","dest":"n0","body":{"type":"write","msg_id":50,"key":1,"value":2}}`)
	if b := s.expect(50); b["type"] != "write_ok" {
		t.Fatalf("write after the refusals: %v", b)
	}
}
