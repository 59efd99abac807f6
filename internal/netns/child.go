package netns

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Environment variables that carry a child's role and arguments.
const (
	roleEnv = "RALLYPOINT_NETNS_ROLE"
	argsEnv = "RALLYPOINT_NETNS_ARGS"
)

// ErrTimeout is returned by Child.Next and Child.WaitFor when no matching
// line arrived in time.
var ErrTimeout = errors.New("netns: timed out waiting for child output")

// ErrExited is returned by Child.Next and Child.WaitFor when the child closed
// its output (it exited) before a matching line arrived.
var ErrExited = errors.New("netns: child exited")

// ChildRole reports whether this process is a child started by
// NS.StartChild, and if so its role and arguments. Call it first in
// TestMain.
func ChildRole() (role string, args []string, ok bool) {
	role = os.Getenv(roleEnv)
	if role == "" {
		return "", nil, false
	}
	_ = json.Unmarshal([]byte(os.Getenv(argsEnv)), &args)
	return role, args, true
}

// Line is one line a child wrote to its standard output.
type Line struct {
	// Text is the line without its newline.
	Text string
	// At is when the parent read it.
	At time.Time
}

// Child is a process running inside a namespace: a copy of the test binary
// (NS.StartChild) or any program (NS.StartProcess).
type Child struct {
	// Role is the role the child was started with.
	Role string

	cmd   *osexec.Cmd
	stdin io.WriteCloser
	lines chan Line

	mu     sync.Mutex
	stderr bytes.Buffer

	waitOnce sync.Once
	waitErr  error
	done     chan struct{}
}

// StartChild starts the test binary inside ns with role and args (see
// ChildRole). The child runs no tests: -test.run=^$ is passed, and TestMain
// is expected to dispatch on ChildRole. The child is killed when the test
// ends if it is still running.
func (ns *NS) StartChild(role string, args ...string) *Child {
	l := ns.lab
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatalf("netns: test binary: %v", err)
	}
	enc, _ := json.Marshal(args)
	return ns.start(role, []string{roleEnv + "=" + role, argsEnv + "=" + string(enc)}, exe, "-test.run=^$")
}

// StartProcess starts the program name with args inside ns, with env added to
// the test's environment, and returns it as a Child named after the program:
// its output lines arrive through Next and WaitFor. It is killed when the
// test ends if it is still running.
func (ns *NS) StartProcess(env []string, name string, args ...string) *Child {
	ns.lab.t.Helper()
	return ns.start(name, env, name, args...)
}

func (ns *NS) start(role string, env []string, name string, args ...string) *Child {
	l := ns.lab
	l.t.Helper()
	cmd := ns.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	c := &Child{Role: role, cmd: cmd, lines: make(chan Line, 256), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{c: c}
	out, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatalf("netns: child stdout: %v", err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		l.t.Fatalf("netns: child stdin: %v", err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("netns: start %s: %v", role, err)
	}
	l.mu.Lock()
	l.children = append(l.children, c)
	l.mu.Unlock()
	// The reader ends when the child's stdout closes, that is when it exits
	// (Lab cleanup kills it at the latest).
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case c.lines <- Line{Text: sc.Text(), At: time.Now()}:
			case <-c.done: // nobody will read any more
				return
			}
		}
	}()
	return c
}

// Stderr returns what the child wrote to its standard error so far (at most
// 1 MiB).
func (c *Child) Stderr() string { return c.stderrString() }

// Send writes line (a newline is added) to the child's standard input.
func (c *Child) Send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// Next returns the next line the child writes, waiting at most timeout.
func (c *Child) Next(timeout time.Duration) (Line, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return Line{}, fmt.Errorf("%w (%s): %s", ErrExited, c.Role, c.stderrTail())
		}
		return l, nil
	case <-t.C:
		return Line{}, fmt.Errorf("%w (%s, %v)", ErrTimeout, c.Role, timeout)
	}
}

// WaitFor skips lines until one satisfies match, waiting at most timeout in
// all, and returns it.
func (c *Child) WaitFor(timeout time.Duration, match func(string) bool) (Line, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.Next(time.Until(deadline))
		if err != nil {
			return l, err
		}
		if match(l.Text) {
			return l, nil
		}
	}
}

// Signal sends sig to the child.
func (c *Child) Signal(sig os.Signal) error {
	return c.cmd.Process.Signal(sig)
}

// Kill kills the child with SIGKILL (no cleanup, no goodbye) and waits for it
// to exit.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait()
}

// Wait closes the child's standard input and waits for it to exit.
func (c *Child) Wait() error {
	_ = c.stdin.Close()
	return c.wait()
}

func (c *Child) wait() error {
	c.waitOnce.Do(func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	})
	<-c.done
	return c.waitErr
}

func (c *Child) stderrString() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

func (c *Child) stderrTail() string {
	s := strings.TrimSpace(c.stderrString())
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

type lockedWriter struct{ c *Child }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.stderr.Len() > 1<<20 {
		return len(p), nil
	}
	return w.c.stderr.Write(p)
}
