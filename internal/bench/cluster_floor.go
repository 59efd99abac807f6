package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// The loopback floor of bench cluster: the same pairs, rate and turns as
// the relay across nodes, through two forwarder processes (copies of
// this binary with clusterForwarderEnv set to the address they forward
// to) that pass fixed-size frames from one TCP connection to the next and
// do nothing else. A cross-node relay wakes three processes in turn (the
// sender's node, the target's node, the receiving client); so does this
// path, without WebSocket, JSON, NATS or any routing. What the machine's
// scheduling costs such a path, this measures in the same run: the
// relay's tail above it is the cluster's.
const clusterForwarderEnv = "RALLYPOINT_BENCH_CLUSTER_FORWARDER"

// floorFrame is the size of a floor frame: about a relayed signal's
// envelope. Its first 8 bytes are the send time (Unix ns, little endian).
const floorFrame = 128

type loopbackFloor struct {
	fwds  []*clusterClientProc // the forwarders, first the one the senders dial
	ln    net.Listener         // the receiving end, in this process
	conns []net.Conn           // the senders' connections

	mu      sync.Mutex
	samples []float64 // µs
	wg      sync.WaitGroup
}

// newLoopbackFloor starts the two forwarders with GOMAXPROCS goProcs (0:
// the runtime's default) and connects pairs senders through them.
func newLoopbackFloor(ctx context.Context, pairs, goProcs int) (*loopbackFloor, error) {
	f := &loopbackFloor{}
	if err := f.start(ctx, pairs, goProcs); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *loopbackFloor) start(ctx context.Context, pairs, goProcs int) error {
	var err error
	if f.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return err
	}
	f.wg.Add(1)
	go f.accept()
	next := f.ln.Addr().String()
	for range 2 {
		p, err := startClusterChild(goProcs, clusterForwarderEnv+"="+next)
		if err != nil {
			return err
		}
		f.fwds = append([]*clusterClientProc{p}, f.fwds...)
		line, err := p.out.ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
		if err != nil || !ok {
			return fmt.Errorf("forwarder did not start: %q %v", line, err)
		}
		next = addr
	}
	frame := make([]byte, floorFrame)
	for range pairs {
		c, err := net.Dial("tcp", next)
		if err != nil {
			return err
		}
		f.conns = append(f.conns, c)
		// One frame through each path, before any measurement: the
		// forwarders dial the next hop when they accept.
		if _, err := c.Write(frame); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		f.mu.Lock()
		n := len(f.samples)
		f.mu.Unlock()
		if n == pairs {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("loopback floor: %d of %d first frames came through", n, pairs)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *loopbackFloor) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			r := bufio.NewReader(c)
			b := make([]byte, floorFrame)
			for {
				if _, err := io.ReadFull(r, b); err != nil {
					return
				}
				now := time.Now().UnixNano()
				t := int64(binary.LittleEndian.Uint64(b))
				f.mu.Lock()
				f.samples = append(f.samples, float64(now-t)/1e3)
				f.mu.Unlock()
			}
		}()
	}
}

// run sends frames paced at rate over all pairs for dur, as the relay
// meters do, and returns the latencies (µs), the frames sent and the time
// taken.
func (f *loopbackFloor) run(ctx context.Context, rate float64, dur time.Duration) ([]float64, int, time.Duration) {
	f.mu.Lock()
	f.samples = f.samples[:0]
	f.mu.Unlock()
	bufs := make([][]byte, len(f.conns))
	for i := range bufs {
		bufs[i] = make([]byte, floorFrame)
	}
	sent, elapsed := pace(ctx, len(f.conns), rate, dur, func(i int) bool {
		binary.LittleEndian.PutUint64(bufs[i], uint64(time.Now().UnixNano()))
		_, err := f.conns[i].Write(bufs[i])
		return err == nil
	})
	time.Sleep(200 * time.Millisecond) // let the last frames land
	f.mu.Lock()
	s := slices.Clone(f.samples)
	f.mu.Unlock()
	return s, sent, elapsed
}

func (f *loopbackFloor) close() {
	for _, c := range f.conns {
		c.Close()
	}
	for _, p := range f.fwds {
		p.stop()
	}
	if f.ln != nil {
		f.ln.Close()
	}
	f.wg.Wait()
}

// clusterForwarderChild is a forwarder process: it prints "addr HOST:PORT"
// and, for each connection it accepts, dials next and copies what it
// reads there as it comes, until its stdin closes.
func clusterForwarderChild(next string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	fmt.Println("addr " + ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			o, err := net.Dial("tcp", next)
			if err != nil {
				return
			}
			defer o.Close()
			// A plain read and write loop: io.Copy between two TCP
			// connections would splice through a pipe in the kernel.
			b := make([]byte, 4*floorFrame)
			for {
				n, err := c.Read(b)
				if n > 0 {
					if _, werr := o.Write(b[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
