package maelstrom

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/transport"
)

// raftTransport carries Raft messages as Maelstrom node-to-node messages,
// so Maelstrom's partitions and latency apply to Raft traffic. It
// implements transport.Transport.
type raftTransport struct {
	self     string
	names    []string // names[id-1] is the Maelstrom name of node id
	out      *LineWriter
	maxLine  int
	log      *slog.Logger
	handler  atomic.Pointer[transport.Handler]
	bufPool  sync.Pool
	sent     atomic.Uint64
	dropped  atomic.Uint64
	oversize atomic.Uint64
}

func newRaftTransport(self string, names []string, out *LineWriter, maxLine int, log *slog.Logger) *raftTransport {
	t := &raftTransport{self: self, names: names, out: out, maxLine: maxLine, log: log}
	t.bufPool.New = func() any { b := make([]byte, 0, 4096); return &b }
	return t
}

func (t *raftTransport) Start(h transport.Handler) error {
	t.handler.Store(&h)
	return nil
}

func (t *raftTransport) Close() error {
	t.handler.Store(nil)
	return nil
}

// Send encodes each message as one JSON line. A message that would make a
// line longer than maxLine is dropped and counted: Raft tolerates loss,
// and the engine's MaxMsgBytes is set so normal traffic never gets there.
func (t *raftTransport) Send(msgs []raftpb.Message) {
	bp := t.bufPool.Get().(*[]byte)
	defer t.bufPool.Put(bp)
	for i := range msgs {
		m := &msgs[i]
		if m.To == 0 || m.To > uint64(len(t.names)) {
			t.dropped.Add(1)
			continue
		}
		*bp = raftpb.AppendMessage((*bp)[:0], m)
		line := t.encodeLine(t.names[m.To-1], *bp)
		if len(line) > t.maxLine {
			t.oversize.Add(1)
			t.log.Warn("dropping oversize raft message", "type", m.Type.String(), "to", t.names[m.To-1], "bytes", len(line), "limit", t.maxLine)
			continue
		}
		if t.out.Write(line, false) {
			t.sent.Add(1)
		} else {
			t.dropped.Add(1)
		}
	}
}

func (t *raftTransport) encodeLine(dest string, payload []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(payload))
	line := make([]byte, 0, n+len(t.self)+len(dest)+64)
	line = append(line, `{"src":`...)
	line = strconv.AppendQuote(line, t.self)
	line = append(line, `,"dest":`...)
	line = strconv.AppendQuote(line, dest)
	line = append(line, `,"body":{"type":"raft","m":"`...)
	line = base64.StdEncoding.AppendEncode(line, payload)
	return append(line, `"}}`...)
}

// deliver decodes an inbound raft body and hands it to the runtime.
func (t *raftTransport) deliver(src string, body []byte, lim raftpb.Limits) error {
	h := t.handler.Load()
	if h == nil {
		return fmt.Errorf("raft message from %s before the node started", src)
	}
	var m raftpb.Message
	if err := raftpb.UnmarshalMessage(body, &m, lim); err != nil {
		return fmt.Errorf("raft message from %s: %w", src, err)
	}
	if m.From == 0 || m.From > uint64(len(t.names)) || t.names[m.From-1] != src {
		return fmt.Errorf("raft message claims sender %d but came from %s", m.From, src)
	}
	(*h)(m)
	return nil
}
