package ui

import (
	"context"
	"fmt"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
)

// hostLAN hosts a LAN lobby (this process serves it and advertises it)
// and opens the lobby screen.
func hostLAN(g *Game, players int) {
	cfg := g.lobbyConfig(match.LobbyConfig{Players: players, Seed: g.cfg.Seed, Player: g.cfg.Name}, true)
	g.screen = newLobbyConnect(g, "Host on LAN", "Starting the server and advertising the lobby",
		func(ctx context.Context, _ func(string)) (*match.Lobby, error) { return match.HostLAN(ctx, cfg) })
}

// browse is the "Join on LAN" screen: a live list of the matches hosted on
// the LAN. The browser runs on its own goroutine; Update drains its events.
type browse struct {
	browser *lobby.Browser
	err     error
	lobbies []lobby.LANLobby
	sel     int
}

func newBrowse(g *Game) *browse {
	b := &browse{}
	b.browser, b.err = match.BrowseLAN(context.Background(), match.LobbyConfig{})
	return b
}

func (b *browse) close() {
	if b.browser != nil {
		go b.browser.Close() // waits for its goroutine: not on the frame
	}
}

func (b *browse) update(g *Game) error {
	if b.browser != nil {
		// The browser keeps the list; its events only say when to read it.
		changed := false
	drain:
		for {
			select {
			case _, ok := <-b.browser.Events():
				changed = true
				if !ok {
					break drain
				}
			default:
				break drain
			}
		}
		if changed {
			b.lobbies = b.browser.Lobbies()
		}
	}
	b.sel = min(b.sel, max(len(b.lobbies)-1, 0))
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		b.close()
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowDown):
		b.sel = min(b.sel+1, max(len(b.lobbies)-1, 0))
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowUp):
		b.sel = max(b.sel-1, 0)
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter) && len(b.lobbies) > 0:
		b.close()
		l := b.lobbies[b.sel]
		cfg := g.lobbyConfig(match.LobbyConfig{Player: g.cfg.Name}, false)
		g.screen = newLobbyConnect(g, "Join on LAN", fmt.Sprintf("Joining %q", l.Name),
			func(ctx context.Context, _ func(string)) (*match.Lobby, error) { return match.JoinLAN(ctx, l, cfg) })
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
		drawText(dst, fmt.Sprintf("%d/%d players · %s", l.Players, l.Max, l.URL), g.fonts.small, ScreenWidth-ArenaX-20, float64(y)+4, ColorDim, right)
	}
	drawText(dst, "Up/Down choose · Enter join · Esc back", g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
