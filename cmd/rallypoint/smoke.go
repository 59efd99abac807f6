package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

func init() {
	registerCommand("smoke", "a local server plus a smoke match of two clients", runSmoke)
}

func runSmoke(args []string) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	server := fs.String("server", "", "signaling URL (ws://HOST:PORT/ws) of a running server; empty starts one in process")
	rounds := fs.Int("rounds", 3, "signals sent in each direction")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return smoke(ctx, os.Stdout, *server, *rounds)
}

// smoke runs the smoke match and prints its transcript to out.
func smoke(ctx context.Context, out io.Writer, url string, rounds int) error {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(out, "%9.3f ms  %s\n", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, args...))
	}
	if url == "" {
		sctx, stop := context.WithCancel(context.Background())
		ready := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() {
			done <- serve(sctx, serveConfig{Addr: "127.0.0.1:0"}, func(a net.Addr) { ready <- a })
		}()
		select {
		case a := <-ready:
			url = "ws://" + a.String() + "/ws"
		case err := <-done:
			stop()
			return fmt.Errorf("server: %w", err)
		}
		defer func() {
			stop()
			if err := <-done; err != nil {
				logf("server shutdown: %v", err)
			} else {
				logf("server stopped")
			}
		}()
		logf("server listening at %s", url)
	}
	dial := func(name string) (*signaling.Client, error) {
		t := time.Now()
		c, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: dial: %w", name, err)
		}
		logf("%s connected as %s (%.3f ms)", name, c.ID(), ms(time.Since(t)))
		return c, nil
	}
	alice, err := dial("alice")
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := dial("bob")
	if err != nil {
		return err
	}
	defer bob.Close()
	aev, bev := alice.Events(), bob.Events()

	ra, err := alice.JoinNext(ctx, "smoke", 2)
	if err != nil {
		return fmt.Errorf("alice: join: %w", err)
	}
	logf("alice joined %s (next=2), peers %v", ra.Name, ra.Peers)
	rb, err := bob.JoinNext(ctx, "smoke", 2)
	if err != nil {
		return fmt.Errorf("bob: join: %w", err)
	}
	logf("bob joined %s (next=2), peers %v", rb.Name, rb.Peers)
	if ra.Name != rb.Name {
		return fmt.Errorf("alice and bob landed in different rooms %q and %q", ra.Name, rb.Name)
	}
	if _, err := waitFor(ctx, aev, func(ev signaling.Event) bool {
		pj, ok := ev.(signaling.PeerJoined)
		return ok && pj.Peer == bob.ID()
	}); err != nil {
		return fmt.Errorf("alice: waiting for bob: %w", err)
	}
	logf("alice sees bob join")

	exchange := func(from, to *signaling.Client, fromName, toName string, toEv <-chan signaling.Event, i int) error {
		payload, _ := json.Marshal(map[string]any{"kind": "candidate", "seq": i, "from": fromName})
		t := time.Now()
		if err := from.Signal(ctx, to.ID(), payload); err != nil {
			return fmt.Errorf("%s: signal: %w", fromName, err)
		}
		ev, err := waitFor(ctx, toEv, func(ev signaling.Event) bool { _, ok := ev.(signaling.Signal); return ok })
		if err != nil {
			return fmt.Errorf("%s: waiting for signal: %w", toName, err)
		}
		s := ev.(signaling.Signal)
		if s.From != from.ID() || string(s.Data) != string(payload) {
			return fmt.Errorf("%s got %s from %s, want %s from %s", toName, s.Data, s.From, payload, from.ID())
		}
		logf("%s -> %s %s (%.3f ms)", fromName, toName, s.Data, ms(time.Since(t)))
		return nil
	}
	for i := 1; i <= rounds; i++ {
		if err := exchange(alice, bob, "alice", "bob", bev, i); err != nil {
			return err
		}
		if err := exchange(bob, alice, "bob", "alice", aev, i); err != nil {
			return err
		}
	}
	bobID := bob.ID()
	bob.Close()
	if _, err := waitFor(ctx, aev, func(ev signaling.Event) bool {
		pl, ok := ev.(signaling.PeerLeft)
		return ok && pl.Peer == bobID
	}); err != nil {
		return fmt.Errorf("alice: waiting for bob to leave: %w", err)
	}
	logf("bob closed; alice sees bob leave")
	fmt.Fprintf(out, "smoke OK: %d signals each way in %.1f ms\n", rounds, ms(time.Since(start)))
	return nil
}

func waitFor(ctx context.Context, ch <-chan signaling.Event, match func(signaling.Event) bool) (signaling.Event, error) {
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return nil, signaling.ErrClosed
			}
			if match(ev) {
				return ev, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
