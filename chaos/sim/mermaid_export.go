package sim

import (
	"fmt"
	"strings"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// MermaidMessage is one arrow of the simulator's sequence diagram for
// other tools (the explorer) that draw message traces: event number no,
// message m, crossed out when lost.
func MermaidMessage(no uint64, m *raftpb.Message, lost bool) string {
	arrow := "->>"
	if lost {
		arrow = "-x"
	}
	label := fmt.Sprintf("%s t%d i%d lt%d c%d", m.Type, m.Term, m.Index, m.LogTerm, m.Commit)
	if len(m.Entries) > 0 {
		label += fmt.Sprintf(" +%d", len(m.Entries))
	}
	if m.Reject {
		label += " reject"
	}
	return fmt.Sprintf("    n%d%sn%d: e%d %s", m.From, arrow, m.To, no, label)
}

// MermaidNote is a note line over target ("n2", "n1,n3") in the same diagram.
func MermaidNote(target string, no uint64, text string) string {
	return fmt.Sprintf("    Note over %s: e%d %s", target, no, mermaidSafe(text))
}

// MermaidDiagram wraps lines in the fenced sequence diagram the
// simulator's reports use, with participants n1..nodes.
func MermaidDiagram(nodes int, lines []string) string {
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
