package ui

import (
	"context"
	"fmt"
	"runtime"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
)

// notAvailable is what the items whose backend this build lacks say.
const notAvailable = "not available in this build"

type menuItem struct {
	label string
	note  string // shown under the item when selected
	// run activates the item; nil means it is not available.
	run func(g *Game) error
	// why is shown after the label of an item that is not available.
	// Empty means "not available in this build".
	why string
	// adjust changes the item's value with Left and Right; may be nil.
	adjust func(g *Game, delta int)
}

type menu struct {
	items []menuItem
	sel   int
	bots  int
}

func newMenu(g *Game) *menu {
	m := &menu{bots: g.cfg.Players - 1}
	var onlineRun, createRun, codeRun func(*Game) error
	online := "Start the demo with -server ws://HOST:PORT/ws to play online."
	create := "Start the demo with -server ws://HOST:PORT/ws for online lobbies."
	code := create
	onlineWhy := "needs -server"
	if runtime.GOOS == "js" {
		// In a browser the server is the one that served the page, or
		// the page's ?server= parameter.
		online = "Open the demo from a rallypoint server (serve -web), or add ?server=ws://HOST:PORT/ws."
		create, code = online, online
		onlineWhy = "needs ?server="
	}
	if g.cfg.ServerURL != "" {
		if g.cfg.Online != nil {
			online = fmt.Sprintf("The matchmaker on %s finds you an opponent (1v1 queue).", g.cfg.ServerURL)
			onlineRun = func(g *Game) error {
				g.startOnline(false)
				return nil
			}
		}
		create = fmt.Sprintf("A lobby on %s; friends join with its code (-players sets the size).", g.cfg.ServerURL)
		createRun = func(g *Game) error {
			cfg := g.lobbyConfig(match.LobbyConfig{Players: g.cfg.Players, Seed: g.cfg.Seed, Player: g.cfg.Name}, true)
			url := g.cfg.ServerURL
			g.screen = newLobbyConnect(g, "Create online lobby", "Creating a lobby on "+url,
				func(ctx context.Context, _ func(string)) (*match.Lobby, error) {
					return match.CreateLobby(ctx, url, cfg)
				})
			return nil
		}
		code = "Type a lobby's 6-character join code."
		codeRun = func(g *Game) error {
			g.screen = newCodeEntry()
			return nil
		}
	}
	nearbyNote := "See who is around on your network and invite them; you become visible."
	if g.cfg.ServerURL != "" && g.cfg.Nearby != nil {
		nearbyNote = "See who is on " + g.cfg.ServerURL + " and invite them; you become visible."
	}
	m.items = []menuItem{
		{
			label: "Play vs bots",
			note:  "Rollback netcode on a simulated network (F5/F6 lag, loss). Left/Right: bots.",
			run: func(g *Game) error {
				return g.startMatch(m.bots+1, false)
			},
			adjust: func(g *Game, d int) {
				m.bots = min(max(m.bots+d, arena.MinPlayers-1), arena.MaxPlayers-1)
			},
		},
		{
			label: "Local lobby",
			note:  "Seats, chat, ready and settings before a local match.",
			run: func(g *Game) error {
				g.screen = newLobby(g, m.bots+1)
				return nil
			},
		},
		{
			label: "Watch bots play",
			note:  "Every seat is a bot; the next match starts by itself.",
			run: func(g *Game) error {
				return g.startMatch(m.bots+1, true)
			},
		},
		{
			label: "Host on LAN",
			note:  "Serve and advertise a match on your network, no server needed (-players sets the size).",
			run: lanOnly(func(g *Game) error {
				hostLAN(g, g.cfg.Players)
				return nil
			}),
			why: "needs UDP multicast, not in a browser",
		},
		{
			label: "Join on LAN",
			note:  "A live list of the matches hosted on your network.",
			run: lanOnly(func(g *Game) error {
				g.screen = newBrowse(g)
				return nil
			}),
			why: "needs UDP multicast, not in a browser",
		},
		{
			label: "Nearby players",
			note:  nearbyNote,
			run: lanOnly(func(g *Game) error {
				g.screen = newNearbyScreen(g)
				return nil
			}),
			why: "needs UDP multicast, not in a browser",
		},
		{label: "Quick match online", note: online, run: onlineRun, why: onlineWhy},
		{label: "Create online lobby", note: create, run: createRun, why: onlineWhy},
		{label: "Join by code", note: code, run: codeRun, why: onlineWhy},
	}
	if runtime.GOOS != "js" {
		m.items = append(m.items, menuItem{label: "Quit", run: func(*Game) error { return errQuit }})
	}
	return m
}

func (m *menu) update(g *Game) error {
	if g.updateInviteKeys() {
		return nil
	}
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowDown) || inpututil.IsKeyJustPressed(ebiten.KeyS):
		m.sel = (m.sel + 1) % len(m.items)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowUp) || inpututil.IsKeyJustPressed(ebiten.KeyW):
		m.sel = (m.sel + len(m.items) - 1) % len(m.items)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowLeft) || inpututil.IsKeyJustPressed(ebiten.KeyA):
		if a := m.items[m.sel].adjust; a != nil {
			a(g, -1)
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowRight) || inpututil.IsKeyJustPressed(ebiten.KeyD):
		if a := m.items[m.sel].adjust; a != nil {
			a(g, +1)
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter) || inpututil.IsKeyJustPressed(ebiten.KeySpace):
		it := m.items[m.sel]
		if it.run == nil {
			g.say("%s: %s", it.label, it.note)
			return nil
		}
		return it.run(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape) && runtime.GOOS != "js":
		return errQuit
	}
	return nil
}

func (m *menu) draw(g *Game, dst *ebiten.Image) {
	// A backdrop: the arena's walls, dimmed.
	drawArena(dst, emptyArena(m.bots+1))
	vector.FillRect(dst, 0, 0, ScreenWidth, ScreenHeight, fade(ColorBackground, 0.72), false)

	drawText(dst, "RALLYPOINT ARENA", g.fonts.huge, ScreenWidth/2, 36, ColorText, center)
	drawText(dst, "tanks · bouncing bullets · first to 3 rounds", g.fonts.body, ScreenWidth/2, 160, ColorDim, center)

	const w = 460
	rowH := float32(44)
	if len(m.items) > 9 {
		rowH = 40 // the list stays on the screen
	}
	x := float32(ScreenWidth-w) / 2
	y0 := float32(220)
	panel(dst, x-20, y0-16, w+40, float32(len(m.items))*rowH+96)
	for i, it := range m.items {
		y := y0 + float32(i)*rowH
		label := it.label
		if i == 0 {
			label = fmt.Sprintf("Play vs %d bot", m.bots)
			if m.bots > 1 {
				label += "s"
			}
			label += "   < >"
		}
		clr := ColorText
		if it.run == nil {
			clr = ColorDim
			why := it.why
			if why == "" {
				why = notAvailable
			}
			label += "   (" + why + ")"
		}
		if i == m.sel {
			vector.FillRect(dst, x-8, y-4, w+16, rowH-6, fade(ColorAccent, 0.16), false)
			vector.FillRect(dst, x-8, y-4, 4, rowH-6, ColorAccent, false)
			if it.run != nil {
				clr = ColorAccent
			}
		}
		drawText(dst, label, g.fonts.body, float64(x)+8, float64(y)+4, clr, left)
	}
	note := m.items[m.sel].note
	drawText(dst, note, g.fonts.small, ScreenWidth/2, float64(y0)+float64(float32(len(m.items))*rowH)+22, ColorDim, center)

	help := "Up/Down choose · Enter select · In a match: arrows drive, Space fires, Shift dashes"
	drawText(dst, help, g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
	for i := 0; i < arena.MaxPlayers; i++ {
		vector.FillCircle(dst, ScreenWidth/2-45+float32(i)*30, 138, 8, PlayerColors[i], true)
	}
}

// createOnline creates a lobby on the server, with the local player as
// host, and opens it.
func createOnline(g *Game) *connect {
	cfg := g.lobbyConfig(match.LobbyConfig{Players: g.cfg.Players, Seed: g.cfg.Seed, Player: g.cfg.Name}, true)
	url := g.cfg.ServerURL
	return newLobbyConnect(g, "Create online lobby", "Creating a lobby on "+url,
		func(ctx context.Context, _ func(string)) (*match.Lobby, error) {
			return match.CreateLobby(ctx, url, cfg)
		})
}

// emptyArena returns a state at the start of a match, for backdrops.
func emptyArena(players int) *arena.State {
	if backdrops[players] == nil {
		backdrops[players] = arena.New(players, 0)
	}
	return backdrops[players]
}

var backdrops [arena.MaxPlayers + 1]*arena.State

// lanOnly returns run, or nil (not available) in a browser, which has no
// UDP multicast for LAN discovery.
func lanOnly(run func(*Game) error) func(*Game) error {
	if runtime.GOOS == "js" {
		return nil
	}
	return run
}
