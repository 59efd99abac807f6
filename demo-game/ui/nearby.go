package ui

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/nearby"
)

// maxInvites bounds the invitations waiting for an answer in the menu.
const maxInvites = 4

// nearbyHub is the player's presence among nearby players. It starts when
// the Nearby screen first opens (opening it is the opt-in to be visible)
// and lives until the game ends, so invitations reach the menu. The
// game loop drains its events in Update; nothing waits on the network
// there.
type nearbyHub struct {
	n       *nearby.Nearby
	online  bool // through Config.ServerURL: invitations to online lobbies
	players []nearby.Player
	invites []nearby.InviteReceived
	status  nearby.Status
}

// startNearby starts the hub with Config.Nearby (nil: nearby.StartLAN),
// visible under the player's name.
func (g *Game) startNearby() error {
	if g.nearby != nil {
		return nil
	}
	start := g.cfg.Nearby
	if start == nil {
		start = func(ctx context.Context, cfg nearby.Config) (*nearby.Nearby, error) {
			return nearby.StartLAN(ctx, nearby.LANConfig{Config: cfg})
		}
	}
	name := g.cfg.Name
	if name == "" {
		name = "Player"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := start(ctx, nearby.Config{Profile: nearby.Profile{Name: name, Game: match.LobbyGame}, Visible: true})
	if err != nil {
		return err
	}
	g.nearby = &nearbyHub{n: n, status: nearby.Idle, online: g.cfg.Nearby != nil && g.cfg.ServerURL != ""}
	return nil
}

// closeNearby says goodbye (the others drop this player at once).
func (g *Game) closeNearby() {
	if g.nearby != nil {
		g.nearby.n.Close()
		g.nearby = nil
	}
}

// pollNearby drains the hub's events and keeps the advertised status in
// step with the screen. Called once per Update.
func (g *Game) pollNearby() {
	h := g.nearby
	if h == nil {
		return
	}
	changed := false
	for done := false; !done; {
		select {
		case ev, ok := <-h.n.Events():
			if !ok {
				done = true
				break
			}
			switch ev := ev.(type) {
			case nearby.PlayerJoined, nearby.PlayerLeft, nearby.PlayerChanged:
				changed = true
			case nearby.InviteReceived:
				if len(h.invites) >= maxInvites {
					h.invites = h.invites[1:]
				}
				h.invites = append(h.invites, ev)
			case nearby.InviteAnswered:
				if ev.Accepted {
					g.say("%s accepted your invitation", g.who(ev.From))
				} else {
					g.say("%s declined your invitation", g.who(ev.From))
				}
			case nearby.MessageReceived:
				g.say("%s: %s", g.who(ev.From), ev.Text)
			}
		default:
			done = true
		}
	}
	if changed {
		h.players = h.n.Players()
	}
	st := nearby.Idle
	switch g.screen.(type) {
	case *netLobby, *localLobby:
		st = nearby.InLobby
	case *play:
		st = nearby.InMatch
	}
	if st != h.status {
		h.status = st
		go h.n.SetStatus(context.Background(), st) // announces; not on the frame
	}
}

// short returns the first 6 characters of a player id.
func short(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

// who names a sender: its display name when it is (or was, when the
// packet came) visible, else its id.
func (g *Game) who(s nearby.Sender) string {
	if g.nearby != nil {
		for _, p := range g.nearby.players {
			if p.ID == s.ID {
				return p.Name
			}
		}
	}
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// inviteTo hosts a LAN lobby (or, online, creates one on the server) and
// invites player p to it, behind the connecting screen; the lobby screen
// opens once the invitation is delivered.
func (g *Game) inviteTo(p nearby.Player) {
	n := g.nearby.n
	cfg := g.lobbyConfig(match.LobbyConfig{Players: g.cfg.Players, Seed: g.cfg.Seed, Player: g.cfg.Name}, true)
	if g.nearby.online {
		url := g.cfg.ServerURL
		g.screen = newLobbyConnect(g, "Invite "+p.Name, "Creating a lobby on "+url,
			func(ctx context.Context, say func(string)) (*match.Lobby, error) {
				l, err := match.CreateLobby(ctx, url, cfg)
				if err != nil {
					return nil, err
				}
				st, _ := l.Client().State()
				say("Inviting " + p.Name)
				if _, err := n.Invite(ctx, p.ID, nearby.Invitation{Lobby: st.ID, Code: st.Code, Name: st.Name, Game: match.LobbyGame, URL: url}); err != nil {
					l.Close()
					return nil, fmt.Errorf("inviting %s: %w", p.Name, err)
				}
				return l, nil
			})
		return
	}
	g.screen = newLobbyConnect(g, "Invite "+p.Name, "Hosting a lobby on the LAN",
		func(ctx context.Context, say func(string)) (*match.Lobby, error) {
			l, err := match.HostLAN(ctx, cfg)
			if err != nil {
				return nil, err
			}
			_, port, _ := net.SplitHostPort(l.Host().Addr().String())
			pn, _ := strconv.Atoi(port)
			st, _ := l.Client().State()
			say("Inviting " + p.Name)
			if _, err := n.Invite(ctx, p.ID, nearby.Invitation{Lobby: l.Host().LobbyID(), Name: st.Name, Game: match.LobbyGame, Port: uint16(pn)}); err != nil {
				l.Close()
				return nil, fmt.Errorf("inviting %s: %w", p.Name, err)
			}
			return l, nil
		})
}

// answerInvite accepts (joining the lobby) or declines the oldest
// pending invitation.
func (g *Game) answerInvite(accept bool) {
	h := g.nearby
	if h == nil || len(h.invites) == 0 {
		return
	}
	inv := h.invites[0]
	h.invites = h.invites[1:]
	n := h.n
	if !accept {
		go n.Answer(context.Background(), inv.From.ID, inv.Invitation.ID, false)
		return
	}
	cfg := g.lobbyConfig(match.LobbyConfig{Player: g.cfg.Name}, false)
	if url, code := inv.Invitation.URL, inv.Invitation.Code; url != "" && code != "" {
		g.screen = newLobbyConnect(g, "Join "+inv.Invitation.Name, "Accepting the invitation of "+g.who(inv.From),
			func(ctx context.Context, _ func(string)) (*match.Lobby, error) {
				if err := n.Answer(ctx, inv.From.ID, inv.Invitation.ID, true); err != nil {
					return nil, err
				}
				return match.JoinLobbyByCode(ctx, url, code, cfg)
			})
		return
	}
	l := lobby.LANLobby{ID: inv.Invitation.Lobby, Name: inv.Invitation.Name, Game: inv.Invitation.Game,
		Addrs: []netip.AddrPort{netip.AddrPortFrom(inv.From.Addr.Addr(), inv.Invitation.Port)}}
	g.screen = newLobbyConnect(g, "Join "+l.Name, "Accepting the invitation of "+g.who(inv.From),
		func(ctx context.Context, _ func(string)) (*match.Lobby, error) {
			if err := n.Answer(ctx, inv.From.ID, inv.Invitation.ID, true); err != nil {
				return nil, err
			}
			return match.JoinLAN(ctx, l, cfg)
		})
}

// updateInviteKeys lets the menu answer the oldest invitation: Y accepts
// and joins, N declines. It reports whether a key was taken.
func (g *Game) updateInviteKeys() bool {
	if g.nearby == nil || len(g.nearby.invites) == 0 {
		return false
	}
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyY):
		g.answerInvite(true)
		return true
	case inpututil.IsKeyJustPressed(ebiten.KeyN):
		g.answerInvite(false)
		return true
	}
	return false
}

// drawInvite draws the notification of the oldest pending invitation,
// from y down (34 pixels).
func (g *Game) drawInvite(dst *ebiten.Image, y float32) {
	if g.nearby == nil || len(g.nearby.invites) == 0 {
		return
	}
	inv := g.nearby.invites[0]
	msg := fmt.Sprintf("%s invites you to %q · Y accept · N decline", g.who(inv.From), inv.Invitation.Name)
	if k := len(g.nearby.invites); k > 1 {
		msg += fmt.Sprintf(" (+%d)", k-1)
	}
	w := float32(len(msg))*9 + 40
	panel(dst, (ScreenWidth-w)/2, y, w, 34)
	vector.FillRect(dst, (ScreenWidth-w)/2, y, 4, 34, ColorAccent, false)
	drawText(dst, msg, g.fonts.small, ScreenWidth/2, float64(y)+8, ColorAccent, center)
}

// nearbyScreen lists the players nearby with their status; Enter invites
// the selected one to a new LAN lobby.
type nearbyScreen struct {
	err error
	sel int
}

func newNearbyScreen(g *Game) *nearbyScreen {
	s := &nearbyScreen{err: g.startNearby()}
	if g.nearby != nil {
		g.nearby.players = g.nearby.n.Players()
	}
	return s
}

func (s *nearbyScreen) update(g *Game) error {
	var players []nearby.Player
	if g.nearby != nil {
		players = g.nearby.players
	}
	s.sel = min(s.sel, max(len(players)-1, 0))
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowDown):
		s.sel = min(s.sel+1, max(len(players)-1, 0))
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowUp):
		s.sel = max(s.sel-1, 0)
	case inpututil.IsKeyJustPressed(ebiten.KeyH):
		g.closeNearby() // hide: a goodbye, the others drop us
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter) && len(players) > 0:
		g.inviteTo(players[s.sel])
	default:
		g.updateInviteKeys()
	}
	return nil
}

func statusLabel(s nearby.Status) string {
	switch s {
	case nearby.InLobby:
		return "in a lobby"
	case nearby.InMatch:
		return "in a match"
	}
	return "idle"
}

func (s *nearbyScreen) draw(g *Game, dst *ebiten.Image) {
	drawText(dst, "NEARBY PLAYERS", g.fonts.title, ArenaX, 24, ColorText, left)
	sub := "Players on your network who chose to be visible (you are visible while this runs)"
	if g.nearby != nil && g.nearby.online {
		sub = "Players on " + g.cfg.ServerURL + " who chose to be visible (you are visible while this runs)"
	}
	if g.nearby != nil {
		sub += " · you are " + short(g.nearby.n.ID())
	}
	drawText(dst, sub, g.fonts.small, ArenaX, 64, ColorDim, left)
	panel(dst, ArenaX, 140, ScreenWidth-2*ArenaX, 460)
	var players []nearby.Player
	if g.nearby != nil {
		players = g.nearby.players
	}
	switch {
	case s.err != nil:
		drawText(dst, fmt.Sprintf("Nearby discovery failed: %v", s.err), g.fonts.body, ArenaX+20, 156, ColorBad, left)
	case len(players) == 0:
		drawText(dst, "Looking for players"+"...."[:1+g.frames/20%4], g.fonts.body, ArenaX+20, 156, ColorDim, left)
	}
	for i, p := range players {
		y := float32(156 + i*44)
		if y > 560 {
			break
		}
		clr := ColorText
		if i == s.sel {
			vector.FillRect(dst, ArenaX+8, y-4, ScreenWidth-2*ArenaX-16, 38, fade(ColorAccent, 0.16), false)
			clr = ColorAccent
		}
		drawText(dst, p.Name, g.fonts.body, ArenaX+20, float64(y), clr, left)
		info := statusLabel(p.Status)
		if p.Game != "" {
			info += " · " + p.Game
		}
		drawText(dst, info+" · "+short(p.ID), g.fonts.small, ScreenWidth-ArenaX-20, float64(y)+4, ColorDim, right)
	}
	g.drawInvite(dst, 96)
	drawText(dst, "Up/Down choose · Enter invite to a new lobby · H hide · Esc back", g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
