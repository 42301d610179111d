package check

import "fmt"

// Kind is a lin-kv operation kind.
type Kind uint8

const (
	Read Kind = iota + 1
	Write
	Cas
)

func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case Cas:
		return "cas"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Outcome is how a client saw an operation end (Jepsen's ok/fail/info).
type Outcome uint8

const (
	// OK: the operation completed and its result is known.
	OK Outcome = iota + 1
	// Fail: the operation certainly did not take effect (a definite
	// error). Failed ops are removed before checking, except reads that
	// observed a missing key, which are OK ops with Missing set.
	Fail
	// Info: indeterminate (timeout, indefinite error). The op may take
	// effect at any time after Call, or never.
	Info
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Op is one client operation in a history. Values are compared as
// opaque strings (Maelstrom's JSON ints arrive as their JSON text).
type Op struct {
	Client int    `json:"client"`
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	// Value: for Write the value written, for Cas the "to" value, for an
	// OK Read the value observed.
	Value string `json:"value,omitempty"`
	// From is the expected value of a Cas.
	From string `json:"from,omitempty"`
	// Missing, on an OK Read, means the key had no value; on an OK Cas
	// with CreateIfMissing it is unused. A Cas answered "key does not
	// exist" is recorded as OK with Missing set, an observation that the
	// key had no value at that moment.
	Missing bool `json:"missing,omitempty"`
	// Mismatch, on an OK Cas, means the precondition failed: an
	// observation that the value differed from From.
	Mismatch        bool `json:"mismatch,omitempty"`
	CreateIfMissing bool `json:"create_if_missing,omitempty"`
	// Call and Return are nanoseconds on one monotonic clock. Return is
	// ignored for Info ops.
	Call    int64   `json:"call_ns"`
	Return  int64   `json:"return_ns"`
	Outcome Outcome `json:"outcome"`
	// Note is free text for humans (error text, node that answered).
	Note string `json:"note,omitempty"`
}
