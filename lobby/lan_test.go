package lobby_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// The LAN tests run a hosting player, joining players and a bare browser
// as separate processes in network namespaces joined by a bridge, with no
// server and no route out.

// childArgs is what the parent passes to a child, as JSON.
type childArgs struct {
	Name    string // host: lobby name
	Game    string
	Players int           // host: start once this many members are ready
	Nick    string        // player: member metadata
	IPv6    bool          // player: join through the IPv6 address
	TTL     time.Duration // host: DNS-SD HostTTL (zero: the default)
	Pass    string        // host: lobby password
	NoStart bool          // host: never start
	Migrate bool          // matchlan: LANMatchConfig.Migrate
}

// report is one line a child prints.
type report struct {
	What    string // hosted, event, found, joined, chat, started, connected, closed, error
	At      int64
	Text    string          `json:",omitempty"`
	Lobby   *lobby.LANLobby `json:",omitempty"`
	Kind    string          `json:",omitempty"`
	Session string          `json:",omitempty"`
	Peers   int             `json:",omitempty"`
}

func say(r report) {
	if r.At == 0 {
		r.At = time.Now().UnixNano()
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func runChild(role string, args []string) int {
	var a childArgs
	if len(args) > 0 {
		_ = json.Unmarshal([]byte(args[0]), &a)
	}
	var err error
	switch role {
	case "host":
		err = childHost(a)
	case "player":
		err = childPlayer(a)
	case "watch":
		err = childWatch()
	case "early":
		err = childEarlyJoin()
	case "member":
		err = childMember(a)
	case "matchlan":
		err = childMatchLAN(a)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		say(report{What: "error", Text: err.Error()})
		return 1
	}
	return 0
}

func childCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// childMesh connects a mesh in the session's room and reports it.
func childMesh(ctx context.Context, c *lobby.Client, want int) (*mesh.Mesh, error) {
	m, err := mesh.New(c.Signaling(), mesh.Config{})
	if err != nil {
		return nil, err
	}
	if err := m.WaitConnected(ctx, want); err != nil {
		m.Close()
		return nil, err
	}
	say(report{What: "connected", Peers: len(m.Connected())})
	return m, nil
}

// childHost hosts a LAN lobby, reports chat, starts once a.Players members
// are ready and connects the mesh; "close" on stdin closes the host (with
// goodbyes) at any time.
func childHost(a childArgs) error {
	ctx, cancel := childCtx()
	defer cancel()
	h, err := lobby.NewHost(ctx, lobby.HostConfig{Lobby: lobby.CreateData{Name: a.Name, Game: a.Game, MaxMembers: a.Players, Password: a.Pass},
		LAN: lobby.LANConfig{HostName: "lobby-host", HostTTL: a.TTL}, ExtraTXT: []string{"seed=42", "players=99"}})
	if err != nil {
		return err
	}
	defer h.Close()
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	say(report{What: "hosted", Text: h.Instance()})
	c := h.Client()
	for {
		select {
		case cmd, ok := <-cmds:
			if !ok {
				return nil
			}
			if cmd == "close" {
				at := time.Now()
				h.Close()
				say(report{What: "closed", At: at.UnixNano()})
				return nil
			}
		case ev, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("events closed")
			}
			switch ev := ev.(type) {
			case lobby.ChatReceived:
				say(report{What: "chat", Text: ev.Message.Text})
			case lobby.StateChanged:
				ready := 0
				for _, m := range ev.State.Members[1:] {
					if m.Ready {
						ready++
					}
				}
				say(report{What: "members", Peers: len(ev.State.Members), Text: fmt.Sprint(ready)})
				if !a.NoStart && ev.State.Session == nil && len(ev.State.Members) == a.Players && ready == a.Players-1 {
					if _, err := c.Start(ctx); err != nil {
						return err
					}
				}
			case lobby.Started:
				say(report{What: "started", Session: ev.Session.ID, Peers: len(ev.Session.Peers)})
				m, err := childMesh(ctx, c, a.Players-1)
				if err != nil {
					return err
				}
				defer m.Close()
			}
		}
	}
}

// childPlayer finds the lobby by browsing, joins it, chats, readies up and
// connects the mesh when the host starts.
func childPlayer(a childArgs) error {
	ctx, cancel := childCtx()
	defer cancel()
	b, err := lobby.Browse(ctx, lobby.BrowseConfig{Game: a.Game})
	if err != nil {
		return err
	}
	defer b.Close()
	var found lobby.LANLobby
	for ev := range b.Events() {
		if ev.Kind == lobby.LANAdded {
			found = ev.Lobby
			break
		}
	}
	if found.ID == "" {
		return fmt.Errorf("no lobby found: %v", ctx.Err())
	}
	url := found.URL
	if a.IPv6 {
		url = ""
		for _, ap := range found.Addrs {
			if ap.Addr().Is6() && !ap.Addr().IsLinkLocalUnicast() {
				url = found.URLFor(ap)
				break
			}
		}
		if url == "" {
			return fmt.Errorf("no routable IPv6 address in %v", found.Addrs)
		}
	}
	say(report{What: "found", Lobby: &found, Text: url})
	c, err := lobby.Dial(ctx, url, &lobby.ClientConfig{Signaling: &signaling.ClientConfig{DisableReconnect: true}})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Join(ctx, found.ID, lobby.JoinOptions{Member: map[string]string{"nick": a.Nick}}); err != nil {
		return err
	}
	say(report{What: "joined"})
	if _, err := c.Chat(ctx, "hi from "+a.Nick); err != nil {
		return err
	}
	if err := c.SetReady(ctx, true); err != nil {
		return err
	}
	for ev := range c.Events() {
		if s, ok := ev.(lobby.Started); ok {
			say(report{What: "started", Session: s.Session.ID, Peers: len(s.Session.Peers)})
			m, err := childMesh(ctx, c, len(s.Session.Peers)-1)
			if err != nil {
				return err
			}
			defer m.Close()
			_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until the parent ends
			return nil
		}
	}
	return fmt.Errorf("events closed before start")
}

// childWatch reports every LAN lobby event until stdin closes.
func childWatch() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := lobby.Browse(ctx, lobby.BrowseConfig{})
	if err != nil {
		return err
	}
	defer b.Close()
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		cancel()
	}()
	say(report{What: "ready"})
	for ev := range b.Events() {
		l := ev.Lobby
		say(report{What: "event", Kind: ev.Kind.String(), Lobby: &l})
	}
	return nil
}

func start(ns *netns.NS, role string, a childArgs) *netns.Child {
	b, _ := json.Marshal(a)
	return ns.StartChild(role, string(b))
}

// await returns the child's next report of kind what (skipping others),
// failing on an error report or after timeout.
func await(t *testing.T, c *netns.Child, what string, timeout time.Duration, ok func(report) bool) report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v\n%s", c.Role, what, err, c.Stderr())
		}
		var r report
		if json.Unmarshal([]byte(l.Text), &r) != nil {
			continue // test framework chatter
		}
		if r.What == "error" {
			t.Fatalf("%s failed: %s\n%s", c.Role, r.Text, c.Stderr())
		}
		if r.What == what && (ok == nil || ok(r)) {
			return r
		}
	}
}

func (r report) at() time.Time { return time.Unix(0, r.At) }

// TestLANLobby: a player hosts a lobby in namespace a; players in b and c
// find it by browsing, join, chat and ready up; the host starts and the
// mesh connects all three; a bare browser in c follows the player count
// and sees the lobby go within a second of the host's goodbye.
func TestLANLobby(t *testing.T) {
	t.Parallel()
	lab := netns.New(t) // skips without root
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	lab.Bridge(netns.LinkOptions{}, a, b, c)

	watch := start(c, "watch", childArgs{})
	await(t, watch, "ready", 15*time.Second, nil)
	host := start(a, "host", childArgs{Name: "LAN party", Game: "arena", Players: 3})
	hosted := await(t, host, "hosted", 20*time.Second, nil)
	added := await(t, watch, "event", 10*time.Second, func(r report) bool { return r.Kind == "added" })
	if l := added.Lobby; l.Name != "LAN party" || l.Game != "arena" || l.Players != 1 || l.Max != 3 || l.Password || l.ID == "" {
		t.Fatalf("advertised %+v", l)
	}
	if seed, _ := added.Lobby.TXTValue("seed"); seed != "42" || strings.Count(strings.Join(added.Lobby.TXT, " "), "players=") != 1 {
		t.Fatalf("TXT %q: want the game's seed=42 and no second players key", added.Lobby.TXT)
	}
	// NewHost returns once the first announcement is out.
	inTime(t, "listed after the announcement", added.at().Sub(hosted.at()), time.Second)

	p1 := start(b, "player", childArgs{Game: "arena", Nick: "bob"})
	p2 := start(c, "player", childArgs{Game: "arena", Nick: "carol"})
	for _, p := range []*netns.Child{p1, p2} {
		f := await(t, p, "found", 20*time.Second, nil)
		if f.Lobby.ID != added.Lobby.ID {
			t.Fatalf("%s found %+v", p.Role, f.Lobby)
		}
		await(t, p, "joined", 20*time.Second, nil)
	}
	chats := map[string]bool{}
	for len(chats) < 2 {
		r := await(t, host, "chat", 20*time.Second, nil)
		chats[r.Text] = true
	}
	if !chats["hi from bob"] || !chats["hi from carol"] {
		t.Fatalf("host heard %v", chats)
	}
	// The advertisement follows the player count.
	await(t, watch, "event", 10*time.Second, func(r report) bool { return r.Kind == "updated" && r.Lobby.Players == 3 })

	var session string
	for _, p := range []*netns.Child{host, p1, p2} {
		r := await(t, p, "started", 20*time.Second, nil)
		if r.Peers != 3 || (session != "" && r.Session != session) {
			t.Fatalf("%s started %+v", p.Role, r)
		}
		session = r.Session
	}
	for _, p := range []*netns.Child{host, p1, p2} {
		if r := await(t, p, "connected", 30*time.Second, nil); r.Peers != 2 {
			t.Fatalf("%s connected to %d peers", p.Role, r.Peers)
		}
	}

	if err := host.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := await(t, host, "closed", 10*time.Second, nil)
	gone := await(t, watch, "event", 10*time.Second, func(r report) bool { return r.Kind == "removed" })
	d := gone.at().Sub(closed.at())
	t.Logf("removed %v after the host closed", d)
	if d > 1500*time.Millisecond { // 1 s plus scheduling slack on a loaded machine
		t.Errorf("removed %v after the goodbye, want about 1 s", d)
	}
}

// TestLANLobbyIPv6: the same over an IPv6-only link: discovery, join and
// the mesh.
func TestLANLobbyIPv6(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{NoIPv4: true})
	host := start(a, "host", childArgs{Name: "v6 only", Game: "arena", Players: 2})
	await(t, host, "hosted", 20*time.Second, nil)
	p := start(b, "player", childArgs{Game: "arena", Nick: "bob", IPv6: true})
	f := await(t, p, "found", 20*time.Second, nil)
	if !strings.Contains(f.Text, "[fd99:") {
		t.Fatalf("joined through %s, want the IPv6 address", f.Text)
	}
	await(t, p, "joined", 20*time.Second, nil)
	for _, c := range []*netns.Child{host, p} {
		await(t, c, "connected", 30*time.Second, nil)
	}
}

// TestLANHostVanishes: a host process killed without a goodbye disappears
// from browsers once its records' TTL runs out.
func TestLANHostVanishes(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	watch := start(b, "watch", childArgs{})
	await(t, watch, "ready", 15*time.Second, nil)
	const ttl = 3 * time.Second
	host := start(a, "host", childArgs{Name: "doomed", Game: "arena", Players: 2, TTL: ttl})
	await(t, host, "hosted", 20*time.Second, nil)
	await(t, watch, "event", 10*time.Second, func(r report) bool { return r.Kind == "added" && r.Lobby.Name == "doomed" })
	killed := time.Now()
	host.Kill()
	gone := await(t, watch, "event", 4*ttl, func(r report) bool { return r.Kind == "removed" })
	inTime(t, "removed after the host was killed", gone.at().Sub(killed), ttl)
}

// TestLANHostTwoInterfaces: a host on two links (two veth pairs, no route
// between them) is found from each with the address of that link, and
// players on both join the one lobby.
func TestLANHostTwoInterfaces(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	ab, _ := lab.Link(a, b, netns.LinkOptions{})
	ac, _ := lab.Link(a, c, netns.LinkOptions{})
	host := start(a, "host", childArgs{Name: "two links", Game: "arena", Players: 3, NoStart: true})
	await(t, host, "hosted", 20*time.Second, nil)
	for _, p := range []struct {
		ns   *netns.NS
		addr string
	}{{b, ab.IPv4}, {c, ac.IPv4}} {
		pl := start(p.ns, "player", childArgs{Game: "arena", Nick: p.ns.Name})
		f := await(t, pl, "found", 20*time.Second, nil)
		if !strings.Contains(f.Text, "//"+p.addr+":") {
			t.Errorf("found through %s, want the address on its link %s", f.Text, p.addr)
		}
		await(t, pl, "joined", 20*time.Second, nil)
		await(t, host, "chat", 20*time.Second, nil)
	}
}

// childEarlyJoin hosts a lobby and has a second client join it while
// NewHost is still probing its DNS-SD name, then reports the TXT record
// the Host advertises once it has caught up ("txt", Text), and whether
// the join came before NewHost returned (Peers 1).
func childEarlyJoin() error {
	ctx, cancel := childCtx()
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	created := make(chan string, 1)
	var returned atomic.Bool
	type result struct {
		h   *lobby.Host
		err error
	}
	res := make(chan result, 1)
	go func() {
		h, err := lobby.NewHost(ctx, lobby.HostConfig{Addr: addr, Lobby: lobby.CreateData{Name: "early", MaxMembers: 4},
			Service: lobby.Config{OnChange: func(s lobby.Summary, gone bool) {
				select {
				case created <- s.ID:
				default:
				}
			}}})
		returned.Store(true)
		res <- result{h, err}
	}()
	var id string
	select {
	case id = <-created:
	case r := <-res:
		return fmt.Errorf("NewHost: %v", r.err)
	}
	c, err := lobby.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	// Probing takes at least 750 ms; join in its middle, after NewHost has
	// opened its mDNS node and computed the first TXT record.
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Join(ctx, id, lobby.JoinOptions{}); err != nil {
		return err
	}
	early := !returned.Load()
	r := <-res
	if r.err != nil {
		return r.err
	}
	defer r.h.Close()
	var txt []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if txt = lobby.HostTXT(r.h); slices.Contains(txt, "players=2") {
			break
		}
	}
	rep := report{What: "txt", Text: strings.Join(txt, " ")}
	if early {
		rep.Peers = 1
	}
	say(rep)
	return nil
}

// TestLANHostCountsEarlyJoin: a player who joins while the Host is still
// probing its name (by address, before any browser could list it) is
// counted in the advertisement.
func TestLANHostCountsEarlyJoin(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	ch := start(a, "early", childArgs{})
	r := await(t, ch, "txt", 40*time.Second, nil)
	if r.Peers != 1 {
		t.Skip("the join came after NewHost returned: nothing to test")
	}
	t.Logf("advertised %q", r.Text)
	if !strings.Contains(" "+r.Text+" ", " players=2 ") {
		t.Fatalf("advertised TXT %q after a join during probing, want players=2", r.Text)
	}
}

// childMember finds a lobby of a.Game, dials its host with DialLAN, joins
// and reports "joined"; then it reports each lobby event ("lobbyev": Kind
// the event's type, Text its error, Peers 1 when State still shows a
// lobby after it) until stdin closes.
func childMember(a childArgs) error {
	ctx, cancel := childCtx()
	defer cancel()
	b, err := lobby.Browse(ctx, lobby.BrowseConfig{Game: a.Game})
	if err != nil {
		return err
	}
	var found lobby.LANLobby
	for ev := range b.Events() {
		if ev.Kind == lobby.LANAdded {
			found = ev.Lobby
			break
		}
	}
	b.Close()
	if found.ID == "" {
		return fmt.Errorf("no lobby found: %v", ctx.Err())
	}
	c, err := lobby.DialLAN(ctx, found, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Join(ctx, found.ID, lobby.JoinOptions{Member: map[string]string{"nick": a.Nick}}); err != nil {
		return err
	}
	say(report{What: "joined"})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		c.Close()
	}()
	for ev := range c.Events() {
		r := report{What: "lobbyev", Kind: fmt.Sprintf("%T", ev)}
		switch ev := ev.(type) {
		case lobby.Closed:
			if ev.Err != nil {
				r.Text = ev.Err.Error()
			}
		case lobby.Disconnected:
			if ev.Err != nil {
				r.Text = ev.Err.Error()
			}
		}
		if _, in := c.State(); in {
			r.Peers = 1
		}
		say(r)
	}
	return nil
}

// TestLANHostGone: members of a LAN lobby (two, on a bridge with the
// host) get a Closed event when its hosting process closes the lobby
// (within 1 s, ErrLobbyClosed), is killed with SIGKILL (within 3 s: the
// kernel closes its connections and DefaultHostGrace passes;
// ErrHostGone), or is stopped with SIGSTOP (no packet at all: within
// LANIdleTimeout plus DefaultHostSilence); after it, State shows no lobby.
func TestLANHostGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		want  time.Duration
		err   string // in Closed's error
		leave func(t *testing.T, host *netns.Child) time.Time
	}{
		{"close", time.Second, "the host closed the lobby", func(t *testing.T, host *netns.Child) time.Time {
			if err := host.Send("close"); err != nil {
				t.Error(err)
			}
			return await(t, host, "closed", 10*time.Second, nil).at()
		}},
		{"kill", 3 * time.Second, "the LAN host is gone", func(t *testing.T, host *netns.Child) time.Time {
			at := time.Now()
			host.Kill()
			return at
		}},
		{"stop", lobby.LANIdleTimeout + lobby.DefaultHostSilence, "the LAN host is gone", func(t *testing.T, host *netns.Child) time.Time {
			at := time.Now()
			if err := host.Signal(syscall.SIGSTOP); err != nil {
				t.Error(err)
			}
			return at
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := netns.New(t)
			a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
			lab.Bridge(netns.LinkOptions{}, a, b, c)
			host := start(a, "host", childArgs{Name: "short-lived " + tc.name, Game: "gone", Players: 3, NoStart: true})
			await(t, host, "hosted", 20*time.Second, nil)
			members := []*netns.Child{start(b, "member", childArgs{Game: "gone", Nick: "bob"}), start(c, "member", childArgs{Game: "gone", Nick: "carol"})}
			for _, m := range members {
				await(t, m, "joined", 20*time.Second, nil)
			}
			left := tc.leave(t, host)
			for i, m := range members {
				r := await(t, m, "lobbyev", 30*time.Second, func(r report) bool { return r.Kind == "lobby.Closed" })
				d := r.at().Sub(left)
				t.Logf("member %d: Closed %v after the host %s: %s", i, d, tc.name, r.Text)
				if !strings.Contains(r.Text, tc.err) {
					t.Errorf("member %d: Closed with %q, want %q", i, r.Text, tc.err)
				}
				if r.Peers != 0 {
					t.Errorf("member %d: State still shows the lobby after Closed", i)
				}
				inTime(t, "Closed", d, tc.want)
			}
		})
	}
}

// childMatchLAN joins a match of a.Game with MatchLAN and reports how it
// ended: "matchend" with Kind "started", "closed" (ErrLobbyClosed),
// "hostgone" (ErrHostGone) or "other", and the error in Text.
func childMatchLAN(a childArgs) error {
	ctx, cancel := childCtx()
	defer cancel()
	m, err := lobby.MatchLAN(ctx, lobby.LANMatchConfig{Game: a.Game, Member: map[string]string{"nick": a.Nick}, Migrate: a.Migrate})
	r := report{What: "matchend", Kind: "started"}
	switch {
	case err == nil:
		defer m.Close()
		r.Session, r.Peers = m.Session.ID, len(m.Roster.Players)
		if m.Host != nil {
			r.Text = "host"
		}
		say(r)
		_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until the parent ends
		return nil
	case errors.Is(err, lobby.ErrLobbyClosed):
		r.Kind = "closed"
	case errors.Is(err, lobby.ErrHostGone):
		r.Kind = "hostgone"
	default:
		r.Kind = "other"
	}
	if err != nil {
		r.Text = err.Error()
	}
	say(r)
	return nil
}

// TestMatchLANHostKilled: a joiner waiting in MatchLAN for the start
// fails with ErrHostGone within 3 s of the host's process being killed,
// instead of waiting for its context.
func TestMatchLANHostKilled(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	host := start(a, "host", childArgs{Name: "killed before start", Game: "doomed", Players: 3, NoStart: true})
	await(t, host, "hosted", 20*time.Second, nil)
	joiner := start(b, "matchlan", childArgs{Game: "doomed", Nick: "bob"})
	// Joined and ready: MatchLAN waits for the start.
	await(t, host, "members", 30*time.Second, func(r report) bool { return r.Peers == 2 && r.Text == "1" })
	killed := time.Now()
	host.Kill()
	r := await(t, joiner, "matchend", 30*time.Second, nil)
	d := r.at().Sub(killed)
	t.Logf("MatchLAN ended %v after the host was killed: %s", d, r.Text)
	if r.Kind != "hostgone" {
		t.Fatalf("MatchLAN ended with %s (%s), want ErrHostGone", r.Kind, r.Text)
	}
	inTime(t, "MatchLAN failed", d, 3*time.Second)
}

// TestMatchLANMigrates: with LANMatchConfig.Migrate, when the host's
// process is killed before the start, the member that joined first hosts
// the lobby anew and the other joins it there; the match starts with the
// two of them.
func TestMatchLANMigrates(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	lab.Bridge(netns.LinkOptions{}, a, b, c)
	host := start(a, "host", childArgs{Name: "moving lobby", Game: "moving", Players: 3, NoStart: true})
	await(t, host, "hosted", 20*time.Second, nil)
	first := start(b, "matchlan", childArgs{Game: "moving", Nick: "bob", Migrate: true})
	await(t, host, "members", 30*time.Second, func(r report) bool { return r.Peers == 2 && r.Text == "1" })
	second := start(c, "matchlan", childArgs{Game: "moving", Nick: "carol", Migrate: true})
	await(t, host, "members", 30*time.Second, func(r report) bool { return r.Peers == 3 && r.Text == "2" })
	killed := time.Now()
	host.Kill()
	r1 := await(t, first, "matchend", 30*time.Second, nil)
	r2 := await(t, second, "matchend", 30*time.Second, nil)
	t.Logf("after the host was killed: first member %s %v later (%s), second %s %v later",
		r1.Kind, r1.at().Sub(killed), r1.Text, r2.Kind, r2.at().Sub(killed))
	if r1.Kind != "started" || r2.Kind != "started" || r1.Text != "host" || r2.Text != "" ||
		r1.Session == "" || r1.Session != r2.Session || r1.Peers != 2 || r2.Peers != 2 {
		t.Fatalf("after migration: first %+v, second %+v; want one session of 2, hosted by the first", r1, r2)
	}
}
