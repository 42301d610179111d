package sim

import (
	"fmt"
	"strings"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// tracer keeps the run's event-trace hash and the last events, to show
// what led to a failure. The hash covers every popped event's fields in
// order, so two runs of one seed agree on it exactly when they took the
// same path.
type tracer struct {
	hash uint64
	ring []traced
	next int
	full bool
}

// traced is one recorded event with the annotations its handling added.
type traced struct {
	no   uint64
	ev   *event
	note string
}

func newTracer(keep int) *tracer {
	return &tracer{hash: 14695981039346656037, ring: make([]traced, keep)}
}

func (t *tracer) mix(x uint64) {
	// FNV-1a over 8-byte words: order-sensitive, cheap.
	t.hash = (t.hash ^ x) * 1099511628211
}

// record hashes e and keeps it in the ring.
func (t *tracer) record(no uint64, e *event) {
	t.mix(uint64(e.at))
	t.mix(uint64(e.kind)<<32 | uint64(e.node)<<8 | uint64(e.inc&0xff))
	if e.kind == evDeliver {
		m := &e.msg
		t.mix(uint64(m.Type)<<48 | m.From<<40 | m.To<<32 | uint64(len(m.Entries)))
		t.mix(m.Term)
		t.mix(m.Index ^ m.LogTerm<<20 ^ m.Commit<<40)
		if m.Reject {
			t.mix(m.RejectHint + 1)
		}
	}
	if e.cl != nil {
		t.mix(uint64(e.cl.client)<<48 | e.cl.seq<<8 | uint64(e.cl.attempt))
		t.mix(uint64(e.cl.kind)<<32 | e.cl.index)
	}
	if len(t.ring) == 0 {
		return
	}
	t.ring[t.next] = traced{no: no, ev: e}
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
}

// annotate adds a note to the most recent event.
func (t *tracer) annotate(note string) {
	if len(t.ring) == 0 {
		return
	}
	i := t.next - 1
	if i < 0 {
		i = len(t.ring) - 1
	}
	if t.ring[i].note != "" {
		t.ring[i].note += "; "
	}
	t.ring[i].note += note
}

// lastLine describes the most recent event ("" when none is kept).
func (t *tracer) lastLine() string {
	if len(t.ring) == 0 || (t.next == 0 && !t.full) {
		return ""
	}
	i := t.next - 1
	if i < 0 {
		i = len(t.ring) - 1
	}
	return t.ring[i].describe()
}

// tail returns the recorded events, oldest first.
func (t *tracer) tail() []traced {
	if !t.full {
		return append([]traced(nil), t.ring[:t.next]...)
	}
	out := append([]traced(nil), t.ring[t.next:]...)
	return append(out, t.ring[:t.next]...)
}

// describe renders one event as a line of text.
func (tr traced) describe() string {
	e := tr.ev
	var b strings.Builder
	fmt.Fprintf(&b, "#%d t=%.3fms %s", tr.no, float64(e.at)/1000, e.kind)
	switch e.kind {
	case evDeliver:
		fmt.Fprintf(&b, " %v", e.msg)
	case evClientReq:
		fmt.Fprintf(&b, " c%d seq=%d try=%d -> n%d %s", e.cl.client, e.cl.seq, e.cl.attempt, e.node+1, cmdString(e.cl))
	case evClientReply:
		fmt.Fprintf(&b, " n%d -> c%d seq=%d try=%d %s idx=%d", e.cl.node+1, e.cl.client, e.cl.seq, e.cl.attempt, replyString(e.cl), e.cl.index)
	case evClientTimeout:
		fmt.Fprintf(&b, " c%d seq=%d try=%d (n%d)", e.cl.client, e.cl.seq, e.cl.attempt, e.cl.node+1)
	case evClientStart:
		fmt.Fprintf(&b, " c%d", e.node)
	case evTick, evSync, evCrash, evRestart:
		fmt.Fprintf(&b, " n%d", e.node+1)
	}
	if tr.note != "" {
		b.WriteString("  // ")
		b.WriteString(tr.note)
	}
	return b.String()
}

func cmdString(c *clientMsg) string {
	if c.isRead {
		return "read"
	}
	return fmt.Sprintf("cmd=%q", c.cmd)
}

func replyString(c *clientMsg) string {
	if c.kind == replyOK {
		return fmt.Sprintf("ok %q", c.result)
	}
	return fmt.Sprintf("refused %q", c.result)
}

// mermaid renders the messages among the recorded events (heartbeats
// left out) as a Mermaid sequence diagram of at most maxLines arrows and
// notes (the latest).
func mermaid(evs []traced, nodes int, maxLines int) string {
	var lines []string
	for _, tr := range evs {
		e := tr.ev
		switch e.kind {
		case evDeliver:
			if t := e.msg.Type; t == raftpb.MsgHeartbeat || t == raftpb.MsgHeartbeatResp {
				continue // the bulk of the traffic; kept in the event list
			}
			arrow := "->>"
			if strings.Contains(tr.note, "blocked") || strings.Contains(tr.note, "down") {
				arrow = "-x"
			}
			lines = append(lines, fmt.Sprintf("    n%d%sn%d: e%d %s", e.msg.From, arrow, e.msg.To, tr.no, msgLabel(e)))
		case evCrash, evRestart, evPartition, evPartitionEnd, evHeal:
			target := fmt.Sprintf("n%d", e.node+1)
			if e.kind == evPartition || e.kind == evPartitionEnd || e.kind == evHeal {
				target = fmt.Sprintf("n1,n%d", nodes)
			}
			lines = append(lines, fmt.Sprintf("    Note over %s: e%d %s %s", target, tr.no, e.kind, mermaidSafe(tr.note)))
		}
	}
	if n := len(evs); n > 0 && strings.Contains(evs[n-1].note, "FAILURE") {
		last := evs[n-1]
		lines = append(lines, fmt.Sprintf("    Note over n1,n%d: e%d %s", nodes, last.no, mermaidSafe(last.note)))
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	var b strings.Builder
	b.WriteString("```mermaid\nsequenceDiagram\n")
	for i := 1; i <= nodes; i++ {
		fmt.Fprintf(&b, "    participant n%d\n", i)
	}
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("```\n")
	return b.String()
}

func msgLabel(e *event) string {
	m := &e.msg
	s := fmt.Sprintf("%s t%d i%d lt%d c%d", m.Type, m.Term, m.Index, m.LogTerm, m.Commit)
	if len(m.Entries) > 0 {
		s += fmt.Sprintf(" +%d", len(m.Entries))
	}
	if m.Reject {
		s += " reject"
	}
	return s
}

// mermaidSafe strips characters Mermaid treats as syntax in messages.
func mermaidSafe(s string) string {
	r := strings.NewReplacer(";", ",", "#", "", "\n", " ", ":", " ")
	return r.Replace(s)
}
