//go:build !linux

package harness

import "os/exec"

// setProcAttr: only Linux can tie a child's life to its parent's.
func setProcAttr(cmd *exec.Cmd) {}
