package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

const fuzzInit = `{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}` + "\n"

// FuzzLines feeds arbitrary input lines to a node, before init (the
// node has no Raft yet) and after it (a single-node cluster): the node
// must never crash and every line it writes must be one valid JSON
// message.
func FuzzLines(f *testing.F) {
	for _, s := range []string{
		`{"src":"c1","dest":"n1","body":{"type":"write","msg_id":2,"key":1,"value":2}}`,
		`{"src":"c1","dest":"n1","body":{"type":"read","msg_id":3,"key":1}}`,
		`{"src":"c1","dest":"n1","body":{"type":"cas","msg_id":4,"key":1,"from":2,"to":3}}`,
		`{"src":"n2","dest":"n1","body":{"type":"raft","m":"AAAA"}}`,
		`{"src":"c1","dest":"n1","body":{"type":"init","msg_id":5,"node_id":"n1","node_ids":["n1","n2"]}}`,
		`{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":6}}`,
		`{"src":"c1","body":{"in_reply_to":1}}`,
		`{"src":"","body":{}}`,
		"not json\n{\"src\":\"c1\"",
		`{"src":"c1","dest":"n1","body":{"type":"write","msg_id":-1,"key":"\u0000","value":[1,2]}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, afterInit bool) {
		if len(in) > 1<<16 {
			return
		}
		input := in
		if afterInit {
			input = append([]byte(fuzzInit), in...)
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := Run(ctx, bytes.NewReader(input), &out, Options{
			DataDir: t.TempDir(), TickInterval: time.Millisecond, RequestTimeout: 20 * time.Millisecond,
			MaxInLineBytes: 1 << 16, UnsafeNoFsync: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, line := range bytes.Split(bytes.TrimRight(out.Bytes(), "\n"), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m Message
			if err := json.Unmarshal(line, &m); err != nil || m.Src == "" || len(m.Body) == 0 {
				t.Fatalf("invalid output line %q: %v", line, err)
			}
		}
	})
}
