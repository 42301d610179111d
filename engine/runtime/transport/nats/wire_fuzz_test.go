package nats

import (
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// FuzzDeliver: no payload makes deliver panic, allocate without bound or
// hand over a message not addressed from a known peer to this node.
func FuzzDeliver(f *testing.F) {
	m := app(1, 2, 7, []byte("seed"))
	good := appendHeader(nil, 1, 2)
	good = append(good, 0, 0, 0, byte(raftpb.MessageSize(&m)))
	good = raftpb.AppendMessage(good, &m)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add([]byte("RBNT\x01\x01\x02\x00\x00\x00\x01\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := &Transport{id: 2, peers: map[uint64]*peer{1: {}, 3: {}}}
		tr.handler = func(m raftpb.Message) {
			if m.To != 2 || (m.From != 1 && m.From != 3) {
				t.Fatalf("delivered %d->%d", m.From, m.To)
			}
		}
		tr.deliver(b)
	})
}
