package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel SIGKILL cmd's process when this process
// dies, so that a killed bench leaves no node or client process behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
