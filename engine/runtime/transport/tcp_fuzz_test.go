package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/raftbench/raftbench/engine/raftpb"
)

// FuzzReadFrames feeds arbitrary bytes to an inbound connection's reader
// (handshake, then frames): it must never panic, must deliver only
// messages from the handshaken peer to this node, and must end with
// either a clean EOF or a bad-frame error.
func FuzzReadFrames(f *testing.F) {
	hb := raftpb.Message{Type: raftpb.MsgHeartbeat, From: 3, To: 1, Term: 2, Commit: 9}
	app := benchMsgApp(3, 1)
	app.Entries = app.Entries[:4] // small seeds keep minimisation fast
	for i := range app.Entries {
		app.Entries[i].Data = app.Entries[i].Data[:40]
	}
	good := appendHandshake(nil, 3, 1)
	good = append(good, frame(raftpb.AppendMessage(nil, &hb))...)
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), frame(raftpb.AppendMessage(nil, &app))...))
	f.Add(append(append([]byte(nil), good...), 0xff, 0xff, 0xff, 0xff))
	f.Add(good[:len(good)-2])
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := &TCP{id: 1, log: slog.New(slog.DiscardHandler),
			cfg: TCPConfig{MaxFrameBytes: 1 << 16, Limits: raftpb.DefaultLimits}}
		tr.peers.Store(&map[uint64]*peer{3: {}})
		delivered := 0
		tr.handler = func(m raftpb.Message) {
			if m.From != 3 || m.To != 1 || !m.Type.Valid() {
				t.Fatalf("delivered a message that should have been refused: %v", m)
			}
			delivered++
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), 64) // tiny, to exercise large frames
		from, err := tr.readHandshake(br)
		if err == nil {
			if from != 3 {
				t.Fatalf("handshake accepted from %d", from)
			}
			err = tr.readFrames(br, from)
		}
		if err == nil || (!errors.Is(err, io.EOF) && !errors.Is(err, errFrame)) {
			t.Fatalf("reader ended with %v, want EOF or a bad-frame error", err)
		}
		if s := tr.Stats(); s.Received != uint64(delivered) {
			t.Fatalf("counted %d received, delivered %d", s.Received, delivered)
		}
	})
}
