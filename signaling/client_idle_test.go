package signaling

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallProxy forwards TCP connections to a server until stall, after which
// it holds every byte in both directions while keeping the connections
// open: a server that went silent without closing anything.
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	stalled bool
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		stalled := p.stalled
		p.mu.Unlock()
		if stalled {
			_, _ = io.Copy(io.Discard, src) // hold nothing back, deliver nothing
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// TestClientIdleTimeout: with ClientConfig.IdleTimeout a client drops a
// connection whose server went silent (its pings stopped) after that
// long, instead of twice the ping interval plus 10 s.
func TestClientIdleTimeout(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 50 * time.Millisecond})
	p := newStallProxy(t, strings.TrimPrefix(ts.URL, "ws://"))
	url := "ws://" + p.ln.Addr().String()
	short := dialT(t, url, &ClientConfig{DisableReconnect: true, IdleTimeout: 400 * time.Millisecond})
	long := dialT(t, url, &ClientConfig{DisableReconnect: true})
	shortEv, longEv := short.Events(), long.Events()
	// Pings keep both connections.
	for _, c := range []*Client{short, long} {
		if _, err := c.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	p.stall()
	at := time.Now()
	select {
	case ev := <-shortEv:
		d := time.Since(at)
		if _, ok := ev.(Disconnected); !ok {
			t.Fatalf("got %T, want Disconnected", ev)
		}
		t.Logf("dropped %v after the server went silent", d)
		// 400 ms after the last ping, which came at most 50 ms before
		// the stall; the default would be 10.1 s.
		if d < 300*time.Millisecond || d > 5*time.Second {
			t.Fatalf("dropped %v after the server went silent, want about 400 ms", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the client kept a silent connection")
	}
	select {
	case ev := <-longEv:
		t.Fatalf("a client with the default idle timeout got %T within %v", ev, time.Since(at))
	default:
	}
}
