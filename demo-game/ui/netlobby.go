package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
)

// netLobby is a real lobby, online or on the LAN: its members (named by
// their metadata), chat, ready flags, the host's settings and start. The
// lobby client's calls run on their own goroutines and Update drains the
// client's events and the calls' outcomes, so no frame waits on the
// network. On lobby.Started every member moves to the connect screen and
// then to the match.
type netLobby struct {
	l       *match.Lobby
	st      lobby.State
	chat    []chatMsg
	input   []rune
	results chan error // outcomes of the calls in flight
	left    bool
}

type chatMsg struct {
	from, text string
	seat       int // the sender's seat (its colour), or -1
}

// lobbyCallTimeout bounds one lobby call made from the screen.
const lobbyCallTimeout = 10 * time.Second

func newNetLobby(g *Game, l *match.Lobby) *netLobby {
	n := &netLobby{l: l, results: make(chan error, 16)}
	if st, ok := l.Client().State(); ok {
		n.st = st
	}
	if n.st.Code != "" {
		n.post("", fmt.Sprintf("Join code %s: others type it under \"Join by code\".", n.st.Code), -1)
		if g.cfg.LobbyCode != nil {
			g.cfg.LobbyCode(n.st.Code)
		}
	}
	for _, m := range n.st.Chat { // the replay of recent lines
		n.post(n.name(m.From), m.Text, n.seat(m.From))
	}
	return n
}

func (n *netLobby) post(from, text string, seat int) {
	n.chat = append(n.chat, chatMsg{from, text, seat})
	if len(n.chat) > maxChatLines {
		n.chat = n.chat[len(n.chat)-maxChatLines:]
	}
}

// call runs f on its own goroutine; its error shows as a toast.
func (n *netLobby) call(f func(ctx context.Context, c *lobby.Client) error) {
	c := n.l.Client()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), lobbyCallTimeout)
		defer cancel()
		err := f(ctx, c)
		if err != nil && !errors.Is(err, lobby.ErrClosed) {
			select {
			case n.results <- err:
			default:
			}
		}
	}()
}

// leave closes the lobby (and stops hosting) off the frame and returns to
// the menu.
func (n *netLobby) leave(g *Game, why string) {
	n.left = true
	go n.l.Close()
	g.screen = newMenu(g)
	if why != "" {
		g.say("%s", why)
	}
}

func (n *netLobby) me() (lobby.Member, bool) { return n.st.Member(n.l.Client().ID()) }

func (n *netLobby) isHost() bool { return n.st.Host != "" && n.st.Host == n.l.Client().ID() }

// name returns a member's name from its metadata.
func (n *netLobby) name(id string) string {
	if m, ok := n.st.Member(id); ok && m.Meta[match.MemberName] != "" {
		return m.Meta[match.MemberName]
	}
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// seat returns a member's place in join order (its seat in the match), or
// -1.
func (n *netLobby) seat(id string) int {
	for i, m := range n.st.Members {
		if m.ID == id {
			return i
		}
	}
	return -1
}

func (n *netLobby) update(g *Game) error {
	for {
		select {
		case err := <-n.results:
			g.say("%v", err)
			continue
		case ev, ok := <-n.l.Client().Events():
			if !ok {
				n.leave(g, "The lobby connection closed")
				return nil
			}
			switch ev := ev.(type) {
			case lobby.StateChanged:
				n.st = ev.State
			case lobby.Resynced:
				if ev.Err != nil {
					n.leave(g, fmt.Sprintf("Lost the lobby: %v", ev.Err))
					return nil
				}
				n.st = ev.State
			case lobby.ChatReceived:
				n.post(n.name(ev.Message.From), ev.Message.Text, n.seat(ev.Message.From))
			case lobby.Kicked:
				n.leave(g, "Kicked from the lobby")
				return nil
			case lobby.Closed:
				why := "The lobby closed"
				if errors.Is(ev.Err, lobby.ErrHostGone) {
					why = "The lobby's host is gone"
				}
				n.leave(g, why)
				return nil
			case lobby.Started:
				// Play refuses a player count the arena cannot seat; the
				// backdrop is drawn for one it can.
				l, r := n.l, ev.Roster
				seats := min(max(len(r.Players), arena.MinPlayers), arena.MaxPlayers)
				g.screen = newConnect(g, "Starting the match", fmt.Sprintf("Connecting to %d players", len(r.Players)-1), seats, false,
					func(ctx context.Context, _ func(string)) (match.Session, error) { return l.Play(ctx, r, false) })
				return nil
			}
			continue
		default:
		}
		break
	}

	n.input = ebiten.AppendInputChars(n.input)
	if len(n.input) > 120 {
		n.input = n.input[:120]
	}
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		n.leave(g, "")
	case inpututil.IsKeyJustPressed(ebiten.KeyBackspace) && len(n.input) > 0:
		n.input = n.input[:len(n.input)-1]
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter):
		msg := strings.TrimSpace(string(n.input))
		n.input = n.input[:0]
		if msg != "" {
			n.call(func(ctx context.Context, c *lobby.Client) error {
				_, err := c.Chat(ctx, msg)
				return err
			})
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyTab):
		if n.isHost() {
			g.say("The host starts the match with F2")
			return nil
		}
		me, _ := n.me()
		ready := !me.Ready
		n.call(func(ctx context.Context, c *lobby.Client) error { return c.SetReady(ctx, ready) })
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowRight), inpututil.IsKeyJustPressed(ebiten.KeyArrowLeft):
		if !n.isHost() {
			g.say("Only the host changes the settings")
			return nil
		}
		d := 1
		if inpututil.IsKeyJustPressed(ebiten.KeyArrowLeft) {
			d = -1
		}
		size := min(max(n.st.MaxMembers+d, max(arena.MinPlayers, len(n.st.Members))), arena.MaxPlayers)
		if size != n.st.MaxMembers {
			n.call(func(ctx context.Context, c *lobby.Client) error {
				return c.SetSettings(ctx, lobby.SettingsData{MaxMembers: size})
			})
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyF2):
		switch {
		case !n.isHost():
			g.say("Waiting for the host to start")
		case len(n.st.Members) < arena.MinPlayers:
			g.say("Waiting for another player")
		case n.l.MapMissing(n.st) != nil:
			// The members fetch the map; the panel shows their progress.
			msg := mapViewOf(n.l.MapStatus(), n.l.MapMissing(n.st), n.name).Waiting
			if msg == "" {
				msg = "Offering the map"
			}
			g.say("%s", msg)
		default:
			n.call(func(ctx context.Context, c *lobby.Client) error {
				_, err := c.Start(ctx) // everyone, the host included, gets Started
				return err
			})
		}
	}
	return nil
}

func (n *netLobby) draw(g *Game, dst *ebiten.Image) {
	kind := "ONLINE LOBBY"
	if n.l.Host() != nil {
		kind = "LAN LOBBY (HOSTING)"
	}
	drawText(dst, kind, g.fonts.title, ArenaX, 24, ColorText, left)
	sub := fmt.Sprintf("%s · seed %d · first to %d rounds", n.st.Name, n.l.Seed(), arena.WinRounds)
	if n.st.Code != "" {
		sub += " · code " + n.st.Code
	}
	drawText(dst, sub, g.fonts.small, ArenaX, 64, ColorDim, left)

	// Members, in join order: their seats in the match.
	panel(dst, ArenaX, 100, 420, 300)
	title := fmt.Sprintf("Members %d/%d", len(n.st.Members), n.st.MaxMembers)
	if n.isHost() {
		title += "  (players < >)"
	}
	drawText(dst, title, g.fonts.body, ArenaX+16, 112, ColorAccent, left)
	me := n.l.Client().ID()
	for i, m := range n.st.Members {
		if i >= arena.MaxPlayers {
			break
		}
		y := float32(156 + i*56)
		vector.FillCircle(dst, ArenaX+30, y+14, 10, PlayerColors[i], true)
		label := n.name(m.ID)
		if m.ID == me {
			label += " (you)"
		}
		drawText(dst, label, g.fonts.body, ArenaX+52, float64(y)+2, ColorText, left)
		status, clr := "not ready", ColorBad
		switch {
		case m.ID == n.st.Host:
			status, clr = "host", ColorAccent
		case m.Ready:
			status, clr = "ready", rgb(0x4c, 0xe0, 0x7a)
		}
		drawText(dst, status, g.fonts.body, ArenaX+400, float64(y)+2, clr, right)
	}
	for i := len(n.st.Members); i < min(n.st.MaxMembers, arena.MaxPlayers); i++ {
		y := float32(156 + i*56)
		vector.StrokeCircle(dst, ArenaX+30, y+14, 10, 2, ColorDim, true)
		drawText(dst, "open seat", g.fonts.body, ArenaX+52, float64(y)+2, ColorDim, left)
	}

	// The lobby's map: this player's progress, and who lacks it.
	drawMapPanel(g, dst, mapViewOf(n.l.MapStatus(), n.l.MapMissing(n.st), n.name), ArenaX, 410, 420)

	// Chat.
	cx := float32(ArenaX + 440)
	cw := float32(ScreenWidth - ArenaX - 440 - ArenaX)
	panel(dst, cx, 100, cw, 460)
	drawText(dst, "Chat", g.fonts.body, float64(cx)+16, 112, ColorAccent, left)
	for i, c := range n.chat {
		who, clr := "", ColorDim
		switch {
		case c.seat >= 0 && c.seat < arena.MaxPlayers:
			who, clr = c.from+": ", PlayerColors[c.seat]
		case c.from != "":
			who, clr = c.from+": ", ColorText
		}
		drawText(dst, who+c.text, g.fonts.small, float64(cx)+16, 150+float64(i)*22, clr, left)
	}
	vector.FillRect(dst, cx+12, 520, cw-24, 28, ColorFloor, false)
	cursor := ""
	if g.frames/30%2 == 0 {
		cursor = "_"
	}
	drawText(dst, "> "+string(n.input)+cursor, g.fonts.small, float64(cx)+20, 525, ColorText, left)

	help := "Type to chat · Enter send · Tab ready · Esc leave"
	if n.isHost() {
		help = "Type to chat · Enter send · Left/Right players · F2 start · Esc leave"
	}
	drawText(dst, help, g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
