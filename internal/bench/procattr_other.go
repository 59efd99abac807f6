//go:build !linux

package bench

import "os/exec"

// dieWithParent does nothing here: only Linux kills children with their
// parent.
func dieWithParent(cmd *exec.Cmd) {}

// idleSchedule does nothing here: SCHED_IDLE is Linux's.
func idleSchedule() error { return nil }
