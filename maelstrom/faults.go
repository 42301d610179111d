package maelstrom

import (
	"encoding/json"

	"github.com/raftbench/raftbench/engine/runtime/testfaults"
	"github.com/raftbench/raftbench/wal/errorfs"
)

// Process-level fault injection for chaos runs, switched on only by
// Options.TestFaults (raft-maelstrom --test-faults, which the chaos
// harness passes when it runs disk or clock faults). The harness then
// sends lines whose body type is FaultMessageType:
//
//	{"type":"raftbench_fault","fault":"disk","mode":"eio"|"enospc"|"slow"|"ok"}
//	{"type":"raftbench_fault","fault":"clock","mode":"jump","offset_ms":N}
//	{"type":"raftbench_fault","fault":"clock","mode":"drift","rate":R}
//	{"type":"raftbench_fault","fault":"clock","mode":"ok"}
//
// The body is a testfaults.Command (engine/runtime/testfaults says what
// each does): the WAL writes through its fault-injecting file system and
// the node reads its injectable clock. A failed WAL stops the node, and
// OnStorageFailure (the command exits) is called. No reply is sent.

// FaultMessageType is the body type of a fault-injection line.
const FaultMessageType = "raftbench_fault"

// testFaults is the injectable disk and clock of one node.
type testFaults struct {
	*testfaults.Faults
	disk  diskFS
	clock *testfaults.Clock
}

type diskFS = *errorfs.FS

func newTestFaults() *testFaults {
	f := testfaults.New()
	return &testFaults{Faults: f, disk: f.Disk, clock: f.Clock}
}

// apply applies one fault line's body.
func (f *testFaults) apply(raw json.RawMessage) error { return f.ApplyJSON(raw) }
