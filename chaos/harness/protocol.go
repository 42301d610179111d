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

// Maelstrom error codes (the Maelstrom protocol's error table) that the
// classification names.
const (
	codeTimeout    = 0
	codeCrash      = 13
	codeKeyMissing = 20
	codeMismatch   = 22
	firstCustom    = 1000
)

// definite is the set of codes meaning "certainly did not happen".
var definite = map[int]bool{1: true, 10: true, 11: true, 12: true, 14: true, 20: true, 21: true, 22: true, 30: true}

// classify turns a node's answer to a request of kind into an outcome
// (filling op's observation fields). protoErr is non-empty when the
// answer breaks the protocol; such an answer is treated as Info, since
// nothing it claims can be trusted.
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
		op.Value, op.Outcome = buf.String(), check.OK
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
	case code == codeKeyMissing && op.Kind == check.Read:
		op.Outcome, op.Missing, op.Value = check.OK, true, ""
	case code == codeKeyMissing && op.Kind == check.Cas:
		op.Outcome, op.Missing = check.OK, true
	case code == codeMismatch && op.Kind == check.Cas:
		op.Outcome, op.Mismatch = check.OK, true
	case definite[code]:
		op.Outcome = check.Fail
	default:
		// 0, 13, ≥1000, and any code we do not know: it may have happened.
		op.Outcome = check.Info
	}
	return ""
}
