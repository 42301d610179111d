package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// URI scheme and hosts of identities (see the package documentation).
const (
	scheme     = "raftbench"
	nodeHost   = "node"
	clientHost = "client"
)

// NodeURI is the identity of node id.
func NodeURI(id uint64) *url.URL {
	return &url.URL{Scheme: scheme, Host: nodeHost, Path: "/" + strconv.FormatUint(id, 10)}
}

// ClientURI is the identity of API client name.
func ClientURI(name string) *url.URL {
	return &url.URL{Scheme: scheme, Host: clientHost, Path: "/" + name}
}

// Identity is what a certificate says it is.
type Identity struct {
	Node   uint64 // non-zero for a node certificate
	Client string // non-empty for a client certificate
}

func (id Identity) String() string {
	switch {
	case id.Node != 0:
		return NodeURI(id.Node).String()
	case id.Client != "":
		return ClientURI(id.Client).String()
	}
	return "(no raftbench identity)"
}

// IdentityOf reads the raftbench identity of a certificate; an error if
// it carries none or more than one.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	var ids []Identity
	for _, u := range c.URIs {
		if u.Scheme != scheme {
			continue
		}
		name := strings.TrimPrefix(u.Path, "/")
		switch u.Host {
		case nodeHost:
			n, err := strconv.ParseUint(name, 10, 64)
			if err != nil || n == 0 {
				return Identity{}, fmt.Errorf("mtls: bad node identity %q", u)
			}
			ids = append(ids, Identity{Node: n})
		case clientHost:
			if name == "" {
				return Identity{}, fmt.Errorf("mtls: empty client identity %q", u)
			}
			ids = append(ids, Identity{Client: name})
		}
	}
	if len(ids) != 1 {
		return Identity{}, fmt.Errorf("mtls: certificate %q carries %d raftbench identities, want 1", c.Subject.CommonName, len(ids))
	}
	return ids[0], nil
}

// ErrIdentity marks a peer whose certificate names another identity.
var ErrIdentity = errors.New("mtls: certificate identity mismatch")

// VerifyNode checks that the verified peer certificate of a connection
// names node id.
func VerifyNode(cs tls.ConnectionState, id uint64) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no peer certificate (expected %s)", ErrIdentity, NodeURI(id))
	}
	got, err := IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	if got.Node != id {
		return fmt.Errorf("%w: certificate is %s, expected %s", ErrIdentity, got, NodeURI(id))
	}
	return nil
}

// Files names a CA certificate and this party's certificate and key, all
// PEM.
type Files struct {
	CA, Cert, Key string
}

// material is one loaded generation of the files.
type material struct {
	pool    *x509.CertPool
	cert    tls.Certificate
	leaf    *x509.Certificate
	modTime time.Time // newest mtime of the three files when loaded
}

// Store holds the loaded certificates and swaps them atomically on
// Reload; connections already established keep theirs, new handshakes
// use the new ones.
type Store struct {
	files   Files
	cur     atomic.Pointer[material]
	reloads atomic.Uint64
}

// Load reads the files; every later handshake uses what the last
// successful Load or Reload read.
func Load(f Files) (*Store, error) {
	s := &Store{files: f}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads the files. On any error the previous certificates
// stay in use and the error says what was wrong.
func (s *Store) Reload() error {
	m, err := loadMaterial(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(m)
	s.reloads.Add(1)
	return nil
}

// Reloads counts successful loads (the first included).
func (s *Store) Reloads() uint64 { return s.reloads.Load() }

// Identity is the identity of the loaded certificate.
func (s *Store) Identity() Identity {
	id, _ := IdentityOf(s.cur.Load().leaf)
	return id
}

// NotAfter is when the loaded certificate expires.
func (s *Store) NotAfter() time.Time { return s.cur.Load().leaf.NotAfter }

// Watch polls the files every interval and reloads when any changed,
// until ctx ends. A failed reload is retried at the next check; one that
// fails twice on the same files goes to onErr (nil: ignored).
func (s *Store) Watch(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mt, err := newestModTime(s.files)
		if err != nil || !mt.After(s.cur.Load().modTime) {
			continue
		}
		// Files replaced one by one (certificate, then key) are briefly
		// inconsistent: a failure is reported only when the same
		// generation of files fails twice in a row.
		if err := s.Reload(); err != nil {
			if mt.Equal(failedAt) && onErr != nil {
				onErr(err)
			}
			failedAt = mt
		}
	}
}

func newestModTime(f Files) (time.Time, error) {
	var newest time.Time
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		st, err := os.Stat(p)
		if err != nil {
			return time.Time{}, err
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest, nil
}

func loadMaterial(f Files) (*material, error) {
	mt, err := newestModTime(f)
	if err != nil {
		return nil, fmt.Errorf("mtls: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("mtls: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("mtls: %s holds no PEM certificate", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("mtls: load %s / %s: %w", f.Cert, f.Key, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("mtls: parse %s: %w", f.Cert, err)
	}
	if _, err := IdentityOf(leaf); err != nil {
		return nil, fmt.Errorf("mtls: %s: %w", f.Cert, err)
	}
	return &material{pool: pool, cert: cert, leaf: leaf, modTime: mt}, nil
}

// verify checks a chain against the pool for the given usage.
func verify(m *material, rawCerts [][]byte, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, errors.New("mtls: peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("mtls: bad peer certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: m.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ServerConfig is the listener side: it presents the loaded certificate
// and, if requireClient, demands a client certificate signed by the CA.
// Otherwise client certificates are verified if offered (the HTTP API
// uses them as identities) but not required.
func (s *Store) ServerConfig(requireClient bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClient {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{m.cert},
				ClientCAs:    m.pool,
				ClientAuth:   auth,
			}, nil
		},
	}
}

// ClientConfig is the dialler side for reaching node peer: it presents
// the loaded certificate and accepts only a server certificate signed
// by the CA that names node peer (peer 0: any raftbench node).
func (s *Store) ClientConfig(peer uint64) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &s.cur.Load().cert, nil
		},
		// Host names are not the identity: the chain and the URI are
		// checked by hand below.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := verify(s.cur.Load(), raw, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			id, err := IdentityOf(leaf)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrIdentity, err)
			}
			if id.Node == 0 || (peer != 0 && id.Node != peer) {
				return fmt.Errorf("%w: server is %s, expected %s", ErrIdentity, id, NodeURI(peer))
			}
			return nil
		},
	}
}

// CAPool returns the loaded CA pool (for HTTP clients).
func (s *Store) CAPool() *x509.CertPool { return s.cur.Load().pool }

// encodePEM is used by the generator.
func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
