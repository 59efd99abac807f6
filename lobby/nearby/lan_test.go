package nearby_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/nearby"
)

// The LAN tests run each player as a separate process (the test binary in
// a child role) in its own network namespace, all joined by a bridge, with
// no server and no route out. The parent drives them over stdin and reads
// their reports, JSON lines with the time of each event.

type childArgs struct {
	Name string
	TTL  time.Duration
	Host bool // host a LAN lobby to invite others to
	// Hidden never opts in to be visible: it only browses.
	Hidden bool
}

type report struct {
	What   string // ready, joined, left, changed, msg, invite, answered, sent, lobby, error
	At     int64
	ID     string `json:",omitempty"` // the player the event is about (or the sender)
	Text   string `json:",omitempty"`
	N      int    `json:",omitempty"`
	Status string `json:",omitempty"`
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
	if role != "player" {
		say(report{What: "error", Text: "unknown role " + role})
		return 1
	}
	if err := childPlayer(a); err != nil {
		say(report{What: "error", Text: err.Error()})
		return 1
	}
	return 0
}

// childPlayer is a visible player. With Host it hosts a LAN lobby;
// it accepts every invitation and joins. Commands on stdin:
// "invite ID", "post ID COUNT" (COUNT messages, pipelined), "status S".
func childPlayer(a childArgs) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var host *lobby.Host
	if a.Host {
		var err error
		host, err = lobby.NewHost(ctx, lobby.HostConfig{Lobby: lobby.CreateData{Name: a.Name + "'s lobby", Game: "arena", MaxMembers: 4},
			LAN: lobby.LANConfig{NoProbe: true, HostTTL: 5 * time.Second}})
		if err != nil {
			return err
		}
		defer host.Close()
	}
	started := time.Now()
	n, err := nearby.StartLAN(ctx, nearby.LANConfig{TTL: a.TTL, Config: nearby.Config{
		Profile: nearby.Profile{Name: a.Name, Game: "arena"}, Visible: !a.Hidden,
		RateLimit: 1000, RateBurst: 1000}})
	if err != nil {
		return err
	}
	defer n.Close()
	say(report{What: "ready", ID: n.ID(), At: started.UnixNano()})
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	var jmu sync.Mutex
	var joined []*lobby.Client
	defer func() {
		jmu.Lock()
		defer jmu.Unlock()
		for _, c := range joined {
			c.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case cmd, ok := <-cmds:
			if !ok {
				return nil
			}
			f := strings.Fields(cmd)
			switch f[0] {
			case "invite":
				at := time.Now()
				_, port, _ := net.SplitHostPort(host.Addr().String())
				p, _ := strconv.Atoi(port)
				if _, err := n.Invite(ctx, f[1], nearby.Invitation{Lobby: host.LobbyID(), Name: a.Name + "'s lobby", Game: "arena", Port: uint16(p)}); err != nil {
					return err
				}
				say(report{What: "sent", At: at.UnixNano(), ID: f[1]})
			case "probe": // "probe ID N": N invitations in turn, for timing
				count, _ := strconv.Atoi(f[2])
				for range count {
					at := time.Now()
					id, err := n.Invite(ctx, f[1], nearby.Invitation{Lobby: probeLobby})
					if err != nil {
						return err
					}
					say(report{What: "probed", At: at.UnixNano(), ID: f[1], N: int(id)})
				}
			case "post":
				count, _ := strconv.Atoi(f[2])
				// Pipelined: on ErrBusy (MaxPending unacknowledged), wait
				// for the oldest acknowledgement and go on.
				var acks []<-chan error
				waited := 0
				for i := 0; i < count; {
					ack, err := n.Post(f[1], fmt.Sprintf("m%03d", i))
					if errors.Is(err, nearby.ErrBusy) {
						if err := <-acks[waited]; err != nil {
							return err
						}
						waited++
						continue
					}
					if err != nil {
						return err
					}
					acks = append(acks, ack)
					i++
				}
				go func() {
					for _, ack := range acks[waited:] {
						if err := <-ack; err != nil {
							say(report{What: "error", Text: err.Error()})
							return
						}
					}
					say(report{What: "acked", N: count, Text: strconv.FormatUint(n.Stats().Retransmits, 10)})
				}()
			case "status":
				st, _ := nearby.ParseStatus(f[1])
				if err := n.SetStatus(ctx, st); err != nil {
					return err
				}
			}
		case ev, ok := <-n.Events():
			if !ok {
				return nil
			}
			switch ev := ev.(type) {
			case nearby.PlayerJoined:
				say(report{What: "joined", ID: ev.Player.ID, Text: ev.Player.Name, Status: ev.Player.Status.String()})
			case nearby.PlayerLeft:
				say(report{What: "left", ID: ev.Player.ID})
			case nearby.PlayerChanged:
				say(report{What: "changed", ID: ev.Player.ID, Status: ev.Player.Status.String()})
			case nearby.MessageReceived:
				say(report{What: "msg", ID: ev.From.ID, Text: ev.Text})
			case nearby.InviteReceived:
				say(report{What: "invite", ID: ev.From.ID, Text: ev.Invitation.Lobby, N: int(ev.Invitation.ID)})
				if ev.Invitation.Lobby == probeLobby { // timing only: decline
					go n.Answer(ctx, ev.From.ID, ev.Invitation.ID, false)
					break
				}
				go func() {
					c, st, err := nearby.JoinLAN(ctx, n, ev, nil)
					if err != nil {
						say(report{What: "error", Text: "joining: " + err.Error()})
						return
					}
					jmu.Lock()
					joined = append(joined, c)
					jmu.Unlock()
					say(report{What: "lobby", Text: st.ID, N: len(st.Members)})
				}()
			case nearby.InviteAnswered:
				say(report{What: "answered", ID: ev.From.ID, Text: strconv.FormatBool(ev.Accepted)})
			}
		}
	}
}

// probeLobby is the lobby id of invitations sent only to time them.
const probeLobby = "probe"

// proc is a player process and every report it made so far.
type proc struct {
	t     *testing.T
	child *netns.Child
	id    string
	ready time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	reports []report
	err     error
}

func startPlayer(t *testing.T, ns *netns.NS, a childArgs) *proc {
	b, _ := json.Marshal(a)
	p := &proc{t: t, child: ns.StartChild("player", string(b))}
	p.cond = sync.NewCond(&p.mu)
	go func() {
		for {
			l, err := p.child.Next(time.Hour)
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.cond.Broadcast()
				p.mu.Unlock()
				return
			}
			var r report
			if json.Unmarshal([]byte(l.Text), &r) == nil && r.What != "" {
				p.reports = append(p.reports, r)
				p.cond.Broadcast()
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// wait returns the first report of kind what that ok accepts (made at any
// time), failing the test after timeout or on an error report.
func (p *proc) wait(what string, timeout time.Duration, ok func(report) bool) report {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for _, r := range p.reports {
			if r.What == "error" {
				p.t.Fatalf("player %s failed: %s\n%s", p.id, r.Text, p.child.Stderr())
			}
			if r.What == what && (ok == nil || ok(r)) {
				return r
			}
		}
		if p.err != nil || time.Now().After(deadline) {
			p.t.Fatalf("player %s: no %s report (%v)\n%s", p.id, what, p.err, p.child.Stderr())
		}
		p.cond.Wait()
	}
}

func (p *proc) all(what string) []report {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []report
	for _, r := range p.reports {
		if r.What == what {
			out = append(out, r)
		}
	}
	return out
}

func (p *proc) send(cmd string) {
	p.t.Helper()
	if err := p.child.Send(cmd); err != nil {
		p.t.Fatal(err)
	}
}

func at(r report) time.Time { return time.Unix(0, r.At) }

// loadSlack is what a timing assertion allows on top of a figure: CI runs
// every package's tests at once on two loaded cores, where a child
// process may wait for a CPU. Tests log the figure they see and fail only
// past the slack.
const loadSlack = 4 * time.Second

func inTime(t *testing.T, what string, d, want time.Duration) {
	t.Helper()
	t.Logf("%s after %v (figure %v)", what, d, want)
	if d > want+loadSlack {
		t.Errorf("%s after %v, want within %v (+%v for load)", what, d, want, loadSlack)
	}
}

// startAll starts one player per namespace (the first hosts a lobby) and
// waits until each is ready.
func startAll(t *testing.T, spaces []*netns.NS, ttl time.Duration) []*proc {
	t.Helper()
	var ps []*proc
	for i, ns := range spaces {
		ps = append(ps, startPlayer(t, ns, childArgs{Name: fmt.Sprintf("Player %d", i+1), TTL: ttl, Host: i == 0}))
	}
	for _, p := range ps {
		r := p.wait("ready", 30*time.Second, nil)
		p.id, p.ready = r.ID, at(r)
	}
	return ps
}

// seenAfter waits until every player of ps sees every other and returns
// the longest time from a player's start (or the watcher's, if later)
// until the other saw it.
func seenAfter(t *testing.T, ps []*proc, timeout time.Duration) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, w := range ps {
		for _, o := range ps {
			if o == w {
				continue
			}
			r := w.wait("joined", timeout, func(r report) bool { return r.ID == o.id })
			from := o.ready
			if w.ready.After(from) {
				from = w.ready
			}
			worst = max(worst, at(r).Sub(from))
		}
	}
	return worst
}

// seeLate starts one more player in ns and returns it once every player
// of ps saw it, logging how long the slowest took.
func seeLate(t *testing.T, ps []*proc, ns *netns.NS, ttl time.Duration, label string) *proc {
	t.Helper()
	late := startPlayer(t, ns, childArgs{Name: fmt.Sprintf("Player %d", len(ps)+1), TTL: ttl})
	r := late.wait("ready", 30*time.Second, nil)
	late.id, late.ready = r.ID, at(r)
	var worst time.Duration
	for _, p := range ps {
		r := p.wait("joined", 20*time.Second, func(r report) bool { return r.ID == late.id })
		worst = max(worst, at(r).Sub(late.ready))
	}
	inTime(t, "a new player was seen ("+label+")", worst, time.Second)
	return late
}

// inviteAndJoin has ps[0] (the host) invite ps[1], which accepts and joins
// the lobby; it returns the time from sending the invitation to its
// arrival.
func inviteAndJoin(t *testing.T, ps []*proc) time.Duration {
	t.Helper()
	host, guest := ps[0], ps[1]
	host.send("invite " + guest.id)
	sent := host.wait("sent", 20*time.Second, func(r report) bool { return r.ID == guest.id })
	got := guest.wait("invite", 20*time.Second, func(r report) bool { return r.ID == host.id })
	joined := guest.wait("lobby", 30*time.Second, nil)
	if joined.N != 2 || joined.Text != got.Text {
		t.Errorf("joined lobby %s with %d members, want %s with 2", joined.Text, joined.N, got.Text)
	}
	host.wait("answered", 20*time.Second, func(r report) bool { return r.ID == guest.id && r.Text == "true" })
	return at(got).Sub(at(sent))
}

// inviteTimes has host send n invitations to guest in turn and returns
// the median and the longest time from sending one to its arrival.
func inviteTimes(t *testing.T, host, guest *proc, n int) (median, worst time.Duration) {
	t.Helper()
	host.send(fmt.Sprintf("probe %s %d", guest.id, n))
	var ds []time.Duration
	last := 0
	for range n {
		sent := host.wait("probed", 30*time.Second, func(r report) bool { return r.ID == guest.id && r.N > last })
		last = sent.N
		got := guest.wait("invite", 30*time.Second, func(r report) bool { return r.ID == host.id && r.N == sent.N })
		ds = append(ds, at(got).Sub(at(sent)))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)-1]
}

// TestLANNearby: four players on one LAN see each other, avahi-browse
// lists them, a status change shows, the host invites a player who
// accepts and joins its lobby, and a SIGKILLed player disappears within
// its TTL, for the others and for avahi.
func TestLANNearby(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	spaces := []*netns.NS{lab.NS("p1"), lab.NS("p2"), lab.NS("p3"), lab.NS("p4"), lab.NS("av"), lab.NS("hid")}
	lab.Bridge(netns.LinkOptions{}, spaces...)
	env := netns.StartAvahi(t, spaces[4], nil).Env
	browse := spaces[4].StartProcess(env, "avahi-browse", "-p", nearby.ServiceType)
	hidden := startPlayer(t, spaces[5], childArgs{Name: "Hidden", Hidden: true})
	hidden.id = hidden.wait("ready", 30*time.Second, nil).ID

	const ttl = 3 * time.Second
	ps := startAll(t, spaces[:3], ttl)
	seen := seenAfter(t, ps, 20*time.Second)
	ps = append(ps, seeLate(t, ps, spaces[3], ttl, "0% loss"))
	seen = max(seen, seenAfter(t, ps, 20*time.Second))
	inTime(t, "4 players saw each other", seen, 2*time.Second)

	listed := map[string]bool{}
	for len(listed) < 4 {
		l, err := browse.WaitFor(15*time.Second, func(s string) bool {
			l, ok := netns.ParseAvahiLine(s)
			return ok && l.Event == "+" && l.Proto == "IPv4"
		})
		if err != nil {
			t.Fatalf("avahi-browse listed %d players: %v", len(listed), err)
		}
		a, _ := netns.ParseAvahiLine(l.Text)
		listed[a.Instance] = true
	}
	for i, p := range ps {
		if want := fmt.Sprintf("Player %d (%s)", i+1, p.id[:6]); !listed[want] {
			t.Errorf("avahi-browse lists %v, not %q", keys(listed), want)
		}
	}

	// Browsing needs no opt-in: the hidden player lists the four.
	for _, p := range ps {
		hidden.wait("joined", 10*time.Second, func(r report) bool { return r.ID == p.id })
	}

	ps[2].send("status match")
	ps[0].wait("changed", 10*time.Second, func(r report) bool { return r.ID == ps[2].id && r.Status == "match" })

	d := inviteAndJoin(t, ps)
	inTime(t, "invitation arrived (0% loss)", d, 500*time.Millisecond)
	med, worst := inviteTimes(t, ps[0], ps[2], 20)
	t.Logf("20 invitations at 0%% loss: median %v, longest %v", med, worst)

	// Nothing is advertised without the opt-in: by now (seconds after
	// it started) no player and not avahi lists the hidden player.
	for _, p := range ps {
		for _, r := range p.all("joined") {
			if r.ID == hidden.id {
				t.Errorf("player %s lists the hidden player", p.id)
			}
		}
	}
	cmd := spaces[4].Command("avahi-browse", "-p", "-t", nearby.ServiceType)
	cmd.Env = append(os.Environ(), env...)
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("avahi-browse -t: %v", err)
	}
	now := map[string]bool{}
	for _, line := range strings.Split(string(dump), "\n") {
		if l, ok := netns.ParseAvahiLine(line); ok && l.Event == "+" {
			now[l.Instance] = true
		}
	}
	if len(now) != 4 {
		t.Errorf("avahi-browse -t lists %v, want the 4 visible players only", keys(now))
	}

	killed := time.Now()
	ps[3].child.Kill()
	for _, p := range ps[:3] {
		r := p.wait("left", ttl+20*time.Second, func(r report) bool { return r.ID == ps[3].id })
		inTime(t, "killed player left", at(r).Sub(killed), ttl)
	}
	gone := fmt.Sprintf("Player 4 (%s)", ps[3].id[:6])
	if l, err := browse.WaitFor(ttl+20*time.Second, func(s string) bool {
		l, ok := netns.ParseAvahiLine(s)
		return ok && l.Event == "-" && l.Instance == gone
	}); err != nil {
		t.Errorf("avahi-browse kept the killed player: %v", err)
	} else {
		inTime(t, "avahi dropped the killed player", l.At.Sub(killed), ttl)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestLANNearbyLoss: at 10% packet loss on the LAN, a player that starts
// later is seen by the others, an invitation arrives and is accepted with
// a join, and 100 pipelined messages arrive once and in order.
func TestLANNearbyLoss(t *testing.T) {
	t.Parallel()
	netns.RequireLoss(t)
	lab := netns.New(t)
	spaces := []*netns.NS{lab.NS("p1"), lab.NS("p2"), lab.NS("p3")}
	sw, _ := lab.BridgeSwitch(netns.LinkOptions{}, spaces...)
	lab.SetLoss(sw, 0.10)

	ps := startAll(t, spaces[:2], 0)
	seenAfter(t, ps, 20*time.Second)
	ps = append(ps, seeLate(t, ps, spaces[2], 0, "10% loss"))

	d := inviteAndJoin(t, ps)
	inTime(t, "invitation arrived (10% loss)", d, 2*time.Second)
	med, worst := inviteTimes(t, ps[0], ps[2], 20)
	t.Logf("20 invitations at 10%% loss: median %v, longest %v", med, worst)
	inTime(t, "the median invitation arrived (10% loss)", med, 500*time.Millisecond)

	const count = 100
	ps[1].send(fmt.Sprintf("post %s %d", ps[2].id, count))
	acked := ps[1].wait("acked", 30*time.Second, nil)
	if acked.Text == "0" {
		t.Errorf("no retransmission of %d messages at 10%% loss: is loss applied?", count)
	}
	t.Logf("%d messages sent with %s retransmissions", count, acked.Text)
	ps[2].wait("msg", 10*time.Second, func(r report) bool { return r.Text == fmt.Sprintf("m%03d", count-1) })
	var got []string
	for _, r := range ps[2].all("msg") {
		if r.ID != ps[1].id {
			t.Fatalf("message from %s, want %s", r.ID, ps[1].id)
		}
		got = append(got, r.Text)
	}
	if len(got) != count {
		t.Fatalf("%d messages arrived, want %d", len(got), count)
	}
	for i, s := range got {
		if s != fmt.Sprintf("m%03d", i) {
			t.Fatalf("message %d is %q: out of order or duplicated", i, s)
		}
	}
}
