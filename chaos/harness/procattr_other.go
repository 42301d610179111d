//go:build !linux

package harness

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr: only Linux can tie a child's life to its parent's.
func setProcAttr(cmd *exec.Cmd) {}

// signalNode signals the node process itself.
func signalNode(p *os.Process, sig syscall.Signal) { _ = p.Signal(sig) }
