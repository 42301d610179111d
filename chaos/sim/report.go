package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/raftbench/raftbench/engine"
	"github.com/raftbench/raftbench/engine/driver"
)

// BugByName resolves a bug switch name: an engine bug's String, a driver
// bug's String (driver-...), "forget-vote" (a restart that does not
// reload the vote) or "lease-drift-understated" (lease reads with a
// clock-drift bound the simulated clocks break; a configuration, so it
// works in any build). It reports false for unknown names.
func BugByName(name string, opts *Options) bool {
	switch name {
	case "forget-vote":
		opts.ForgetVoteOnRestart = true
		return true
	case "lease-drift-understated":
		opts.LeaseDriftUnderstated = true
		return true
	}
	for _, b := range engine.AllBugs() {
		if b.String() == name {
			opts.EngineBugs = append(opts.EngineBugs, b)
			return true
		}
	}
	for _, b := range driver.AllBugs() {
		if b.String() == name {
			opts.DriverBugs = append(opts.DriverBugs, b)
			return true
		}
	}
	return false
}

// BugNames lists every bug switch name BugByName accepts.
func BugNames() []string {
	var out []string
	for _, b := range engine.AllBugs() {
		out = append(out, b.String())
	}
	out = append(out, "forget-vote", "lease-drift-understated")
	for _, b := range driver.AllBugs() {
		out = append(out, b.String())
	}
	return out
}

// FaultSummary renders s as a two-column Markdown table of the faults
// injected and what the run did.
func FaultSummary(s Stats) string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	b.WriteString("| what | count |\n| --- | ---: |\n")
	row("events", s.Events)
	row("virtual time (s)", fmt.Sprintf("%.1f", float64(s.VirtualUs)/1e6))
	row("messages sent", s.MsgsSent)
	row("messages delivered", s.MsgsDelivered)
	row("messages dropped (lossy link)", s.MsgsDropped)
	row("messages lost to partitions", s.MsgsBlocked)
	row("messages to a crashed node", s.MsgsToDownNode)
	row("messages duplicated", s.MsgsDuplicated)
	row("messages delayed out of order", s.MsgsReordered)
	row("client messages dropped", s.ClientMsgsDropped)
	row("partitions", s.Partitions)
	for i, name := range partitionShapes {
		row("  partitions: "+name, s.PartitionShapes[i])
	}
	row("crashes", s.Crashes)
	for m := crashKeepUnsynced; m < numCrashModes; m++ {
		row("  crashes: "+m.String(), s.CrashModes[m])
	}
	row("unsynced writes lost in crashes", s.WritesLost)
	row("torn writes", s.TornWrites)
	row("corrupted logs detected on reopen", s.CorruptionsDetected)
	row("restarts", s.Restarts)
	row("fsyncs", s.Syncs)
	row("slow fsyncs", s.SlowFsyncs)
	row("failed fsyncs (node crashed)", s.FsyncFailures)
	row("leaders elected", s.Elections)
	row("client ops ok / fail / info", fmt.Sprintf("%d / %d / %d", s.OpsOK, s.OpsFail, s.OpsInfo))
	row("writes and cas committed", s.LogOpsOK)
	row("snapshots taken (log compactions)", s.SnapsTaken)
	row("snapshot streams started", s.SnapsSent)
	row("snapshot chunks sent / cut / refused", fmt.Sprintf("%d / %d / %d", s.SnapChunksSent, s.SnapChunksCut, s.SnapChunksRefused))
	row("crashes drawn mid-transfer", s.SnapTransferCrashes)
	row("snapshots installed by followers", s.SnapsInstalled)
	row("restarts from a snapshot", s.RestartsFromSnapshot)
	row("applied log dropped from memory / fresh snapshots asked for", fmt.Sprintf("%d / %d", s.LogDrops, s.SnapshotWantedAsks))
	row("long outages (node kept down to fall behind)", s.LongOutages)
	row("runs whose followers learn the commit index lazily", s.LazyCommitRuns)
	row("leadership transfers started / completed / aborted / refused",
		fmt.Sprintf("%d / %d / %d / %d", s.TransfersStarted, s.TransfersCompleted, s.TransfersAborted, s.TransfersRefused))
	row("membership changes proposed / refused by the core / skipped (too few voters up)",
		fmt.Sprintf("%d / %d / %d", s.ConfChangesProposed, s.ConfChangesRefused, s.ConfChangesSkipped))
	row("membership changes committed: add voter / remove / add learner / promote / demote",
		fmt.Sprintf("%d / %d / %d / %d / %d", s.Membership.AddVoter, s.Membership.Remove, s.Membership.AddLearner, s.Membership.Promote, s.Membership.Demote))
	row("joint configurations entered / left (auto-leave)", fmt.Sprintf("%d / %d", s.Membership.EnterJoint, s.Membership.LeaveJoint))
	row("messages from outside the receiver's configuration (accepted, thesis §4.1)", s.MsgsFromNonMember)
	row("reads answered from the leader's lease, no round trip (thesis §6.4.1)", s.LeaseReads)
	row("writes answered before their batch was applied (blind commands)", s.Settled)
	for _, p := range s.Driver.Paths() {
		row("driver: "+p.Name, p.Count)
	}
	return b.String()
}

// DriverPath is one path through the shared driver and how often a run
// (or a sum of runs) took it.
type DriverPath struct {
	Name  string
	Count uint64
}

// Paths lists the driver paths in a fixed order, for reports.
func (d DriverStats) Paths() []DriverPath {
	return []DriverPath{
		{"acks/votes sent after their write was durable", d.AcksAfterPersist},
		{"hard-state saves", d.HardStateSaves},
		{"hard-state saves of a commit index alone (every 100 ticks at most)", d.CommitSaves},
		{"leader snapshots installed", d.SnapshotsInstalled},
		{"snapshots restored (installs and restarts)", d.SnapshotsRestored},
		{"snapshots taken by the applier's policy", d.SnapshotsTaken},
		{"client commands applied", d.Commands},
		{"session hits (duplicate answered from the table)", d.SessionHits},
		{"session expired (older than the window)", d.SessionExpired},
		{"session evictions (table full)", d.SessionEvictions},
	}
}

// WriteTrace writes a readable Markdown trace of res: the drawn
// parameters, the verdict, the recorded events (around the failure, or
// the tail of the run) and a Mermaid diagram of their messages.
func WriteTrace(w io.Writer, res Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# raftbench sim — seed %d\n\n", res.Seed)
	fmt.Fprintf(&b, "Replay: `raftbench sim --seed %d --trace out.md`\n\n", res.Seed)
	b.WriteString("## Drawn parameters\n\n```\n" + res.Params.String() + "\n```\n\n## Verdict\n\n")
	if res.Failure != nil {
		fmt.Fprintf(&b, "**FAILED** — %s violation: **%s** at event %d (t=%.3f ms)\n\n```\n%s\n```\n\n",
			res.Failure.Kind, res.Failure.Invariant, res.Failure.Event, float64(res.Failure.AtUs)/1000, res.Failure.Detail)
	} else {
		fmt.Fprintf(&b, "passed: %d events, trace hash %016x\n\n", res.Stats.Events, res.TraceHash)
	}
	b.WriteString("## Faults injected\n\n" + FaultSummary(res.Stats) + "\n")
	title := "Last events of the run"
	if res.Failure != nil {
		title = "Events up to the violation"
	}
	fmt.Fprintf(&b, "## %s (%d)\n\n```\n", title, len(res.Tail))
	for _, l := range res.Tail {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("```\n\n## Messages between nodes (latest, bounded)\n\n")
	b.WriteString(res.Diagram)
	_, err := io.WriteString(w, b.String())
	return err
}
