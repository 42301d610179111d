package check

import (
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"
)

// input is what a client asked of one key's register.
type input struct {
	kind   Kind
	value  string // write: the value; cas: the "to" value
	from   string // cas only
	create bool   // cas with create_if_not_exists
}

// output is what the client saw. unknown marks an indeterminate (Info)
// operation: porcupine's convention for a pending call is an output that
// every state accepts and a return at the end of the history, so the
// operation may be linearized anywhere after its call; linearized after
// every other operation it is indistinguishable from "never happened".
type output struct {
	unknown  bool
	missing  bool   // read or cas: the key had no value
	mismatch bool   // cas: the value was not "from"
	value    string // read: the value seen
}

// state is one key's register: absent, or holding a value. It is a
// comparable value so porcupine's default == would also work.
type state struct {
	exists bool
	value  string
}

// registerModel is a compare-and-set register with a "missing" state,
// the sequential specification of one lin-kv key. Step is pure.
var registerModel = porcupine.Model{
	Init: func() interface{} { return state{} },
	Step: func(s, in, out interface{}) (bool, interface{}) {
		return step(s.(state), in.(input), out.(output))
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
	Hash: func(s interface{}) uint64 {
		st := s.(state)
		h := fnv.New64a()
		if st.exists {
			h.Write([]byte{1})
			h.Write([]byte(st.value))
		}
		return h.Sum64()
	},
	DescribeOperation: func(in, out interface{}) string {
		return describe(in.(input), out.(output))
	},
	DescribeState: func(s interface{}) string {
		st := s.(state)
		if !st.exists {
			return "missing"
		}
		return st.value
	},
	DescribeOperationMetadata: func(m interface{}) string {
		if m == nil {
			return ""
		}
		return fmt.Sprint(m)
	},
}

// step applies one operation to s; ok is false when the operation's
// observed output cannot come from s.
func step(s state, in input, out output) (bool, state) {
	switch in.kind {
	case Read:
		if out.unknown {
			return true, s
		}
		if out.missing {
			return !s.exists, s
		}
		return s.exists && s.value == out.value, s
	case Write:
		// A write has nothing to observe: OK and unknown are alike.
		return true, state{exists: true, value: in.value}
	case Cas:
		return stepCas(s, in, out)
	}
	return false, s
}

// stepCas: create_if_not_exists (an extension, only in the lin-kv-create
// workload) makes a cas on a missing key write "to"; otherwise a missing
// key is an error 20 and a value other than "from" an error 22, both
// observations of s.
func stepCas(s state, in input, out output) (bool, state) {
	applies := (s.exists && s.value == in.from) || (!s.exists && in.create)
	switch {
	case out.unknown:
		// Took effect here: it did whatever s made it do.
		if applies {
			return true, state{exists: true, value: in.value}
		}
		return true, s
	case out.missing:
		return !s.exists && !in.create, s
	case out.mismatch:
		// "from does not match": a different value, or none (Maelstrom's
		// register compares from with nil, so a node that answers 22 for
		// a missing key is within the protocol).
		return !s.exists || s.value != in.from, s
	case applies:
		return true, state{exists: true, value: in.value}
	}
	return false, s
}

func describe(in input, out output) string {
	var call string
	switch in.kind {
	case Read:
		call = "read()"
	case Write:
		call = fmt.Sprintf("write(%s)", in.value)
	case Cas:
		if in.create {
			call = fmt.Sprintf("cas(%s→%s, create)", in.from, in.value)
		} else {
			call = fmt.Sprintf("cas(%s→%s)", in.from, in.value)
		}
	default:
		call = in.kind.String()
	}
	switch {
	case out.unknown:
		return call + " → ?"
	case out.missing:
		return call + " → missing"
	case out.mismatch:
		return call + " → mismatch"
	case in.kind == Read:
		return call + " → " + out.value
	}
	return call + " → ok"
}
