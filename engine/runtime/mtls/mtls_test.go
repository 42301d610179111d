package mtls

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestWriteDevRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteDev(dir, DevOptions{Nodes: []uint64{1}, Clients: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDev(dir, DevOptions{Nodes: []uint64{1}}); err == nil {
		t.Fatal("overwrote an existing PKI without Force")
	}
	st, err := os.Stat(NodeFiles(dir, 1).Key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", st.Mode(), err)
	}
	s, err := Load(ClientFiles(dir, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	if id := s.Identity(); id.Client != "ops" || id.Node != 0 {
		t.Fatalf("client identity %v", id)
	}
	n, err := Load(NodeFiles(dir, 1))
	if err != nil || n.Identity().Node != 1 {
		t.Fatalf("node identity %v %v", n.Identity(), err)
	}
}

// TestWatchReloadsChangedFiles: rewriting the certificate on disk is
// picked up by Watch without a call to Reload.
func TestWatchReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteDev(dir, DevOptions{Nodes: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	s, err := Load(NodeFiles(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 10*time.Millisecond, func(err error) { t.Error(err) })
	ca, err := LoadCA(CAFile(dir), CAKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the mtime move past the first load's
	if _, err := WriteDev(dir, DevOptions{Nodes: []uint64{1}, CA: ca, Force: true, Validity: 1000 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Reloads() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload the rewritten certificate")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
