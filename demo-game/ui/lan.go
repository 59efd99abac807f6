package ui

import (
	"context"
	"fmt"
	"slices"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// hostLAN starts hosting a LAN match with the local player in seat 0 of
// its room, and waits for the others on the connect screen.
func hostLAN(g *Game, players int) {
	seed := g.cfg.Seed
	g.screen = newConnect(g, "Host on LAN", "Starting the server and advertising the match", players, false,
		func(ctx context.Context, say func(string)) (match.Session, error) {
			return match.HostLANMatch(ctx, match.LANConfig{Players: players, Seed: seed}, false, func(l match.LANLobby) {
				say(fmt.Sprintf("Hosting %q: waiting for %d more players", l.Name, l.Players-1))
			})
		})
}

// browse is the "Join on LAN" screen: a live list of the matches hosted on
// the LAN. The browser runs on its own goroutine; Update drains its events.
type browse struct {
	cancel  context.CancelFunc
	events  <-chan match.LANEvent
	err     error
	lobbies []match.LANLobby
	sel     int
}

func newBrowse(g *Game) *browse {
	ctx, cancel := context.WithCancel(context.Background())
	b := &browse{cancel: cancel}
	b.events, b.err = match.BrowseLAN(ctx, match.LANConfig{})
	return b
}

func (b *browse) update(g *Game) error {
	for b.events != nil {
		select {
		case ev, ok := <-b.events:
			if !ok {
				b.events = nil
				continue
			}
			i := slices.IndexFunc(b.lobbies, func(l match.LANLobby) bool { return l.Name == ev.Lobby.Name })
			switch {
			case ev.Gone && i >= 0:
				b.lobbies = slices.Delete(b.lobbies, i, i+1)
			case !ev.Gone && i >= 0:
				b.lobbies[i] = ev.Lobby
			case !ev.Gone:
				b.lobbies = append(b.lobbies, ev.Lobby)
			}
			continue
		default:
		}
		break
	}
	b.sel = min(b.sel, max(len(b.lobbies)-1, 0))
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		b.cancel()
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowDown):
		b.sel = min(b.sel+1, max(len(b.lobbies)-1, 0))
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowUp):
		b.sel = max(b.sel-1, 0)
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter) && len(b.lobbies) > 0:
		b.cancel()
		l := b.lobbies[b.sel]
		g.screen = newConnect(g, "Join on LAN", fmt.Sprintf("Joining %q", l.Name), l.Players, false,
			func(ctx context.Context, say func(string)) (match.Session, error) {
				return match.JoinLAN(ctx, l, false)
			})
	}
	return nil
}

func (b *browse) draw(g *Game, dst *ebiten.Image) {
	drawText(dst, "JOIN ON LAN", g.fonts.title, ArenaX, 24, ColorText, left)
	drawText(dst, "Matches hosted on your network, found over mDNS/DNS-SD", g.fonts.small, ArenaX, 64, ColorDim, left)
	panel(dst, ArenaX, 100, ScreenWidth-2*ArenaX, 500)
	switch {
	case b.err != nil:
		drawText(dst, fmt.Sprintf("LAN discovery failed: %v", b.err), g.fonts.body, ArenaX+20, 120, ColorBad, left)
	case len(b.lobbies) == 0:
		drawText(dst, "Looking for matches"+"...."[:1+g.frames/20%4], g.fonts.body, ArenaX+20, 120, ColorDim, left)
	}
	for i, l := range b.lobbies {
		y := float32(116 + i*44)
		clr := ColorText
		if i == b.sel {
			vector.FillRect(dst, ArenaX+8, y-4, ScreenWidth-2*ArenaX-16, 38, fade(ColorAccent, 0.16), false)
			clr = ColorAccent
		}
		drawText(dst, l.Name, g.fonts.body, ArenaX+20, float64(y), clr, left)
		drawText(dst, fmt.Sprintf("%d players · %s", l.Players, l.URL), g.fonts.small, ScreenWidth-ArenaX-20, float64(y)+4, ColorDim, right)
	}
	drawText(dst, "Up/Down choose · Enter join · Esc back", g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
