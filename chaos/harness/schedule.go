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
	// Shape of a partition: halves, majority-ring, isolate, bridge.
	Shape string `json:"shape,omitempty"`
	// Nodes killed or paused.
	Nodes []string `json:"nodes,omitempty"`
	// Grudge of a partition: destination → sources whose messages it
	// does not receive.
	Grudge   map[string][]string `json:"grudge,omitempty"`
	Fraction float64             `json:"fraction,omitempty"` // loss and dup
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

// Schedule returns the fault schedule of cfg (after defaults): in each
// cycle of 2 × NemesisInterval one fault, chosen among cfg.Nemesis,
// starts and lasts one interval; the last fault stops by cfg.Time, when a
// final "heal" event restores everything. It is a pure function of cfg.
func Schedule(cfg Config) []Event {
	cfg.fillDefaults()
	if len(cfg.Nemesis) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6e656d65736973)) // "nemesis"
	nodes := serverNames(cfg.Nodes)
	var events []Event
	for at := cfg.NemesisInterval; at < cfg.Time; at += 2 * cfg.NemesisInterval {
		start := drawFault(rng, cfg, nodes)
		start.AtMs, start.Action = at.Milliseconds(), "start"
		stop := Event{Kind: start.Kind, Action: "stop", Nodes: start.Nodes,
			AtMs: min(at+cfg.NemesisInterval, cfg.Time).Milliseconds()}
		events = append(events, start, stop)
	}
	return append(events, Event{AtMs: cfg.Time.Milliseconds(), Kind: "heal", Action: "stop"})
}

func drawFault(rng *rand.Rand, cfg Config, nodes []string) Event {
	kind := cfg.Nemesis[rng.IntN(len(cfg.Nemesis))]
	e := Event{Kind: kind}
	switch kind {
	case NemesisPartition:
		e.Shape, e.Grudge = drawPartition(rng, nodes)
	case NemesisKill, NemesisPause:
		e.Nodes = drawMinority(rng, nodes)
	case NemesisLoss:
		e.Fraction = cfg.LossFraction
	case NemesisDup:
		e.Fraction = cfg.DupFraction
	}
	return e
}

// drawMinority picks 1..⌊(n-1)/2⌋ nodes (at least one), so a majority
// stays up when there is one.
func drawMinority(rng *rand.Rand, nodes []string) []string {
	k := 1 + rng.IntN(max(1, (len(nodes)-1)/2))
	picked := shuffled(rng, nodes)[:k]
	sort.Strings(picked)
	return picked
}

func shuffled(rng *rand.Rand, nodes []string) []string {
	s := append([]string(nil), nodes...)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// drawPartition picks one of Jepsen's partition shapes possible with
// len(nodes) nodes and returns its grudge.
func drawPartition(rng *rand.Rand, nodes []string) (string, map[string][]string) {
	shapes := []string{"halves", "isolate"}
	if len(nodes) >= 3 {
		shapes = append(shapes, "bridge")
	}
	if len(nodes) >= 4 {
		shapes = append(shapes, "majority-ring")
	}
	shape := shapes[rng.IntN(len(shapes))]
	s := shuffled(rng, nodes)
	var sees func(a, b int) bool // does node s[a] hear s[b]?
	switch shape {
	case "halves": // ⌊n/2⌋ | ⌈n/2⌉
		h := len(s) / 2
		sees = func(a, b int) bool { return (a < h) == (b < h) }
	case "isolate": // s[0] alone
		sees = func(a, b int) bool { return (a == 0) == (b == 0) }
	case "bridge": // two halves that only s[0] joins
		h := 1 + (len(s)-1)/2
		sees = func(a, b int) bool { return a == 0 || b == 0 || (a < h) == (b < h) }
	case "majority-ring":
		// Ring order s; node a hears the majority window around it, so
		// every node sees a majority and no two see the same one.
		m := len(s)/2 + 1
		lo, hi := (m-1)/2, m-1-(m-1)/2
		sees = func(a, b int) bool {
			d := (b - a + len(s)) % len(s)
			return d <= hi || len(s)-d <= lo
		}
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

// scheduleEnd is when the last event fires.
func scheduleEnd(events []Event) time.Duration {
	if len(events) == 0 {
		return 0
	}
	return time.Duration(events[len(events)-1].AtMs) * time.Millisecond
}
