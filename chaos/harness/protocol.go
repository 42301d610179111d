package harness

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/raftbench/raftbench/chaos/check"
)

// envelope is one Maelstrom message: one JSON object per line.
type envelope struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// replyBody holds the fields of a node's answer the harness reads.
type replyBody struct {
	Type      string          `json:"type"`
	InReplyTo *int64          `json:"in_reply_to"`
	Value     json.RawMessage `json:"value"`
	Code      *int            `json:"code"`
	Text      string          `json:"text"`
}

// request is a lin-kv client request body.
type request struct {
	Type   string `json:"type"`
	MsgID  int64  `json:"msg_id"`
	Key    int    `json:"key"`
	Value  *int   `json:"value,omitempty"`
	From   *int   `json:"from,omitempty"`
	To     *int   `json:"to,omitempty"`
	Create bool   `json:"create_if_not_exists,omitempty"`
}

// Maelstrom error codes that the classification names.
const (
	codeKeyMissing = 20
	codeMismatch   = 22
)

// definite is the set of codes Maelstrom's error registry marks
// definite (the operation certainly did not happen): not-supported,
// temporarily-unavailable, malformed-request, abort,
// key-does-not-exist, key-already-exists, precondition-failed and
// txn-conflict, and node-not-found. Timeout (0), crash (13), codes of a
// node's own (≥ 1000) and any code Maelstrom does not know are
// indefinite.
var definite = map[int]bool{1: true, 10: true, 11: true, 12: true, 14: true, 20: true, 21: true, 22: true, 30: true}

// classify turns a node's answer into op's outcome, as Maelstrom's lin-kv
// client does, keeping two observations Maelstrom's checker throws away
// but that are valid under its protocol: a definite "key does not exist"
// (20) on a read or cas says the key had no value, and a definite
// "precondition failed" (22) on a cas says the value was not From. A
// read_ok with a null value is what Maelstrom's checker reads as "no
// value" (its register starts at nil), so it observes absence too.
//
// Maelstrom treats read as idempotent: any error answer to a read fails
// it (no new client process). protoErr is non-empty when the answer
// breaks the protocol; such an answer is Info, since nothing it claims
// can be trusted (Maelstrom's client crashes on it, which is also Info).
func classify(op *check.Op, b replyBody) (protoErr string) {
	switch {
	case b.Type == "error":
		return classifyError(op, b)
	case b.Type == "read_ok" && op.Kind == check.Read:
		if len(b.Value) == 0 {
			op.Outcome = check.Info
			return "read_ok without a value"
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b.Value); err != nil {
			op.Outcome = check.Info
			return fmt.Sprintf("read_ok with a malformed value: %v", err)
		}
		op.Outcome = check.OK
		if v := buf.String(); v == "null" {
			op.Missing, op.Value = true, ""
		} else {
			op.Value = v
		}
	case b.Type == "write_ok" && op.Kind == check.Write,
		b.Type == "cas_ok" && op.Kind == check.Cas:
		op.Outcome = check.OK
	default:
		op.Outcome = check.Info
		return fmt.Sprintf("answer %q to a %s request", b.Type, op.Kind)
	}
	return ""
}

func classifyError(op *check.Op, b replyBody) string {
	if b.Code == nil {
		op.Outcome = check.Info
		return "error without a code"
	}
	code := *b.Code
	op.Note = fmt.Sprintf("error %d: %s", code, b.Text)
	switch {
	case code == codeKeyMissing && (op.Kind == check.Read || op.Kind == check.Cas):
		op.Outcome, op.Missing, op.Value = check.OK, true, valueIfCas(op)
	case code == codeMismatch && op.Kind == check.Cas:
		op.Outcome, op.Mismatch = check.OK, true
	case definite[code], op.Kind == check.Read:
		op.Outcome = check.Fail
	default:
		op.Outcome = check.Info
	}
	return ""
}

// valueIfCas keeps a cas's "to" value (its input) and clears a read's
// (a read that saw nothing observed no value).
func valueIfCas(op *check.Op) string {
	if op.Kind == check.Cas {
		return op.Value
	}
	return ""
}
