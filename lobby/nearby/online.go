package nearby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// relayQueue bounds the packets waiting to be relayed by the server; when
// full, packets are dropped (the streams retransmit them).
const relayQueue = 256

type relayItem struct {
	to string
	b  []byte
}

type onlineLink struct {
	c *signaling.Client
	// unknown is told of a player the server does not know.
	unknown func(id string)
	q       chan relayItem
	ctx     context.Context // canceled by close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (l *onlineLink) send(r route, b []byte) error {
	if r.peer == "" {
		return ErrUnknownPlayer
	}
	select {
	case l.q <- relayItem{to: r.peer, b: append([]byte(nil), b...)}:
	default:
	}
	return nil
}

func (l *onlineLink) run() {
	defer l.wg.Done()
	for {
		select {
		case <-l.ctx.Done():
			return
		case it := <-l.q:
			ctx, cancel := context.WithTimeout(l.ctx, 5*time.Second)
			_, err := l.c.Request(ctx, TypeSend, sendData{To: it.to, Pkt: it.b})
			cancel()
			if errors.Is(err, &signaling.Error{Code: CodeUnknownPlayer}) && l.unknown != nil {
				l.unknown(it.to)
			}
		}
	}
}

func (l *onlineLink) routeFor(id string) (route, bool) {
	if id == "" || len(id) > MaxPeerIDLen {
		return route{}, false
	}
	return route{peer: id}, true
}

func (l *onlineLink) close() {
	l.cancel()
	l.wg.Wait()
}

type onlinePresence struct {
	c *signaling.Client
}

func (p *onlinePresence) publish(ctx context.Context, prof Profile) error {
	_, err := p.c.Request(ctx, TypeShow, showData{Name: prof.Name, Status: prof.Status.String(), Game: prof.Game})
	return err
}

func (p *onlinePresence) withdraw(ctx context.Context) error {
	_, err := p.c.Request(ctx, TypeHide, nil)
	return err
}

func (p *onlinePresence) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = p.c.Request(ctx, TypeHide, nil)
}

// StartOnline gives the same API through a server that serves the
// nearby family (Serve; `rallypoint serve` does): the players visible on
// the server recently, and messages and invitations by player id relayed
// by it. The player id is the connection's auth subject when the server
// authenticates, else its peer id; the server vouches for the sender of
// every relayed packet. c stays the caller's; Close does not close it.
func StartOnline(ctx context.Context, c *signaling.Client, cfg Config) (*Nearby, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	sub := c.Subscribe(TypePresence, TypePacket)
	wr, err := watch(ctx, c)
	if err != nil {
		sub.Close()
		return nil, err
	}
	n := newNearby(cfg, wr.ID)
	lctx, lcancel := context.WithCancel(context.Background())
	l := &onlineLink{c: c, q: make(chan relayItem, relayQueue), ctx: lctx, cancel: lcancel}
	l.unknown = func(id string) {
		select {
		case n.ops <- func() { n.failStream(id, ErrUnknownPlayer) }:
		case <-n.quit:
		}
	}
	l.wg.Add(1)
	go l.run()
	n.link = l
	n.pres = &onlinePresence{c: c}
	n.start()
	_ = n.call(ctx, func() error { n.resync(wr.Players); return nil })
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer sub.Close()
		n.readServer(c, sub)
	}()
	if cfg.Visible {
		if err := n.SetVisible(ctx, true); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

func watch(ctx context.Context, c *signaling.Client) (watchReply, error) {
	raw, err := c.Request(ctx, TypeWatch, nil)
	if err != nil {
		return watchReply{}, fmt.Errorf("nearby: %w", err)
	}
	return parseWatchReply(raw)
}

// parseWatchReply decodes the reply to nearby.watch.
func parseWatchReply(b []byte) (watchReply, error) {
	var wr watchReply
	if err := json.Unmarshal(b, &wr); err != nil || wr.ID == "" || len(wr.ID) > MaxPeerIDLen {
		return watchReply{}, fmt.Errorf("%w: watch reply", ErrMalformed)
	}
	return wr, nil
}

// parsePacketPush decodes nearby.packet.
func parsePacketPush(b []byte) (packetPush, error) {
	var d packetPush
	if err := json.Unmarshal(b, &d); err != nil || d.From == "" || len(d.From) > MaxPeerIDLen || len(d.Pkt) == 0 || len(d.Pkt) > MaxPacket {
		return packetPush{}, fmt.Errorf("%w: nearby.packet", ErrMalformed)
	}
	return d, nil
}

// parsePresence decodes nearby.presence: the player's id and the player,
// nil when it is gone.
func parsePresence(b []byte) (string, *Player, error) {
	var d presencePush
	if err := json.Unmarshal(b, &d); err != nil {
		return "", nil, fmt.Errorf("%w: nearby.presence: %v", ErrMalformed, err)
	}
	p, ok := wirePlayer(d.Player)
	if !ok {
		return "", nil, fmt.Errorf("%w: nearby.presence: bad player", ErrMalformed)
	}
	if d.Gone {
		return p.ID, nil, nil
	}
	return p.ID, p, nil
}

func wirePlayer(w WirePlayer) (*Player, bool) {
	st, ok := ParseStatus(w.Status)
	p := &Player{ID: w.ID, Profile: Profile{Name: w.Name, Status: st, Game: w.Game}}
	return p, ok && w.ID != "" && p.Profile.check() == nil
}

// resync replaces the list with players (after a watch).
func (n *Nearby) resync(players []WirePlayer) {
	keep := map[string]bool{}
	for _, w := range players {
		if p, ok := wirePlayer(w); ok {
			keep[p.ID] = true
			n.presenceUpdate(p.ID, p)
		}
	}
	for id := range n.players {
		if !keep[id] {
			n.presenceUpdate(id, nil)
		}
	}
}

func (n *Nearby) readServer(c *signaling.Client, sub *signaling.Subscription) {
	for {
		var ev signaling.Event
		var ok bool
		select {
		case <-n.quit:
			return
		case ev, ok = <-sub.Events():
			if !ok {
				return
			}
		}
		var op func()
		switch ev := ev.(type) {
		case signaling.Message:
			switch ev.Type {
			case TypePacket:
				d, err := parsePacketPush(ev.Data)
				if err != nil {
					n.malformed.Add(1)
					continue
				}
				select {
				case n.in <- inbound{b: d.Pkt, src: route{peer: d.From}, fromID: d.From}:
				case <-n.quit:
					return
				}
			case TypePresence:
				id, p, err := parsePresence(ev.Data)
				if err != nil {
					n.malformed.Add(1)
					continue
				}
				op = func() { n.presenceUpdate(id, p) }
			}
		case signaling.Overflow, signaling.Reconnected:
			// Presence may have been lost, or the session is new: watch
			// again (and show again) and take the list whole.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			wr, err := watch(ctx, c)
			var prof Profile
			var vis bool
			if err == nil {
				_ = n.call(ctx, func() error { prof, vis = n.profile, n.visible; return nil })
				if vis {
					_ = n.pres.publish(ctx, prof)
				}
			}
			cancel()
			if err != nil {
				continue
			}
			op = func() { n.setID(wr.ID); n.resync(wr.Players) }
		}
		if op != nil {
			select {
			case n.ops <- op:
			case <-n.quit:
				return
			}
		}
	}
}
