package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/raftbench/raftbench/engine/runtime/mtls"
)

// Mutual TLS on the TCP transport (TCPConfig.TLS). The acceptor runs the
// TLS handshake before reading anything (a client without a certificate
// signed by the cluster CA never reaches the frame parser), then reads
// the raftbench handshake frame and checks that the certificate names
// the node ID the frame claims. The dialler checks that the certificate
// of the node it reached names the peer it meant to reach. Certificates
// come from an mtls.Store, so a reload affects every later handshake.

// AuthReason classifies a refused inbound connection.
type AuthReason uint8

// Reasons an inbound connection is refused under mutual TLS.
const (
	AuthNoCertificate AuthReason = iota // the client presented none
	AuthUnknownCA                       // not signed by the cluster CA
	AuthExpired                         // outside its validity period
	AuthIdentity                        // names another node than claimed, or no node
	AuthHandshake                       // any other TLS failure (not TLS at all, bad version)
	numAuthReasons
)

var authReasonNames = [numAuthReasons]string{"no_certificate", "unknown_ca", "expired", "identity_mismatch", "handshake"}

func (r AuthReason) String() string {
	if r < numAuthReasons {
		return authReasonNames[r]
	}
	return "unknown"
}

// AuthRefusals counts refused inbound connections by reason.
func (t *TCP) AuthRefusals() map[AuthReason]uint64 {
	m := map[AuthReason]uint64{}
	for r := range numAuthReasons {
		if n := t.refused[r].Load(); n != 0 {
			m[r] = n
		}
	}
	return m
}

func (t *TCP) refuse(r AuthReason, c net.Conn, err error) {
	t.log.Warn("transport: refused connection", "reason", r.String(), "remote", c.RemoteAddr(), "err", err)
	t.refused[r].Add(1)
	t.counters.authRefused.Add(1)
}

// classifyTLS maps a server-side handshake error to a reason.
func classifyTLS(err error) AuthReason {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return AuthUnknownCA
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return AuthExpired
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		return AuthNoCertificate
	}
	return AuthHandshake
}

// acceptTLS runs the server side of the handshake on an accepted
// connection (its deadline is already set); nil if refused.
func (t *TCP) acceptTLS(raw net.Conn) *tls.Conn {
	tc := tls.Server(raw, t.cfg.TLS.ServerConfig(true))
	if err := tc.HandshakeContext(t.ctx); err != nil {
		if !t.closed.Load() {
			t.refuse(classifyTLS(err), raw, err)
		}
		return nil
	}
	return tc
}

// checkPeerIdentity refuses a connection whose certificate does not
// name the node its handshake frame claims.
func (t *TCP) checkPeerIdentity(tc *tls.Conn, from uint64) error {
	err := mtls.VerifyNode(tc.ConnectionState(), from)
	if err != nil {
		t.refuse(AuthIdentity, tc.NetConn(), err)
	}
	return err
}

// dialTLS runs the client side of the handshake towards p.
func (p *peer) dialTLS(c net.Conn) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.t.ctx, p.t.cfg.DialTimeout)
	defer cancel()
	tc := tls.Client(c, p.t.cfg.TLS.ClientConfig(p.id))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}
