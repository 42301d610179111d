package mtls

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DevOptions describes a development PKI (what `raftbench certs` writes).
type DevOptions struct {
	Nodes   []uint64 // node IDs to issue certificates for
	Clients []string // API client names
	// Hosts go into every node certificate (default 127.0.0.1,
	// localhost), for HTTPS clients that check host names.
	Hosts []string
	// Validity of every certificate (default one year), starting an hour
	// ago to absorb clock skew between machines.
	Validity time.Duration
	// Force overwrites existing files; otherwise an existing file is an
	// error and nothing is written.
	Force bool
	// CA, when set, signs the new certificates instead of a new CA (to
	// add a node or re-issue an expired certificate). Its files are not
	// rewritten.
	CA *CA
}

// CAFile and CAKeyFile are the CA certificate and key files in dir.
func CAFile(dir string) string    { return filepath.Join(dir, "ca.pem") }
func CAKeyFile(dir string) string { return filepath.Join(dir, "ca-key.pem") }

// NodeFiles are node id's CA, certificate and key files in dir.
func NodeFiles(dir string, id uint64) Files {
	n := "node-" + strconv.FormatUint(id, 10)
	return Files{CA: CAFile(dir), Cert: filepath.Join(dir, n+".pem"), Key: filepath.Join(dir, n+"-key.pem")}
}

// ClientFiles are client name's CA, certificate and key files in dir.
func ClientFiles(dir, name string) Files {
	n := "client-" + name
	return Files{CA: CAFile(dir), Cert: filepath.Join(dir, n+".pem"), Key: filepath.Join(dir, n+"-key.pem")}
}

// WriteDev writes a CA (unless o.CA is set) and one certificate per node
// and client into dir (created 0700; keys are written 0600). It returns
// the paths written.
func WriteDev(dir string, o DevOptions) ([]string, error) {
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(o.Validity)
	type out struct {
		path string
		data []byte
		mode fs.FileMode
	}
	var outs []out
	ca := o.CA
	if ca == nil {
		var err error
		if ca, err = NewCA("raftbench development CA", notBefore, notAfter.Add(24*time.Hour)); err != nil {
			return nil, err
		}
		kp, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		outs = append(outs, out{CAFile(dir), ca.CertPEM, 0o644}, out{CAKeyFile(dir), kp, 0o600})
	}
	issue := func(id Identity, f Files, hosts []string) error {
		c, k, err := ca.Issue(id, hosts, notBefore, notAfter)
		if err != nil {
			return err
		}
		outs = append(outs, out{f.Cert, c, 0o644}, out{f.Key, k, 0o600})
		return nil
	}
	for _, id := range o.Nodes {
		if id == 0 {
			return nil, errors.New("mtls: node ID 0")
		}
		if err := issue(Identity{Node: id}, NodeFiles(dir, id), o.Hosts); err != nil {
			return nil, err
		}
	}
	for _, name := range o.Clients {
		if name == "" || filepath.Base(name) != name {
			return nil, fmt.Errorf("mtls: bad client name %q", name)
		}
		if err := issue(Identity{Client: name}, ClientFiles(dir, name), nil); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if !o.Force {
		for _, f := range outs {
			if _, err := os.Stat(f.path); err == nil {
				return nil, fmt.Errorf("mtls: %s exists (use --force to overwrite)", f.path)
			}
		}
	}
	var paths []string
	for _, f := range outs {
		// Write then rename, so a watching node never reads half a file.
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return paths, err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			return paths, err
		}
		paths = append(paths, f.path)
	}
	return paths, nil
}
