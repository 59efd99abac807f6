package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// dieWithParent makes the kernel SIGKILL cmd's process when this process
// dies, so that a killed bench leaves no node or client process behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// idleSchedule puts every thread of this process under SCHED_IDLE: the
// kernel runs them only on a core that nothing else wants, and a thread
// of another process that wakes up takes the core from them at once.
// Threads started later inherit the policy from the thread that starts
// them, and every thread has it by then.
func idleSchedule() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0); err != nil {
			return fmt.Errorf("sched_setattr of thread %d: %w", tid, err)
		}
	}
	return nil
}
