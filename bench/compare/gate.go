package compare

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/raftbench/raftbench/bench"
	"github.com/raftbench/raftbench/chaos/check"
)

// DefaultCheckTimeout bounds the linearizability search per key of one
// run's history.
const DefaultCheckTimeout = 20 * time.Second

// RunCheck is the linearizability check of one run's sampled history.
type RunCheck struct {
	// Verdict is check's: linearizable, not-linearizable or unknown.
	Verdict check.Verdict `json:"verdict"`
	// Ops and Keys: operations and keys checked; Info of them had an
	// unknown outcome.
	Ops  int `json:"ops"`
	Keys int `json:"keys"`
	Info int `json:"info"`
	// DroppedKeys were never quiet and left out of the bounded history:
	// unchecked (bench.HistoryConfig).
	DroppedKeys []string `json:"dropped_keys,omitempty"`
	BadKey      string   `json:"bad_key,omitempty"`
	// Visualization is porcupine's HTML view of BadKey, beside the run's JSON.
	Visualization string  `json:"visualization,omitempty"`
	ElapsedS      float64 `json:"elapsed_s"`
	Err           string  `json:"error,omitempty"`
}

// checkRun checks sum's history; bad keys are drawn next to the run's JSON.
func checkRun(sum *bench.Summary, timeout time.Duration, out, stem string) *RunCheck {
	if sum.History == nil {
		return &RunCheck{Verdict: check.Unknown, Err: "no history recorded"}
	}
	res := check.Check(sum.History.Ops, check.Options{Timeout: timeout})
	rc := &RunCheck{Verdict: res.Linearizable, Keys: len(res.Keys), DroppedKeys: sum.History.DroppedKeys,
		BadKey: res.BadKey, ElapsedS: res.Elapsed.Seconds()}
	for _, k := range res.Keys {
		rc.Ops += k.Ops
		rc.Info += k.Info
	}
	if res.Err != nil {
		rc.Err = res.Err.Error()
	}
	if res.BadKey != "" && out != "" {
		path := filepath.Join(out, "runs", stem+"-"+res.BadKey+".html")
		if err := res.WriteVisualization(path); err == nil {
			rc.Visualization = filepath.Join("runs", filepath.Base(path))
		}
	}
	return rc
}

// Row gates: why a row is not ranked ("" = ranked).
const (
	GateNotLinearizable = "NOT LINEARIZABLE"
	GateUnchecked       = "unchecked"
	GateContract        = "contract differs"
	GateUnstated        = "contract unstated"
)

// readStrength orders read contracts, strongest first, to break a tie
// when choosing the reference contract.
var readStrength = []string{bench.ReadsReadIndex, bench.ReadsLog, bench.ReadsLease, bench.ReadsLocal}

// referenceClass is the contract class rows are ranked under: the one
// most systems state (a system counts once), ties going to quorum fsync
// over none and then to the stronger read path. Unstated contracts never
// are the reference.
func referenceClass(systems []string, contracts map[string]bench.Contract) string {
	count := map[string]int{}
	byClass := map[string]bench.Contract{}
	for _, s := range systems {
		c, ok := contracts[s]
		if !ok || c.Class() == "unstated" {
			continue
		}
		count[c.Class()]++
		byClass[c.Class()] = c
	}
	best := ""
	rank := func(cl string) (int, int, int) {
		c := byClass[cl]
		dur := 0
		if c.Durability == bench.DurabilityQuorumFsync {
			dur = 1
		}
		rs := slices.Index(readStrength, c.Reads)
		if rs < 0 {
			rs = len(readStrength)
		}
		return count[cl], dur, -rs
	}
	classes := make([]string, 0, len(count))
	for cl := range count {
		classes = append(classes, cl)
	}
	slices.Sort(classes)
	for _, cl := range classes {
		if best == "" {
			best = cl
			continue
		}
		a1, a2, a3 := rank(cl)
		b1, b2, b3 := rank(best)
		if a1 > b1 || a1 == b1 && (a2 > b2 || a2 == b2 && a3 > b3) {
			best = cl
		}
	}
	return best
}

// gateRows sets each row's verdict, contract and gate, and ranks only
// rows that pass: linearizable and under the reference contract.
func (r *Result) gateRows() {
	contracts := map[string]bench.Contract{}
	for _, rr := range r.Runs {
		if rr.Contract != nil {
			contracts[rr.System] = *rr.Contract
		}
	}
	r.ReferenceContract = referenceClass(r.Systems, contracts)
	for i := range r.Rows {
		row := &r.Rows[i]
		c, ok := contracts[row.System]
		row.Contract = "unstated"
		if ok {
			row.Contract = c.Class()
		}
		row.Linearizable, row.CheckedOps = r.verdict(row.System, row.Clients)
		switch {
		case row.Linearizable == string(check.NotLinearizable):
			row.Gate = GateNotLinearizable
		case row.Linearizable != string(check.Linearizable):
			row.Gate = GateUnchecked
		case row.Contract == "unstated":
			row.Gate = GateUnstated
		case row.Contract != r.ReferenceContract:
			row.Gate = GateContract
		}
	}
}

// verdict is the worst check verdict over the row's runs (not
// linearizable, then unknown or unchecked, then linearizable) and the
// operations checked.
func (r *Result) verdict(system string, clients int) (string, int) {
	v, ops, n := string(check.Linearizable), 0, 0
	for _, rr := range r.Runs {
		if rr.System != system || rr.Clients != clients {
			continue
		}
		n++
		switch {
		case rr.Check == nil:
			if v == string(check.Linearizable) {
				v = GateUnchecked
			}
		case rr.Check.Verdict == check.NotLinearizable:
			v = string(check.NotLinearizable)
		case rr.Check.Verdict != check.Linearizable && v == string(check.Linearizable):
			v = string(rr.Check.Verdict)
		}
		if rr.Check != nil {
			ops += rr.Check.Ops
		}
	}
	if n == 0 {
		return GateUnchecked, 0
	}
	return v, ops
}

// gateNote explains a row's gate in the table.
func (row *Row) gateNote(ref string) string {
	switch row.Gate {
	case GateContract:
		return fmt.Sprintf("not ranked: contract differs (%s vs %s)", row.Contract, ref)
	case "":
		return ""
	}
	return "not ranked: " + strings.ToLower(row.Gate)
}
