package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A write returns before the server side has read it, and the bytes
// arrive in order.
func TestInprocConnWriteDoesNotWaitForReader(t *testing.T) {
	srv, cli := net.Pipe()
	c := newInprocConn(cli)
	defer srv.Close()
	defer c.Close()
	var want []byte
	done := make(chan error, 1)
	go func() {
		for i := range 100 {
			msg := []byte{'m', byte(i), '\n'}
			if _, err := c.Write(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range 100 {
		want = append(want, 'm', byte(i), '\n')
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes waited for the reader")
	}
	got := make([]byte, len(want))
	srv.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Writes past the bound wait for the reader; Close ends such a wait with
// an error and stops the pump.
func TestInprocConnBoundAndClose(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	c := newInprocConn(cli)
	chunk := make([]byte, inprocMaxPending)
	done := make(chan error, 1)
	go func() {
		// The pump holds one chunk in its pipe write, the buffer the
		// next; the third cannot fit.
		for range 3 {
			if _, err := c.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Read one byte: the pump is then in its pipe write, and the writer
	// goroutine past its first chunk at least.
	srv.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(srv, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	// Wait for the second chunk to be buffered: the third then waits.
	for deadline := time.Now().Add(30 * time.Second); ; {
		c.mu.Lock()
		n := len(c.buf)
		c.mu.Unlock()
		if n == inprocMaxPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buffered %d bytes, want %d", n, inprocMaxPending)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the third chunk did not wait for room (%v)", err)
	default:
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, errInprocClosed) {
			t.Fatalf("write after close: %v, want %v", err, errInprocClosed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write waiting for room did not end with Close")
	}
	select {
	case <-c.pumpEnd:
	default:
		t.Fatal("Close returned before the pump ended")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, errInprocClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// When the server's side of the pipe closes, the pump ends and writes
// fail.
func TestInprocConnPeerClosed(t *testing.T) {
	srv, cli := net.Pipe()
	c := newInprocConn(cli)
	defer c.Close()
	srv.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("first write: %v (it is only buffered)", err)
	}
	select {
	case <-c.pumpEnd:
	case <-time.After(30 * time.Second):
		t.Fatal("the pump did not end when the pipe closed")
	}
	if _, err := c.Write([]byte("y")); err == nil {
		t.Fatal("write to a closed pipe succeeded")
	}
}

// When the embedded server drops the node's in-process connection, nats.go
// dials a new one through the provider and node messages flow again.
func TestNodeInprocReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{Name: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := make(chan string, 16)
	n.Receive(func(b []byte) {
		select {
		case got <- string(b):
		default:
		}
	})
	// until sends msg to this node until it arrives.
	until := func(msg string) {
		t.Helper()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			n.Send("solo", []byte(msg))
			select {
			case m := <-got:
				if m == msg {
					return
				}
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%q never arrived", msg)
			}
		}
	}
	until("before")
	cid, err := n.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.ns.DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	for n.nc.Stats().Reconnects == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the node's connection never reconnected")
		case <-time.After(20 * time.Millisecond):
		}
	}
	until("after")
}
