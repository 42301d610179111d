package harness

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel SIGKILL a node if the harness dies
// without cleaning up (for example when it is itself SIGKILLed).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
