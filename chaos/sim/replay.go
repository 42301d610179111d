package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/raftbench/raftbench/chaos/check"
)

// A run can be recorded as an event trace and a subsequence of that
// trace replayed, which is what the trace shrinker (ShrinkTrace) works
// on.
//
// Recording is an ordinary run of the seed (the same draws, the same
// trace hash) that also keeps, for every event it handles, the event's
// identity (kind, target and, for a message, its type, ends, term and
// indexes) and every random value drawn while handling it.
//
// A replay of a script (a subsequence of a recording, in order) runs the
// same seed and parameters with the same real cores, drivers, disks,
// clients and checker, but the script decides what happens next instead
// of the virtual clock: each step takes the pending event with the
// step's identity and handles it, its random draws answered from the
// step's recorded values (a step that draws more than it recorded gets
// values from a stream fixed by the seed and the step). A step whose
// event is not pending (what would have produced it was left out) is
// skipped. Events the script leaves out never happen: a message never
// delivered is still in flight when the run stops, a timer that never
// fires has not fired yet. Virtual time only moves forward to each
// step's event, so a replay is a run the real system can have whenever
// its correctness does not depend on timing (message delays and clock
// rates); when the script ends without a violation the client history
// is checked with every unfinished write indeterminate.

// tape records or plays back one step's random draws.
type tape struct {
	recording bool
	cur       *[]uint64 // recording: the current step's draws
	play      []uint64  // replay: the current step's recorded draws
	pos       int
	beyond    rng // replay: draws past the recorded ones
}

func (t *tape) draw(r *rng) uint64 {
	if t.recording {
		v := r.next()
		*t.cur = append(*t.cur, v)
		return v
	}
	if t.pos < len(t.play) {
		t.pos++
		return t.play[t.pos-1]
	}
	return t.beyond.next()
}

// playStep makes the next draws come from draws (then from a stream
// fixed by the seed and the step's number in its recording).
func (t *tape) playStep(seed uint64, index int, draws []uint64) {
	t.play, t.pos = draws, 0
	t.beyond = rng{s: seed ^ uint64(index)*0xd1342543de82ef95 ^ 0x5851f42d4c957f2d}
}

// TraceStep is one handled event of a recorded run.
type TraceStep struct {
	// Index is the event's number in the recorded run (1-based, the
	// count Failure.Event uses).
	Index int `json:"index"`
	// Key is the event's identity: kind and target; for a message its
	// type, ends and whether it rejects; for client traffic the client
	// and the node.
	Key uint64 `json:"key"`
	// Stale: the event was addressed to an earlier incarnation of its
	// node (a timer or sync of a process that has since crashed), and
	// was a no-op.
	Stale bool   `json:"stale,omitempty"`
	What  string `json:"what"`
	// At is the event's virtual time in the recorded run (µs): of the
	// pending events with the step's identity, a replay takes the one
	// scheduled closest to it.
	At int64 `json:"at"`
	// Draws are the random values handling the event drew.
	Draws []uint64 `json:"draws,omitempty"`
	// Suppress lists faults drawn while handling the step that do not
	// happen in a replay, by their order among the step's faults (0 is
	// the first): the trace shrinker's fault pass sets it.
	Suppress []int `json:"suppress,omitempty"`
}

// Script is a recorded run (Recording) or a subsequence of one, to be
// replayed with ReplayScript.
type Script struct {
	Seed uint64 `json:"seed"`
	// Tuning names the changes made to the seed's drawn parameters (see
	// ShrinkTrace), in order; none for the seed as drawn.
	Tuning []string `json:"tuning,omitempty"`
	// Bugs names the bug switches the run had on (see BugByName), for
	// the reader and for a replay that names none.
	Bugs  []string    `json:"bugs,omitempty"`
	Boot  []uint64    `json:"boot"` // draws made while starting the cluster
	Steps []TraceStep `json:"steps"`
}

// Record runs seed as Run does and also returns its event trace.
func Record(seed uint64, opts Options) (Result, *Script) {
	return record(seed, opts, nil)
}

// record is Record with the named tunings applied.
func record(seed uint64, opts Options, tuning []string) (Result, *Script) {
	sc := &Script{Seed: seed, Tuning: tuning}
	opts.Tune = nil
	if len(tuning) > 0 {
		opts.Tune, _ = tuneByNames(tuning)
	}
	opts.record = sc
	opts.script = nil
	return Run(seed, opts), sc
}

// ReplayScript replays sc (see the comment at the top of replay.go). It
// returns the run's result and the positions in sc.Steps of the steps
// that happened, in order; the i-th of them is event i+1 of the replay.
func ReplayScript(sc *Script, opts Options) (Result, []int) {
	var played []int
	opts.Tune = nil
	if len(sc.Tuning) > 0 {
		tune, err := tuneByNames(sc.Tuning)
		if err != nil {
			return Result{Seed: sc.Seed, Failure: &Failure{Kind: "harness", Invariant: "script", Detail: err.Error()}}, nil
		}
		opts.Tune = tune
	}
	opts.record = nil
	opts.script = sc
	opts.played = &played
	return Run(sc.Seed, opts), played
}

// startTape installs the recorder or player on the run's random stream,
// before the cluster starts.
func (s *Sim) startTape() {
	switch {
	case s.opts.record != nil:
		s.r.tap = &tape{recording: true, cur: &s.opts.record.Boot}
	case s.opts.script != nil:
		s.r.tap = &tape{}
		s.r.tap.playStep(s.p.Seed, 0, s.opts.script.Boot)
		s.pending = make(map[uint64][]*event)
	}
}

// recordStep starts recording the event about to be handled.
func (s *Sim) recordStep(e *event) {
	sc := s.opts.record
	sc.Steps = append(sc.Steps, TraceStep{Index: int(s.eventNo), Key: eventKey(e), Stale: s.stale(e), What: describeEvent(e), At: e.at})
	s.r.tap.cur = &sc.Steps[len(sc.Steps)-1].Draws
}

// stale reports whether e is a timer, sync or restart of an earlier
// incarnation of its node (handling it does nothing).
func (s *Sim) stale(e *event) bool {
	switch e.kind {
	case evTick, evSync:
		n := s.nodes[e.node]
		return !n.up || n.inc != e.inc
	case evRestart:
		n := s.nodes[e.node]
		return n.up || n.inc != e.inc
	}
	return false
}

// describeEvent is the event as the trace prints it, without its number.
func describeEvent(e *event) string {
	return strings.TrimPrefix(traced{ev: e}.describe(), "#0 ")
}

// eventKey is an event's identity across replays (see TraceStep.Key).
// It is deliberately loose — it leaves out times, terms, indexes,
// entries, operations and payloads — so that a step still names an event
// after earlier steps are left out (a vote request of a later term, a
// retried request): what the event carries is what the replay produces.
func eventKey(e *event) uint64 {
	h := uint64(14695981039346656037)
	mix := func(x uint64) { h = (h ^ x) * 1099511628211 }
	mix(uint64(e.kind))
	mix(uint64(e.node))
	switch e.kind {
	case evCrash:
		mix(uint64(e.aux))
	case evDeliver:
		m := &e.msg
		mix(uint64(m.Type)<<48 | m.From<<40 | m.To<<32)
		if m.Reject {
			mix(1)
		}
	case evClientReq, evClientReply, evClientTimeout:
		mix(uint64(e.cl.client)<<8 | uint64(e.cl.node))
	}
	return h
}

// pushPending is push during a replay: events wait, by identity, for a
// step that names them.
func (s *Sim) pushPending(e *event) {
	s.q.seq++
	e.seq = s.q.seq
	k := eventKey(e)
	s.pending[k] = append(s.pending[k], e)
}

// takePending removes and returns the pending event with the step's
// identity and staleness scheduled closest to the step's recorded time
// (the earliest of equals), or nil. In a replay of the whole recording
// that is the recorded event itself.
func (s *Sim) takePending(st *TraceStep) *event {
	list := s.pending[st.Key]
	best := -1
	for i, e := range list {
		if s.stale(e) != st.Stale {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		d, bd := absDiff(e.at, st.At), absDiff(list[best].at, st.At)
		if d < bd || (d == bd && (e.at < list[best].at || e.at == list[best].at && e.seq < list[best].seq)) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	e := list[best]
	list = slices.Delete(list, best, best+1)
	if len(list) == 0 {
		delete(s.pending, st.Key)
	} else {
		s.pending[st.Key] = list
	}
	return e
}

// replayLoop is loop for a replay: the script orders the events.
func (s *Sim) replayLoop() {
	sc := s.opts.script
	for i := range sc.Steps {
		if s.failure != nil || s.phase == phaseDone {
			break
		}
		st := &sc.Steps[i]
		e := s.takePending(st)
		if e == nil {
			continue
		}
		s.now = max(s.now, e.at)
		s.eventNo++
		if s.eventNo > s.opts.MaxEvents {
			s.fail("harness", "event budget", "run exceeded %d events", s.opts.MaxEvents)
			return
		}
		*s.opts.played = append(*s.opts.played, i)
		s.r.tap.playStep(s.p.Seed, st.Index, st.Draws)
		s.step, s.stepFaults = st, 0
		s.tr.record(s.eventNo, e)
		s.dispatch(e)
		s.chk.afterEvent(s)
		if s.opts.Observer != nil {
			s.observeEvent(e)
		}
	}
	s.step = nil
	if s.failure != nil || s.phase == phaseDone {
		return
	}
	// The script ended with operations outstanding: a read has no
	// effect; a write may have been proposed, so its outcome is unknown.
	s.phase = phaseDone
	for _, c := range s.clients {
		if c.cur != nil {
			out := c.cur.giveUpOutcome()
			if c.cur.op.Kind != check.Read {
				out = check.Info
			}
			s.finish(c, out, "still pending when the replayed trace ended")
		}
	}
}

// Len is the number of steps.
func (sc *Script) Len() int { return len(sc.Steps) }

// Subset returns the script made of the steps at positions keep (in
// order).
func (sc *Script) Subset(keep []int) *Script {
	out := &Script{Seed: sc.Seed, Tuning: sc.Tuning, Bugs: sc.Bugs, Boot: sc.Boot, Steps: make([]TraceStep, len(keep))}
	for i, k := range keep {
		out.Steps[i] = sc.Steps[k]
	}
	return out
}

// String lists the steps, one a line.
func (sc *Script) String() string {
	var b []byte
	for i, st := range sc.Steps {
		b = fmt.Appendf(b, "%d. (event %d of the recorded run) %s\n", i+1, st.Index, st.What)
	}
	return string(b)
}

// scriptFormat names the JSON a Script is written as.
const scriptFormat = "raftbench-sim-script/1"

type scriptFile struct {
	Format string `json:"format"`
	*Script
}

// WriteFile writes sc as JSON (ReadScript reads it back).
func (sc *Script) WriteFile(path string) error {
	b, err := json.MarshalIndent(scriptFile{Format: scriptFormat, Script: sc}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadScript reads a script written by Script.WriteFile.
func ReadScript(path string) (*Script, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := scriptFile{Script: &Script{}}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sim: %s: %v", path, err)
	}
	if f.Format != scriptFormat {
		return nil, fmt.Errorf("sim: %s is not a simulator script (format %q, want %q)", path, f.Format, scriptFormat)
	}
	if _, err := tuneByNames(f.Tuning); err != nil {
		return nil, fmt.Errorf("%v (in %s)", err, path)
	}
	return f.Script, nil
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
