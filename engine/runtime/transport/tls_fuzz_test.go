package transport

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

var (
	fuzzTLSOnce  sync.Once
	fuzzTLSStore *mtls.Store
	fuzzTLSErr   error
)

// FuzzTLSAccept feeds arbitrary bytes to the server side of the mutual
// TLS handshake of the Raft port: it must never panic, never accept
// (no bytes without the CA's key make a valid client certificate), and
// count every refusal exactly once.
func FuzzTLSAccept(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("RBFT\x01\x02\x01"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add(append([]byte{0x16, 0x03, 0x03, 0xff, 0xff}, make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzTLSOnce.Do(func() {
			dir, err := os.MkdirTemp("", "tls-fuzz-")
			if err == nil {
				_, err = mtls.WriteDev(dir, mtls.DevOptions{Nodes: []uint64{1}})
			}
			if err == nil {
				fuzzTLSStore, err = mtls.Load(mtls.NodeFiles(dir, 1))
			}
			fuzzTLSErr = err
		})
		if fuzzTLSErr != nil {
			t.Fatal(fuzzTLSErr)
		}
		tr := &TCP{id: 1, log: slog.New(slog.DiscardHandler),
			cfg: TCPConfig{TLS: fuzzTLSStore, DialTimeout: time.Second}}
		tr.peers.Store(&map[uint64]*peer{2: {}})
		tr.ctx, tr.cancel = context.WithCancel(context.Background())
		defer tr.cancel()
		server, client := net.Pipe()
		defer server.Close()
		go func() {
			_, _ = client.Write(in)
			client.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		server.SetDeadline(time.Now().Add(time.Second))
		if tc := tr.acceptTLS(server); tc != nil {
			t.Fatalf("accepted a TLS connection from %q", in)
		}
		if n := tr.Stats().AuthRefused; n != 1 {
			t.Fatalf("refusal counted %d times", n)
		}
	})
}
