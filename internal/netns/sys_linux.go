package netns

import (
	"os"

	"golang.org/x/sys/unix"
)

// setns switches the calling thread into the network namespace f.
func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// processGone reports whether no process has the id pid.
func processGone(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }

// killPID sends SIGKILL to pid.
func killPID(pid int) { _ = unix.Kill(pid, unix.SIGKILL) }
