package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// damonStates matches the state files of the kernel's DAMON monitors
// (kdamond threads) configured through sysfs.
var damonStates = "/sys/kernel/mm/damon/admin/kdamonds/*/state"

// damonRunning returns the state files of the DAMON monitors that run
// now. A DAMON monitor of physical memory (the paddr operations, as used
// for proactive reclaim on virtual machines) samples pages of every
// process and clears their accessed bits, which flushes TLB entries of
// the processes that map them; on the machine these figures come from it
// doubled the share of cross-node relays over 2 ms (docs/operations.md).
func damonRunning() []string {
	files, _ := filepath.Glob(damonStates)
	var on []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "on" {
			on = append(on, f)
		}
	}
	return on
}

// pauseDAMON turns the running DAMON monitors off (root only) and returns
// how many it paused and a function that turns them on again. The kernel
// refuses "on" while a monitor is still stopping, so resume retries for up
// to 10 s.
func pauseDAMON() (int, func() error, error) {
	on := damonRunning()
	var paused []string
	resume := func() error {
		var errs []string
		for _, f := range paused {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for {
				err := os.WriteFile(f, []byte("on"), 0)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", f, err))
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
			cancel()
		}
		if len(errs) > 0 {
			return fmt.Errorf("DAMON not resumed: %s", strings.Join(errs, "; "))
		}
		return nil
	}
	for _, f := range on {
		if err := os.WriteFile(f, []byte("off"), 0); err != nil {
			rerr := resume()
			if rerr != nil {
				return 0, nil, fmt.Errorf("pausing DAMON: %s: %w (%v)", f, err, rerr)
			}
			return 0, nil, fmt.Errorf("pausing DAMON: %s: %w", f, err)
		}
		paused = append(paused, f)
	}
	return len(paused), resume, nil
}
