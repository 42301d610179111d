package harness

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr starts a node in a process group of its own, so that a
// node that is a wrapper script (sh running the real binary, tee, …) is
// killed, paused and stopped whole, and makes the kernel SIGKILL the
// node if the harness dies without cleaning up (for example when it is
// itself SIGKILLed).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalNode sends sig to the node's whole process group.
func signalNode(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig) // the group is gone; the leader may not be reaped yet
	}
}
