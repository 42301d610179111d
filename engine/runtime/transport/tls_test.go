package transport

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftbench/raftbench/engine/raftpb"
	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// pki writes a development PKI for nodes 1-3 into a temp dir.
func pki(t *testing.T, nodes ...uint64) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := mtls.WriteDev(dir, mtls.DevOptions{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func store(t *testing.T, f mtls.Files) *mtls.Store {
	t.Helper()
	s, err := mtls.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tlsCluster(t *testing.T, dir string, ids ...uint64) *tcpCluster {
	return newTCPCluster(t, func(cfg *TCPConfig) { cfg.TLS = store(t, mtls.NodeFiles(dir, cfg.ID)) }, ids...)
}

func TestTLSClusterDelivers(t *testing.T) {
	dir := pki(t, 1, 2, 3)
	c := tlsCluster(t, dir, 1, 2, 3)
	sendUntil(t, c.tr[2], c.rec[1], 2, 1, 5)
	sendUntil(t, c.tr[1], c.rec[3], 1, 3, 5)
	if s := c.tr[1].Stats(); s.AuthRefused != 0 {
		t.Fatalf("refusals between honest peers: %+v", c.tr[1].AuthRefusals())
	}
}

// attack dials node 1 with cfg (nil: plain TCP), sends a handshake
// claiming claim and a heartbeat, and returns whether node 1 refused.
func attack(t *testing.T, c *tcpCluster, cfg *tls.Config, claim uint64, want AuthReason) {
	t.Helper()
	before := c.tr[1].AuthRefusals()[want]
	raw, err := net.DialTimeout("tcp", c.addr[1], time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var conn net.Conn = raw
	if cfg != nil {
		conn = tls.Client(raw, cfg)
	}
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	msg := raftpb.AppendMessage(nil, &raftpb.Message{Type: raftpb.MsgHeartbeat, From: claim, To: 1, Term: 99})
	_, _ = conn.Write(append(appendHandshake(nil, claim, 1), frame(msg)...))
	var b [1]byte
	_, _ = conn.Read(b[:]) // returns when node 1 closes the connection
	waitFor(t, "refusal "+want.String(), func() bool { return c.tr[1].AuthRefusals()[want] > before })
	if got := c.rec[1].from(claim); len(got) != 0 {
		for _, m := range got {
			if m.Term == 99 {
				t.Fatalf("refused connection delivered %+v", m)
			}
		}
	}
}

// TestTLSRefusals: the four ways in that mutual TLS must shut: no
// certificate (plain TCP, and TLS without a client certificate), a
// certificate from another CA, a valid certificate for another node
// than the one claimed, and an expired certificate. Each is refused,
// counted under its reason, and delivers nothing.
func TestTLSRefusals(t *testing.T) {
	dir := pki(t, 1, 2, 3)
	c := tlsCluster(t, dir, 1, 2)

	// Plain TCP with a valid-looking handshake: not even TLS.
	attack(t, c, nil, 2, AuthHandshake)

	// TLS, trusting node 1, but no client certificate.
	trust := store(t, mtls.NodeFiles(dir, 2)).ClientConfig(1)
	noCert := trust.Clone()
	noCert.GetClientCertificate = nil
	attack(t, c, noCert, 2, AuthNoCertificate)

	// A certificate for node 2 from another CA.
	other := pki(t, 2)
	attack(t, c, store(t, mtls.Files{CA: mtls.CAFile(dir), Cert: mtls.NodeFiles(other, 2).Cert, Key: mtls.NodeFiles(other, 2).Key}).ClientConfig(1), 2, AuthUnknownCA)

	// Node 3's genuine certificate, claiming to be node 2.
	attack(t, c, store(t, mtls.NodeFiles(dir, 3)).ClientConfig(1), 2, AuthIdentity)

	// Node 2's certificate, expired.
	ca, err := mtls.LoadCA(mtls.CAFile(dir), mtls.CAKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	old := t.TempDir()
	cert, key, err := ca.Issue(mtls.Identity{Node: 2}, nil, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(old, "c.pem"), cert)
	writeFile(t, filepath.Join(old, "k.pem"), key)
	attack(t, c, store(t, mtls.Files{CA: mtls.CAFile(dir), Cert: filepath.Join(old, "c.pem"), Key: filepath.Join(old, "k.pem")}).ClientConfig(1), 2, AuthExpired)

	if s := c.tr[1].Stats(); s.AuthRefused < 5 {
		t.Fatalf("AuthRefused %d, want >= 5: %v", s.AuthRefused, c.tr[1].AuthRefusals())
	}
	// The honest peer still gets through.
	sendUntil(t, c.tr[2], c.rec[1], 2, 1, 1)
}

// TestTLSDialerChecksPeerIdentity: a node that answers on peer 2's
// address with node 3's certificate is not accepted as node 2.
func TestTLSDialerChecksPeerIdentity(t *testing.T) {
	dir := pki(t, 1, 2, 3)
	ln := listen(t)
	impostor := tls.NewListener(ln, store(t, mtls.NodeFiles(dir, 3)).ServerConfig(true))
	go func() {
		for {
			c, err := impostor.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	tr, err := NewTCP(TCPConfig{ID: 1, Listener: listen(t), Peers: map[uint64]string{2: ln.Addr().String()},
		TLS: store(t, mtls.NodeFiles(dir, 1)), BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Start(func(raftpb.Message) {}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed dials to the impostor", func() bool {
		tr.Send([]raftpb.Message{{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 1}})
		time.Sleep(5 * time.Millisecond)
		return tr.Stats().DialFailures >= 2
	})
	if s := tr.Stats(); s.Connects != 0 {
		t.Fatalf("connected to an impostor: %+v", s)
	}
}

// TestTLSReloadWithoutRestart: after the node's certificate is
// re-issued on disk (say, the old one expired), Reload makes every new
// handshake use the new one; connections need no restart.
func TestTLSReloadWithoutRestart(t *testing.T) {
	dir := pki(t, 1, 2)
	st1 := store(t, mtls.NodeFiles(dir, 1))
	c := newTCPCluster(t, func(cfg *TCPConfig) {
		if cfg.ID == 1 {
			cfg.TLS = st1
		} else {
			cfg.TLS = store(t, mtls.NodeFiles(dir, cfg.ID))
		}
	}, 1, 2)
	sendUntil(t, c.tr[2], c.rec[1], 2, 1, 1)
	before := st1.NotAfter()
	ca, err := mtls.LoadCA(mtls.CAFile(dir), mtls.CAKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mtls.WriteDev(dir, mtls.DevOptions{Nodes: []uint64{1}, CA: ca, Force: true, Validity: 2 * 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := st1.Reload(); err != nil {
		t.Fatal(err)
	}
	if !st1.NotAfter().After(before) || st1.Reloads() != 2 {
		t.Fatalf("reload did not pick up the new certificate: %v -> %v, %d loads", before, st1.NotAfter(), st1.Reloads())
	}
	// A new connection to node 1 sees the new certificate.
	conn, err := tls.Dial("tcp", c.addr[1], store(t, mtls.NodeFiles(dir, 2)).ClientConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].NotAfter; !got.Equal(st1.NotAfter()) {
		t.Fatalf("new handshake presented the old certificate (%v)", got)
	}
	// A broken file on disk leaves the loaded certificate in use.
	writeFile(t, mtls.NodeFiles(dir, 1).Cert, []byte("garbage"))
	if err := st1.Reload(); err == nil {
		t.Fatal("reload of a garbage certificate succeeded")
	}
	sendUntil(t, c.tr[2], c.rec[1], 2, 1, 2)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
