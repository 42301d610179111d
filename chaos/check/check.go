package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a check.
type Verdict string

const (
	// Linearizable: a linearization was found for every key.
	Linearizable Verdict = "linearizable"
	// NotLinearizable: some key has no linearization.
	NotLinearizable Verdict = "not-linearizable"
	// Unknown: the search ran out of time (or the history was invalid)
	// before deciding. It is not a pass.
	Unknown Verdict = "unknown"
)

// DefaultTimeout bounds the search for one key when Options.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// Options tunes Check.
type Options struct {
	// Timeout bounds the search for each key (porcupine's problem is
	// NP-hard); 0 means DefaultTimeout, negative means no bound.
	Timeout time.Duration
	// Events are shown on the visualization's timeline (for example
	// nemesis faults); they are not used for checking.
	Events []Event
}

// Event is an annotation on the visualization timeline, in the same
// nanoseconds as Op.Call.
type Event struct {
	Start, End  int64
	Tag         string // the row, e.g. "nemesis"
	Description string
}

// KeyResult is the verdict for one key.
type KeyResult struct {
	Key          string  `json:"key"`
	Linearizable Verdict `json:"linearizable"`
	Ops          int     `json:"ops"`  // operations checked (OK and Info)
	Info         int     `json:"info"` // of which indeterminate
	// Method decided the key: MethodZones or MethodSearch.
	Method  string        `json:"method"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Result is the verdict for a whole history.
type Result struct {
	Linearizable Verdict     `json:"linearizable"`
	Keys         []KeyResult `json:"keys"` // sorted by key
	// BadKey is the first key (in key order) found not linearizable, or
	// if none, the first whose check timed out; "" when Linearizable.
	BadKey  string        `json:"bad_key,omitempty"`
	Dropped int           `json:"dropped"` // Fail ops and Info reads: nothing to check
	Elapsed time.Duration `json:"elapsed_ns"`
	// Err is set when the history itself is invalid; then Linearizable
	// is Unknown.
	Err error `json:"-"`

	info porcupine.LinearizationInfo // of BadKey
}

// OK reports whether the history was proven linearizable.
func (r Result) OK() bool { return r.Linearizable == Linearizable }

// ErrNoVisualization is returned by WriteVisualization when there is no
// failing or undecided key to draw.
var ErrNoVisualization = errors.New("check: nothing to visualize (history linearizable or invalid)")

// WriteVisualization writes porcupine's HTML view of BadKey's history
// and its longest partial linearizations to path.
func (r Result) WriteVisualization(path string) error {
	if r.BadKey == "" {
		return ErrNoVisualization
	}
	return porcupine.VisualizePath(registerModel, r.info, path)
}

// Visualize is WriteVisualization to a writer.
func (r Result) Visualize(w io.Writer) error {
	if r.BadKey == "" {
		return ErrNoVisualization
	}
	return porcupine.Visualize(registerModel, r.info, w)
}

// Check decides whether history is linearizable, key by key (lin-kv
// keys are independent registers, so the history is linearizable iff
// every key's is). Keys are checked in order; a later key is still
// checked after an earlier one fails, so Keys is complete.
func Check(history []Op, opts Options) Result {
	start := time.Now()
	if err := Validate(history); err != nil {
		return Result{Linearizable: Unknown, Err: err, Elapsed: time.Since(start)}
	}
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0 // porcupine: unbounded
	}
	byKey, dropped := partition(history)
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	res := Result{Linearizable: Linearizable, Dropped: dropped}
	var unknownInfo porcupine.LinearizationInfo
	unknownKey := ""
	for _, k := range keys {
		kr, info := checkKey(k, byKey[k], timeout, opts.Events)
		res.Keys = append(res.Keys, kr)
		switch kr.Linearizable {
		case NotLinearizable:
			if res.Linearizable != NotLinearizable {
				res.Linearizable, res.BadKey, res.info = NotLinearizable, k, info
			}
		case Unknown:
			if unknownKey == "" {
				unknownKey, unknownInfo = k, info
			}
		}
	}
	if res.Linearizable == Linearizable && unknownKey != "" {
		res.Linearizable, res.BadKey, res.info = Unknown, unknownKey, unknownInfo
	}
	res.Elapsed = time.Since(start)
	return res
}

// checkKey decides one key. A history of reads and uniquely valued
// writes is decided exactly by checkZones, whatever its size; porcupine's
// search then runs only to draw a failing key (and a disagreement, which
// TestZonesAgreeWithSearch rules out, would make the key Unknown, never
// a false verdict). Any other history goes to porcupine's search.
func checkKey(key string, ops []Op, timeout time.Duration, events []Event) (KeyResult, porcupine.LinearizationInfo) {
	t0 := time.Now()
	kr := KeyResult{Key: key, Ops: len(ops), Method: MethodSearch}
	for _, op := range ops {
		if op.Outcome == Info {
			kr.Info++
		}
	}
	if uniqueRegister(ops) {
		kr.Method = MethodZones
		if kr.Linearizable = checkZones(ops); kr.Linearizable == Linearizable {
			kr.Elapsed = time.Since(t0)
			return kr, porcupine.LinearizationInfo{}
		}
	}
	verdict, info := porcupine.CheckOperationsVerbose(registerModel, searchOps(ops), timeout)
	switch {
	case kr.Method == MethodZones && verdict == porcupine.Ok:
		kr.Linearizable = Unknown // the two methods disagree: decide nothing
	case kr.Method == MethodZones:
		// Not linearizable (zones); porcupine's info draws it, or its
		// longest partial linearizations if its search timed out.
	case verdict == porcupine.Ok:
		kr.Linearizable = Linearizable
	case verdict == porcupine.Illegal:
		kr.Linearizable = NotLinearizable
	default:
		kr.Linearizable = Unknown
	}
	if kr.Linearizable != Linearizable && len(events) > 0 {
		info.AddAnnotations(annotations(events))
	}
	kr.Elapsed = time.Since(t0)
	return kr, info
}

// partition groups the checkable operations by key. Fail ops and Info
// reads are dropped: neither changed the register.
func partition(history []Op) (map[string][]Op, int) {
	byKey := map[string][]Op{}
	dropped := 0
	for _, op := range history {
		if op.Outcome == Fail || (op.Outcome == Info && op.Kind == Read) {
			dropped++
			continue
		}
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	return byKey, dropped
}

// searchOps turns one key's operations into porcupine's. Info writes and
// cas end after every operation of the key, so they may take effect
// anywhere after their call.
func searchOps(ops []Op) []porcupine.Operation {
	var last int64
	for _, op := range ops {
		t := max(op.Call, last)
		if op.Outcome == OK {
			t = max(t, op.Return)
		}
		last = t
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in := input{kind: op.Kind, value: op.Value, from: op.From, create: op.CreateIfMissing}
		res := output{missing: op.Missing, mismatch: op.Mismatch, value: op.Value}
		ret := op.Return
		if op.Outcome == Info {
			res = output{unknown: true}
			ret = last + 1
		}
		var meta interface{}
		if op.Note != "" {
			meta = op.Note
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client, Input: in, Call: op.Call, Output: res, Return: ret, Metadata: meta,
		})
	}
	return out
}

func annotations(events []Event) []porcupine.Annotation {
	out := make([]porcupine.Annotation, 0, len(events))
	for _, e := range events {
		out = append(out, porcupine.Annotation{
			Tag: e.Tag, Start: e.Start, End: e.End, Description: e.Description,
			BackgroundColor: "#f6d7a7",
		})
	}
	return out
}

// Validate reports the first malformed operation: an unknown kind or
// outcome, an OK operation returning before its call, contradictory
// observation flags, or a negative client id (porcupine's rows).
func Validate(history []Op) error {
	for i, op := range history {
		if err := validateOp(op); err != nil {
			b, _ := json.Marshal(op)
			return fmt.Errorf("check: op %d %s: %w", i, b, err)
		}
	}
	return nil
}

func validateOp(op Op) error {
	switch {
	case op.Kind < Read || op.Kind > Cas:
		return fmt.Errorf("unknown kind %d", op.Kind)
	case op.Outcome < OK || op.Outcome > Info:
		return fmt.Errorf("unknown outcome %d", op.Outcome)
	case op.Client < 0:
		return fmt.Errorf("negative client %d", op.Client)
	case op.Outcome == OK && op.Return < op.Call:
		return fmt.Errorf("returns at %d before its call at %d", op.Return, op.Call)
	case op.Missing && op.Mismatch:
		return errors.New("both missing and mismatch")
	case op.Kind == Write && (op.Missing || op.Mismatch):
		return errors.New("a write cannot observe missing or mismatch")
	case op.Kind == Read && op.Mismatch:
		return errors.New("a read cannot observe mismatch")
	case op.Kind != Cas && op.CreateIfMissing:
		return errors.New("create_if_missing on a non-cas op")
	}
	return nil
}
