package cluster

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// inprocMaxPending bounds the bytes an inprocConn holds for the server:
// past it, Write waits until the server has taken some, as a full socket
// buffer would make it wait.
const inprocMaxPending = 8 << 20

// inprocProvider gives nats.go in-process connections to the embedded
// server (nats.InProcessServer), each an inprocConn over the server's
// net.Pipe.
type inprocProvider struct{ ns *server.Server }

func (p inprocProvider) InProcessConn() (net.Conn, error) {
	c, err := p.ns.InProcessConn()
	if err != nil {
		return nil, err
	}
	return newInprocConn(c), nil
}

// inprocConn is the node's end of the embedded server's in-process pipe
// with its writes buffered. A net.Pipe write waits until the server's
// reader has taken every byte; nats.go writes while it holds its
// connection's lock, so every publish of the node would wait for that
// hand-off. Here Write only appends to a buffer (bounded by
// inprocMaxPending) and one pump goroutine feeds the pipe, so a publish
// returns at once, as on a socket, and no message between the node and
// its server costs a system call. Reads go to the pipe directly: the
// server's writer waits for nats.go's reader, which is always reading.
//
// Deadlines apply to reads only; a write waits for room in the buffer
// until the connection closes (nats.go's pings notice a server that
// stopped reading and close it). Close closes the pipe and waits for
// the pump.
type inprocConn struct {
	net.Conn

	mu      sync.Mutex
	cond    *sync.Cond // signalled when buf shrinks or the conn fails
	buf     []byte     // bytes not yet handed to the pipe
	err     error      // the pipe failed, or Close
	kick    chan struct{}
	pumpEnd chan struct{}
	once    sync.Once
}

var errInprocClosed = errors.New("cluster: in-process connection closed")

func newInprocConn(c net.Conn) *inprocConn {
	ic := &inprocConn{Conn: c, kick: make(chan struct{}, 1), pumpEnd: make(chan struct{})}
	ic.cond = sync.NewCond(&ic.mu)
	go ic.pump()
	return ic
}

func (c *inprocConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.buf) > 0 && len(c.buf)+len(b) > inprocMaxPending {
		c.cond.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, b...)
	select { // under mu: Close closes kick under mu
	case c.kick <- struct{}{}:
	default:
	}
	c.mu.Unlock()
	return len(b), nil
}

// pump hands the buffered bytes to the pipe, a batch at a time.
func (c *inprocConn) pump() {
	defer close(c.pumpEnd)
	var out []byte
	for range c.kick {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		out, c.buf = c.buf, out[:0]
		c.cond.Broadcast()
		c.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := c.Conn.Write(out); err != nil {
			c.fail(err)
			c.Conn.Close()
			return
		}
	}
}

func (c *inprocConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Close closes the pipe and waits for the pump to end.
func (c *inprocConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = errInprocClosed
		}
		close(c.kick) // a Write sends on kick only under mu, before err is set
		c.cond.Broadcast()
		c.mu.Unlock()
		err = c.Conn.Close() // ends a pump's Write in progress
		<-c.pumpEnd
	})
	return err
}

func (c *inprocConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

func (c *inprocConn) SetWriteDeadline(time.Time) error { return nil }
