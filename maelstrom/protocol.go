package maelstrom

import (
	"encoding/json"
	"fmt"
)

// Message is one line of Maelstrom's protocol: {"src","dest","body"}.
// Body stays raw until its type is known, so a node never decodes a large
// Raft payload twice.
type Message struct {
	Src  string          `json:"src"`
	Dest string          `json:"dest"`
	Body json.RawMessage `json:"body"`
}

// header holds the body fields every message may carry.
type header struct {
	Type      string `json:"type"`
	MsgID     *int64 `json:"msg_id,omitempty"`
	InReplyTo *int64 `json:"in_reply_to,omitempty"`
}

// Maelstrom error codes (the Maelstrom protocol's error table). Definite codes mean
// the operation certainly did not happen; the others are indefinite.
const (
	CodeTimeout                = 0
	CodeNodeNotFound           = 1
	CodeNotSupported           = 10
	CodeTemporarilyUnavailable = 11
	CodeMalformedRequest       = 12
	CodeCrash                  = 13
	CodeAbort                  = 14
	CodeKeyDoesNotExist        = 20
	CodeKeyAlreadyExists       = 21
	CodePreconditionFailed     = 22
	CodeTxnConflict            = 30
)

// DefiniteCode reports whether code says the operation certainly did not
// take effect. 0, 13 and custom codes ≥ 1000 are indefinite.
func DefiniteCode(code int) bool {
	switch code {
	case CodeNodeNotFound, CodeNotSupported, CodeTemporarilyUnavailable, CodeMalformedRequest,
		CodeAbort, CodeKeyDoesNotExist, CodeKeyAlreadyExists, CodePreconditionFailed, CodeTxnConflict:
		return true
	}
	return false
}

type initBody struct {
	header
	NodeID  string   `json:"node_id"`
	NodeIDs []string `json:"node_ids"`
}

type errorBody struct {
	Type      string `json:"type"`
	InReplyTo int64  `json:"in_reply_to"`
	Code      int    `json:"code"`
	Text      string `json:"text"`
}

type replyBody struct {
	Type      string          `json:"type"`
	InReplyTo int64           `json:"in_reply_to"`
	Value     json.RawMessage `json:"value,omitempty"`
}

// kvBody is a lin-kv request: read {key}, write {key, value},
// cas {key, from, to, create_if_not_exists}.
type kvBody struct {
	header
	Key               json.RawMessage `json:"key"`
	Value             json.RawMessage `json:"value"`
	From              json.RawMessage `json:"from"`
	To                json.RawMessage `json:"to"`
	CreateIfNotExists bool            `json:"create_if_not_exists"`
}

// raftBody carries one encoded Raft message between nodes. M is the
// binary codec of engine/raftpb, base64 in JSON.
type raftBody struct {
	Type string `json:"type"`
	M    []byte `json:"m"`
}

// RPCError is a Maelstrom error reply.
type RPCError struct {
	Code int
	Text string
}

func (e *RPCError) Error() string { return fmt.Sprintf("maelstrom error %d: %s", e.Code, e.Text) }
