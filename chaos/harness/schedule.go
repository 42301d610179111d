package harness

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Event is one step of the fault schedule. Schedule computes the whole
// list from the seed before a run starts, so the same seed and config
// always inject the same faults at the same offsets.
type Event struct {
	AtMs   int64  `json:"at_ms"`  // offset from the start of the workload
	Kind   string `json:"kind"`   // a nemesis name, or "heal" (end of faults)
	Action string `json:"action"` // "start" or "stop"
	// Shape of a partition (a PartitionTargets name), or the node target
	// a kill or pause drew (a NodeTargets name).
	Shape string `json:"shape,omitempty"`
	// Nodes killed or paused by a start; nodes restarted or resumed by a
	// stop.
	Nodes []string `json:"nodes,omitempty"`
	// Grudge of a partition: destination → sources whose messages it
	// does not receive.
	Grudge   map[string][]string `json:"grudge,omitempty"`
	Fraction float64             `json:"fraction,omitempty"` // loss and dup
	// Mode of a disk fault (eio, enospc, slow) or clock fault (jump,
	// drift); OffsetMs is a jump's size, Rate a drift's clock rate.
	Mode     string  `json:"mode,omitempty"`
	OffsetMs int64   `json:"offset_ms,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Action, e.Kind)
	if e.Shape != "" {
		fmt.Fprintf(&b, " %s", e.Shape)
	}
	if len(e.Nodes) > 0 {
		fmt.Fprintf(&b, " %v", e.Nodes)
	}
	if len(e.Grudge) > 0 {
		fmt.Fprintf(&b, " %s", componentsString(e.Grudge))
	}
	if e.Fraction > 0 {
		fmt.Fprintf(&b, " %.2f", e.Fraction)
	}
	if e.Mode != "" {
		fmt.Fprintf(&b, " %s", e.Mode)
	}
	if e.OffsetMs != 0 {
		fmt.Fprintf(&b, " %+dms", e.OffsetMs)
	}
	if e.Rate != 0 {
		fmt.Fprintf(&b, " x%.2f", e.Rate)
	}
	return b.String()
}

func componentsString(g map[string][]string) string {
	dests := make([]string, 0, len(g))
	for d := range g {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	parts := make([]string, 0, len(dests))
	for _, d := range dests {
		parts = append(parts, fmt.Sprintf("%s⇍%v", d, g[d]))
	}
	return strings.Join(parts, " ")
}

// Schedule returns the fault schedule of cfg (after defaults), built the
// way Jepsen's combined nemesis (which Maelstrom uses) builds it:
//
//   - the faults form up to three families that run independently, so
//     their faults overlap: partitions; kills and pauses; loss and dup;
//   - within a family, operations alternate between starting a fault
//     and stopping it (a flip-flop); a family with two faults (kill and
//     pause, loss and dup) draws which one advances at each operation,
//     as gen/mix does, and each of the two flip-flops on its own;
//   - the gap before each operation is drawn from uniform(0, 2 ×
//     NemesisInterval) (gen/stagger);
//   - a partition draws its shape from PartitionTargets; a kill or pause
//     draws its nodes from NodeTargets; their stop restarts (resumes)
//     every node the family has killed (paused), as Jepsen's "start all"
//     and "resume all" do;
//   - at cfg.Time a final "heal" event ends every fault.
//
// Each family has its own random stream, so adding one fault family does
// not change another's timings. It is a pure function of cfg.
func Schedule(cfg Config) []Event {
	cfg.fillDefaults()
	if len(cfg.Nemesis) == 0 {
		return nil
	}
	nodes := serverNames(cfg.Nodes)
	var events []Event
	for i, family := range nemesisFamilies(cfg.Nemesis) {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6e656d65736973+uint64(i))) // "nemesis"
		if family[0] == NemesisMembership {
			events = append(events, membershipSchedule(rng, cfg, nodes)...)
			continue
		}
		events = append(events, familySchedule(rng, cfg, nodes, family)...)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].AtMs < events[j].AtMs })
	return append(events, Event{AtMs: cfg.Time.Milliseconds(), Kind: "heal", Action: "stop"})
}

// nemesisFamilies groups the chosen faults into Jepsen's packages: the
// partition package, the db package (kill, pause) and the packet package
// (loss, dup), in that order, leaving out empty ones.
func nemesisFamilies(chosen []string) [][]string {
	var out [][]string
	for _, fam := range [][]string{{NemesisPartition}, {NemesisKill, NemesisPause}, {NemesisLoss, NemesisDup}, {NemesisDisk}, {NemesisClock}, {NemesisMembership}, {NemesisLeaseBreak}} {
		var f []string
		for _, n := range fam {
			if contains(chosen, n) {
				f = append(f, n)
			}
		}
		if len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// familySchedule draws one family's staggered flip-flops until cfg.Time.
func familySchedule(rng *rand.Rand, cfg Config, nodes []string, family []string) []Event {
	active := map[string]bool{}         // fault kind → started and not stopped
	hit := map[string]map[string]bool{} // kill/pause → nodes hit since the last stop
	var events []Event
	at := time.Duration(0)
	for {
		at += time.Duration(rng.Int64N(2*int64(cfg.NemesisInterval) + 1))
		if at >= cfg.Time {
			return events
		}
		kind := family[rng.IntN(len(family))]
		var e Event
		if !active[kind] {
			e = drawFault(rng, cfg, nodes, kind)
			e.Action = "start"
			if len(e.Nodes) > 0 {
				if hit[kind] == nil {
					hit[kind] = map[string]bool{}
				}
				for _, n := range e.Nodes {
					hit[kind][n] = true
				}
			}
		} else {
			e = Event{Kind: kind, Action: "stop", Nodes: sortedKeys(hit[kind])}
			delete(hit, kind)
		}
		active[kind] = !active[kind]
		e.AtMs = at.Milliseconds()
		events = append(events, e)
	}
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func drawFault(rng *rand.Rand, cfg Config, nodes []string, kind string) Event {
	e := Event{Kind: kind}
	switch kind {
	case NemesisPartition:
		e.Shape, e.Grudge = drawPartition(rng, cfg.PartitionTargets, nodes)
	case NemesisKill, NemesisPause:
		e.Shape = cfg.NodeTargets[rng.IntN(len(cfg.NodeTargets))]
		e.Nodes = drawNodes(rng, e.Shape, nodes)
	case NemesisLoss:
		e.Fraction = cfg.LossFraction
	case NemesisDup:
		e.Fraction = cfg.DupFraction
	case NemesisDisk:
		// One node at a time: the fault under test is a disk failing,
		// not a quorum losing its disks at once.
		e.Shape, e.Nodes = TargetOne, drawNodes(rng, TargetOne, nodes)
		e.Mode = []string{DiskEIO, DiskENOSPC, DiskSlow}[rng.IntN(3)]
	case NemesisLeaseBreak:
		e.Mode, e.Rate = "slow-leader", cfg.LeaseBreakRate // the leader is found when it applies
	case NemesisClock:
		e.Shape, e.Nodes = TargetOne, drawNodes(rng, TargetOne, nodes)
		if cfg.ClockBound > 0 {
			drawBoundedClock(rng, cfg.ClockBound, &e)
			break
		}
		if rng.IntN(2) == 0 {
			e.Mode = ClockJump
			e.OffsetMs = (1 + rng.Int64N(60)) * 1000
			if rng.IntN(2) == 0 {
				e.OffsetMs = -e.OffsetMs
			}
		} else {
			e.Mode = ClockDrift
			e.Rate = []float64{0.5, 2}[rng.IntN(2)]
		}
	}
	return e
}

// Disk and clock fault modes.
const (
	DiskEIO    = "eio"    // every write and fsync fails: the node stops itself
	DiskENOSPC = "enospc" // every write fails with ENOSPC: the node stops itself
	DiskSlow   = "slow"   // 20 ms more per write and fsync
	ClockJump  = "jump"   // the wall clock jumps by OffsetMs
	ClockDrift = "drift"  // the clock (reading and ticks) runs at Rate × real time
)

// majority is the smallest majority of n.
func majority(n int) int { return n/2 + 1 }

// minorityThird is the largest integer strictly below n/3 (Jepsen's
// util/minority-third).
func minorityThird(n int) int { return (n - 1) / 3 }

// drawNodes picks the nodes a node target names, as Jepsen's db-nodes
// does, except that minority-third and minority hit at least one node (a
// kill of nobody is no fault).
func drawNodes(rng *rand.Rand, target string, nodes []string) []string {
	s := shuffled(rng, nodes)
	var k int
	switch target {
	case TargetSome:
		k = 1 + rng.IntN(len(s))
	case TargetOne:
		k = 1
	case TargetMinorityThird:
		k = max(1, minorityThird(len(s)))
	case TargetMinority:
		k = max(1, majority(len(s))-1)
	case TargetMajority:
		k = majority(len(s))
	case TargetAll:
		k = len(s)
	}
	picked := s[:min(k, len(s))]
	sort.Strings(picked)
	return picked
}

func shuffled(rng *rand.Rand, nodes []string) []string {
	s := append([]string(nil), nodes...)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// partitionApplies says whether a shape cuts anything with n nodes.
func partitionApplies(shape string, n int) bool {
	switch shape {
	case PartitionOne, PartitionMajority:
		return n >= 2
	case PartitionBridge:
		return n >= 3
	case PartitionMinorityThird, PartitionMajoritiesRing:
		return n >= 4
	}
	return false
}

// drawPartition picks one of targets (those that cut something with
// len(nodes) nodes; all of them if none does) and returns its grudge.
func drawPartition(rng *rand.Rand, targets []string, nodes []string) (string, map[string][]string) {
	var shapes []string
	for _, t := range targets {
		if partitionApplies(t, len(nodes)) {
			shapes = append(shapes, t)
		}
	}
	if len(shapes) == 0 {
		shapes = targets
	}
	shape := shapes[rng.IntN(len(shapes))]
	s := shuffled(rng, nodes)
	n := len(s)
	var sees func(a, b int) bool              // does node s[a] hear s[b]?
	side := func(k int) func(a, b int) bool { // s[:k] | s[k:]
		return func(a, b int) bool { return (a < k) == (b < k) }
	}
	switch shape {
	case PartitionOne:
		sees = side(1)
	case PartitionMinorityThird:
		sees = side(minorityThird(n))
	case PartitionMajority: // Jepsen's bisect: ⌊n/2⌋ | ⌈n/2⌉
		sees = side(n / 2)
	case PartitionBridge: // two halves that only s[0] joins
		h := 1 + (n-1)/2
		sees = func(a, b int) bool { return a == 0 || b == 0 || (a < h) == (b < h) }
	case PartitionMajoritiesRing:
		// Ring order s; node a hears the majority window around it, so
		// every node sees a majority and no two see the same one.
		m := majority(n)
		lo, hi := (m-1)/2, m-1-(m-1)/2
		sees = func(a, b int) bool {
			d := (b - a + n) % n
			return d <= hi || n-d <= lo
		}
	default:
		sees = func(int, int) bool { return true }
	}
	grudge := map[string][]string{}
	for a := range s {
		for b := range s {
			if a != b && !sees(a, b) {
				grudge[s[a]] = append(grudge[s[a]], s[b])
			}
		}
	}
	for d := range grudge {
		sort.Strings(grudge[d])
	}
	return shape, grudge
}

func serverNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i)
	}
	return names
}
