package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/signaling"
)

// retry calls fn until it succeeds or ctx ends: a cluster service answers
// CodeUnavailable while it elects a leader.
func retry[T any](ctx context.Context, t *testing.T, what string, fn func(ctx context.Context) (T, error)) T {
	t.Helper()
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		v, err := fn(actx)
		cancel()
		if err == nil {
			return v
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var se *signaling.Error
		if errors.As(err, &se) && se.Code != signaling.CodeUnavailable {
			t.Logf("%s: %v (retrying)", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leaderMetrics checks rallypoint_service_leader{service} on every node:
// 1 on the node called leader, 0 on the others.
func leaderMetrics(t *testing.T, nodes []*clusterNode, service, leader string) error {
	t.Helper()
	for _, n := range nodes {
		fams := scrape(t, "http"+strings.TrimPrefix(strings.TrimSuffix(n.url, "/ws"), "ws"))
		want := 0.0
		if n.name == leader {
			want = 1
		}
		if got := value(t, fams, "rallypoint_service_leader", "service", service); got != want {
			return fmt.Errorf("node %s: rallypoint_service_leader{service=%q} %v, want %v (leader %s)", n.name, service, got, want, leader)
		}
	}
	return nil
}

func lobbyOn(t *testing.T, url string, more ...string) *lobby.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := lobby.Dial(ctx, url, &lobby.ClientConfig{Signaling: &signaling.ClientConfig{URLs: more,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mmOn(t *testing.T, url string, more ...string) *mmclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := mmclient.Dial(ctx, url, &mmclient.Config{Signaling: &signaling.ClientConfig{URLs: more,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextLobbyEvent waits for an event of type T from a lobby client.
func nextLobbyEvent[T lobby.Event](t *testing.T, c *lobby.Client, within time.Duration, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-c.Events():
			if e, is := ev.(T); is && (ok == nil || ok(e)) {
				return e
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %v", zero, within)
			return zero
		}
	}
}

func memberIDs(st lobby.State) []string {
	var ids []string
	for _, m := range st.Members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestServeClusterServices runs three `rallypoint serve` processes as one
// cluster: a lobby made on one node is listed, joined, chatted in and
// started from the others; a restarted member takes its seat back on
// another node with its rejoin ticket; two players on different nodes are matched in
// one 1v1 pool; and when the node leading the lobbies and the pool is
// SIGKILLed, another node takes both over: the lobby's members are still
// in it and a ticket that waited is matched.
func TestServeClusterServices(t *testing.T) {
	nodes := startClusterProcs(t, 3, "-resume-grace", "20s")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	index := func(name string) int {
		for i, n := range nodes {
			if n.name == name {
				return i
			}
		}
		return -1
	}
	// Both services have a leader once the cluster has formed.
	lead := retry(ctx, t, "leaders", func(context.Context) (int, error) {
		l, m := healthField(t, nodes[0], "lobby_leader"), healthField(t, nodes[0], "mm_leader")
		if index(l) < 0 || index(m) < 0 {
			return 0, errors.New("no leader yet")
		}
		return index(l), nil
	})
	t.Logf("lobby leader %s, matchmaker leader %s", nodes[lead].name, healthField(t, nodes[0], "mm_leader"))
	// Each node's /metrics says whether it leads each service: exactly
	// the node /healthz names.
	for _, svc := range []string{"lobby", "mm"} {
		retry(ctx, t, svc+" leader metric", func(context.Context) (bool, error) {
			return true, leaderMetrics(t, nodes, svc, healthField(t, nodes[0], svc+"_leader"))
		})
	}

	t.Run("LobbyAcrossNodes", func(t *testing.T) {
		host := lobbyOn(t, nodes[0].url)
		b := lobbyOn(t, nodes[1].url)
		c := lobbyOn(t, nodes[2].url)
		st := retry(ctx, t, "create", func(ctx context.Context) (lobby.State, error) {
			return host.Create(ctx, lobby.CreateData{Name: "across", Game: "cluster-test"})
		})
		game := "cluster-test"
		list := retry(ctx, t, "list", func(ctx context.Context) (lobby.ListReply, error) {
			return b.List(ctx, lobby.ListData{Filters: []lobby.Filter{{Key: "game", Eq: &game}}})
		})
		if len(list.Lobbies) != 1 || list.Lobbies[0].ID != st.ID {
			t.Fatalf("node 1 lists %+v, want lobby %s", list.Lobbies, st.ID)
		}
		if _, err := b.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		joined, err := c.JoinByCode(ctx, st.Code, lobby.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{c.ID(), b.ID(), host.ID()}; !slices.Equal(memberIDs(joined), slices.Sorted(slices.Values(want))) {
			t.Fatalf("members %v, want %v", memberIDs(joined), want)
		}
		if _, err := b.Chat(ctx, "hello from node 1"); err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*lobby.Client{host, c} {
			m := nextLobbyEvent(t, cl, 10*time.Second, func(e lobby.ChatReceived) bool { return e.Message.Text == "hello from node 1" })
			if m.Message.From != b.ID() {
				t.Fatalf("chat from %q, want %q", m.Message.From, b.ID())
			}
		}
		for _, cl := range []*lobby.Client{b, c} {
			if err := cl.SetReady(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		sess, err := host.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Every member, whatever its node, is in the session's signaling
		// room when it learns of the start (its joined came first).
		for _, cl := range []*lobby.Client{host, b, c} {
			s := nextLobbyEvent[lobby.Started](t, cl, 10*time.Second, nil)
			if s.Session.ID != sess.ID || len(s.Session.Peers) != 3 {
				t.Fatalf("started %+v, want %+v", s.Session, sess)
			}
			if r := cl.Signaling().Room(); r != sess.ID {
				t.Fatalf("%s is in room %q at the start, want %q", cl.ID(), r, sess.ID)
			}
		}
	})

	t.Run("RejoinAcrossNodes", func(t *testing.T) {
		// A started lobby's member restarts (a new process, a new peer
		// id) on another node and takes its seat back with its ticket.
		host := lobbyOn(t, nodes[0].url)
		b := lobbyOn(t, nodes[1].url)
		st, err := host.Create(ctx, lobby.CreateData{Name: "rejoin", Private: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetReady(ctx, true); err != nil {
			t.Fatal(err)
		}
		sess, err := host.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nextLobbyEvent[lobby.Started](t, b, 10*time.Second, nil)
		ticket := b.Signaling().RejoinTicket()
		if ticket == "" {
			t.Fatal("no rejoin ticket from a cluster node")
		}
		b2 := lobbyOn(t, nodes[2].url)
		got, roster, err := b2.Rejoin(ctx, ticket, lobby.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Session == nil || got.Session.ID != sess.ID || !slices.Contains(got.Session.Peers, b2.ID()) ||
			slices.Contains(got.Session.Peers, b.ID()) || string(roster.Self) != b2.ID() {
			t.Fatalf("rejoined %+v (roster self %s), want session %s with %s for %s", got.Session, roster.Self, sess.ID, b2.ID(), b.ID())
		}
		if r := b2.Signaling().Room(); r != sess.ID {
			t.Fatalf("rejoined client in room %q, want %q", r, sess.ID)
		}
	})

	t.Run("QuickMatchAcrossNodes", func(t *testing.T) {
		p := mmOn(t, nodes[1].url)
		q := mmOn(t, nodes[2].url)
		var wg sync.WaitGroup
		got := make([]mmclient.Matched, 2)
		roomAtMatch := make([]string, 2)
		for i, c := range []*mmclient.Client{p, q} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := c.Match(ctx, mmclient.Ticket{Queue: "1v1"})
				if err != nil {
					t.Error(err)
				}
				got[i], roomAtMatch[i] = m, c.Signaling().Room()
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if got[0].Session == "" || got[0].Session != got[1].Session {
			t.Fatalf("matched into sessions %q and %q", got[0].Session, got[1].Session)
		}
		// Both are in the match's room when they learn of it.
		for i, c := range []*mmclient.Client{p, q} {
			if r := roomAtMatch[i]; r != got[0].Room {
				t.Fatalf("%s was in room %q when matched, want %q", c.Signaling().ID(), r, got[0].Room)
			}
		}
	})

	t.Run("LeaderKilled", func(t *testing.T) {
		// Members on each node; the one on the leader's node knows
		// another node's address and moves there.
		other := (lead + 1) % 3
		host := lobbyOn(t, nodes[other].url)
		m2 := lobbyOn(t, nodes[(lead+2)%3].url)
		m3 := lobbyOn(t, nodes[lead].url, nodes[other].url)
		st := retry(ctx, t, "create", func(ctx context.Context) (lobby.State, error) {
			return host.Create(ctx, lobby.CreateData{Name: "survivor", Private: true})
		})
		for _, cl := range []*lobby.Client{m2, m3} {
			if _, err := cl.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		want := slices.Sorted(slices.Values([]string{host.ID(), m2.ID(), m3.ID()}))
		// A ticket waits in the 1v1 pool.
		waiter := mmOn(t, nodes[other].url)
		enqueuedAt := time.Now()
		if _, err := waiter.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"}); err != nil {
			t.Fatal(err)
		}
		enqueued := time.Now()
		mmLeader := healthField(t, nodes[other], "mm_leader")
		// Let the records reach the store before the leader dies.
		retry(ctx, t, "records stored", func(ctx context.Context) (bool, error) {
			s, err := host.Sync(ctx)
			if err != nil || len(s.Members) != 3 {
				return false, errors.New("not yet")
			}
			return true, nil
		})
		// The leader writes its records behind: wait until they are all out.
		retry(ctx, t, "records written", func(context.Context) (bool, error) {
			if healthField(t, nodes[lead], "svc_pending") != "0" {
				return false, errors.New("records pending")
			}
			return true, nil
		})

		killed := time.Now()
		if err := nodes[lead].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		newLead := retry(ctx, t, "new lobby leader", func(context.Context) (string, error) {
			l := healthField(t, nodes[other], "lobby_leader")
			if l == "" || l == nodes[lead].name {
				return "", errors.New("no new leader yet")
			}
			return l, nil
		})
		t.Logf("lobbies led by %s %v after SIGKILL", newLead, time.Since(killed))
		for _, cl := range []*lobby.Client{host, m2, m3} {
			s := retry(ctx, t, "sync after failover", func(ctx context.Context) (lobby.State, error) {
				return cl.Sync(ctx)
			})
			if s.ID != st.ID || !slices.Equal(memberIDs(s), want) {
				t.Fatalf("%s after failover: lobby %s members %v, want %s %v", cl.ID(), s.ID, memberIDs(s), st.ID, want)
			}
		}
		t.Logf("members in their lobby %v after SIGKILL", time.Since(killed))
		// The new leader serves: its /metrics says so, the others' not.
		retry(ctx, t, "lobby leader metric after failover", func(context.Context) (bool, error) {
			return true, leaderMetrics(t, slices.Delete(slices.Clone(nodes), lead, lead+1), "lobby", healthField(t, nodes[other], "lobby_leader"))
		})
		retry(ctx, t, "chat after failover", func(ctx context.Context) (lobby.ChatMessage, error) {
			return m2.Chat(ctx, "still here")
		})
		for _, cl := range []*lobby.Client{host, m3} {
			nextLobbyEvent(t, cl, 15*time.Second, func(e lobby.ChatReceived) bool { return e.Message.Text == "still here" })
		}
		if mmLeader != nodes[lead].name {
			t.Logf("the pool was led by %s, not the killed node: its failover is not tested here", mmLeader)
			return
		}
		// The waiting ticket was put back in the pool by the new leader
		// with its wait: it counts from the enqueue, not the takeover.
		var asked time.Time
		ws := retry(ctx, t, "status after failover", func(ctx context.Context) (mmclient.Status, error) {
			asked = time.Now()
			return waiter.Status(ctx)
		})
		if low, high := asked.Sub(enqueued), time.Since(enqueuedAt); ws.Waited < low || ws.Waited > high {
			t.Fatalf("ticket after failover: waited %v, want %v to %v (since its enqueue, %v before the kill)", ws.Waited, low, high, killed.Sub(enqueued))
		}
		t.Logf("ticket after failover: waited %v (enqueued %v before the kill)", ws.Waited.Round(time.Millisecond), killed.Sub(enqueued).Round(time.Millisecond))
		// A newcomer on another node is matched with it.
		late := mmOn(t, nodes[(lead+2)%3].url)
		m := retry(ctx, t, "match after failover", func(ctx context.Context) (mmclient.Matched, error) {
			return late.Match(ctx, mmclient.Ticket{Queue: "1v1"})
		})
		wm, err := waiter.WaitMatched(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if wm.Session != m.Session {
			t.Fatalf("waiter matched into %q, newcomer into %q", wm.Session, m.Session)
		}
		t.Logf("ticket from before the failover matched %v after SIGKILL", time.Since(killed))
	})
}
