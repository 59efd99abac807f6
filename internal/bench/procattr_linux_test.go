package bench

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A child process puts itself under SCHED_IDLE, starts more threads, and
// reports every thread's policy: all of them must be idle.
func TestIdleScheduleCoversEveryThread(t *testing.T) {
	if os.Getenv("RP_IDLE_SCHEDULE_CHILD") != "" {
		if err := idleSchedule(); err != nil {
			t.Fatal(err)
		}
		// New threads: goroutines blocked in system calls need more Ms.
		done := make(chan struct{})
		for range 8 {
			go func() {
				var ts unix.Timespec
				ts.Nsec = 50_000_000
				unix.Nanosleep(&ts, nil)
				done <- struct{}{}
			}()
		}
		for range 8 {
			<-done
		}
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			a, err := unix.SchedGetAttr(tid, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.Itoa(int(a.Policy)))
		}
		os.Stdout.WriteString("policies " + strings.Join(out, " ") + "\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleScheduleCoversEveryThread$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RP_IDLE_SCHEDULE_CHILD=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "policies ") {
			line = l
		}
	}
	f := strings.Fields(strings.TrimPrefix(line, "policies "))
	if len(f) < 2 {
		t.Fatalf("child reported %q (want several threads)\n%s", line, b)
	}
	for _, p := range f {
		if p != strconv.Itoa(unix.SCHED_IDLE) {
			t.Fatalf("a thread has policy %s, want SCHED_IDLE (%d): %s", p, unix.SCHED_IDLE, line)
		}
	}
	t.Logf("%d threads, all SCHED_IDLE", len(f))
}
