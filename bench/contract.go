package bench

import "fmt"

// Read contracts a target can state.
const (
	// ReadsReadIndex: a read is answered once the answering node has
	// applied up to a commit index the leader confirmed with a heartbeat
	// quorum after the read arrived (Raft thesis §6.4), or an equivalent
	// (hashicorp/raft: a barrier per term plus VerifyLeader per read).
	ReadsReadIndex = "readindex"
	// ReadsLease: the leader answers from its state while it holds a
	// clock-based lease; linearizable only under bounded clock drift.
	ReadsLease = "lease"
	// ReadsLocal: any node answers from its own state; may be stale.
	ReadsLocal = "local"
	// ReadsLog: a read is a log entry, committed like a write.
	ReadsLog = "log"
	// ReadsStore: a single state machine answers at once; only the floor
	// target, which keeps one copy of the state, can.
	ReadsStore = "store"
)

// Durability contracts.
const (
	// DurabilityQuorumFsync: an entry is committed (and a client
	// answered) only once a quorum has it on disk, fsynced, the
	// leader's own copy counted only after its fsync.
	DurabilityQuorumFsync = "quorum-fsync"
	// DurabilityNone: no fsync; a crash of a quorum loses acknowledged
	// writes.
	DurabilityNone = "no-fsync"
	// DurabilityModelled: every fsync replaced by a fixed wait
	// (ModelDisk): committed at a disk's pace, as durable as no fsync.
	// Systems on the same model are ranked against each other, never
	// against real fsyncs or none.
	DurabilityModelled = "modelled-fsync"
)

// Contract is what a target promises a client, stated by the target so
// a comparison compares like with like: how durable an acknowledged write
// is, who answers it and when, and how reads are served.
type Contract struct {
	// Durability is DurabilityQuorumFsync, DurabilityNone or
	// DurabilityModelled.
	Durability string `json:"durability"`
	// FsyncsPerCommit says which fsyncs a commit waits for, in words.
	FsyncsPerCommit string `json:"fsyncs_per_commit"`
	// Acks says where a write's answer comes from, in words.
	Acks string `json:"acks"`
	// Reads is ReadsReadIndex, ReadsLease, ReadsLocal, ReadsLog or ReadsStore.
	Reads string `json:"reads"`
	// ReadsDetail says how, in words.
	ReadsDetail string `json:"reads_detail,omitempty"`
	// Security says how traffic between nodes and from clients was
	// protected, for targets with a network (plain or TLS).
	Security string `json:"security,omitempty"`
}

// Class is the part of a contract two systems must share to be ranked
// against each other: durability and read path.
func (c Contract) Class() string {
	if c.Durability == "" && c.Reads == "" {
		return "unstated"
	}
	return fmt.Sprintf("%s, %s reads", c.Durability, c.Reads)
}

// ContractTarget is a Target that states its contract. A target that
// does not is "unstated" and is never ranked against ones that do.
type ContractTarget interface {
	Target
	Contract() Contract
}

// TargetContract returns t's contract, or the zero Contract.
func TargetContract(t Target) Contract {
	if c, ok := t.(ContractTarget); ok {
		return c.Contract()
	}
	return Contract{}
}

// RaftContract is the contract shared by this module's engine and the
// peer targets when they fsync: every replica fsyncs an entry before
// acknowledging it, and the leader answers the client only once a quorum,
// itself included, has the entry on disk and the leader has applied it.
func RaftContract(fsync bool, reads, readsDetail string) Contract {
	c := Contract{
		Durability:      DurabilityQuorumFsync,
		FsyncsPerCommit: "each replica fsyncs an entry (group commit) before acking it; a client is answered only once a quorum, the leader included, has it on disk",
		Acks:            "leader, after the entry is committed and applied",
		Reads:           reads,
		ReadsDetail:     readsDetail,
	}
	if !fsync {
		c.Durability, c.FsyncsPerCommit = DurabilityNone, "none: fsync off (a crash of a quorum loses acknowledged writes)"
	}
	return c
}

var (
	_ ContractTarget = (*inprocTarget)(nil)
	_ ContractTarget = (*tcpTarget)(nil)
)
