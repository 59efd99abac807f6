package ui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby/nearby"
)

// Config configures the game. The zero value opens the main menu with "Play
// vs bots" selected.
type Config struct {
	// ServerURL is the rallypoint server for online play. Empty means
	// none: the online items say so.
	ServerURL string
	// Name is the player's name, shown to the other members of a lobby.
	// Empty means "Player".
	Name string
	// Players is the number of seats in a quick match, arena.MinPlayers
	// to arena.MaxPlayers. Zero means 2 (you against one bot).
	Players int
	// Seed seeds matches. Zero is a valid seed.
	Seed uint64
	// Map is the map file (arena.ParseMap) of the lobbies this player
	// hosts: offered to their members, who fetch it before the match
	// (match.LobbyConfig.Map). Nil: the default arena. Local matches take
	// their map from NewSession.
	Map []byte
	// MapCache is where maps received in lobbies are kept
	// (match.LobbyConfig.MapCache). Empty: nowhere.
	MapCache string
	// SpectateDelay is how far behind the match the spectators of the
	// lobbies this player hosts watch (match.LobbyConfig.SpectateDelay:
	// zero means 3 s, negative none).
	SpectateDelay time.Duration
	// Bot plays the local seat with the bot, and starts a match at once
	// (attract mode, and screenshots of a real match).
	Bot bool
	// Overlay shows the network overlay from the start (F3 toggles it).
	Overlay bool
	// Start is the screen to open on: "" or "menu", "lobby" (against
	// bots), "lan" (the list of LAN lobbies), "nearby" (the players
	// nearby; the player becomes visible), "online" (a new lobby on
	// ServerURL), or "results" (of a bot match played at once without
	// drawing). Bot overrides it.
	Start string
	// Frames exits the game after this many frames. Zero means never.
	Frames int
	// FramesInMatch counts Frames only while a match is on screen, so a
	// scripted run gets the same match time however long the menus took.
	FramesInMatch bool
	// Trace, if set, is called on the game loop with what the player
	// sees change: "screen NAME" when another screen opens (menu, code, nearby,
	// connect, browse, local-lobby, lobby, play, results), "menu LABEL"
	// when the menu's selection moves and "say TEXT" when a message shows
	// at the bottom of the screen (an error, a hint). Scripts that drive the window wait
	// on it instead of on the clock. Nil means nothing is told.
	Trace func(event string)
	// Screenshot is a PNG file to write the screen to when the game exits
	// after Frames. Empty means no screenshot.
	Screenshot string
	// Lag and Loss are the simulated network's initial one-way lag and
	// loss ratio (F5 and F6 change them in a match). Zero: a perfect
	// network.
	Lag  time.Duration
	Loss float64
	// NewSession starts a match. Nil means a rollback match over the
	// network simulator (match.NewSimulated): the local player (or a bot)
	// and bots, each seat a peer with its own rollback session.
	NewSession func(players int, seed uint64, allBots bool) (match.Session, error)
	// LobbyCode, when set, is called with the join code of a lobby the
	// player enters (the screen shows it too). Nil means it is only shown.
	LobbyCode func(code string)
	// Online connects an online match (the menu's "Quick match online";
	// with Bot, at once, the local seat played by the bot). It may block
	// until the other players arrive; it runs on its own goroutine and must
	// return when ctx is done. Nil, or an empty ServerURL, makes online
	// play unavailable.
	Online func(ctx context.Context, players int, seed uint64, allBots bool) (match.Session, error)
	// Nearby starts the player's presence among nearby players when the
	// Nearby screen first opens. Nil means nearby.StartLAN (DNS-SD on
	// every multicast interface). With ServerURL set as well, the screen
	// invites to online lobbies on it (nearby.StartOnline fits).
	Nearby func(ctx context.Context, cfg nearby.Config) (*nearby.Nearby, error)
}

// Game implements ebiten.Game: the screens of the demo.
type Game struct {
	cfg    Config
	fonts  *fonts
	screen screen
	frames int

	toast      string
	toastUntil int

	shotDue  bool  // the next Draw writes the screenshot
	shotDone bool  // the screenshot is written: exit
	shotErr  error // why writing it failed

	onlineIn int // ticks until the bot's quick match starts (0: none due)

	traced     string // the screen last told to Config.Trace
	tracedItem string // the menu item last told

	nearby *nearbyHub // nil until the Nearby screen opens
}

// screen is one screen of the game.
type screen interface {
	update(g *Game) error
	draw(g *Game, dst *ebiten.Image)
}

// New returns the game, on the main menu or, with cfg.Bot, in a match.
func New(cfg Config) (*Game, error) {
	if cfg.Players == 0 {
		cfg.Players = arena.MinPlayers
	}
	if !arena.ValidPlayers(cfg.Players) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", match.ErrBadConfig, cfg.Players, arena.MinPlayers, arena.MaxPlayers)
	}
	if cfg.NewSession == nil {
		cfg.NewSession = func(players int, seed uint64, allBots bool) (match.Session, error) {
			return match.NewSimulated(match.SimConfig{Players: players, Seed: seed, AllBots: allBots, Lag: cfg.Lag, Loss: cfg.Loss})
		}
	}
	f, err := loadFonts()
	if err != nil {
		return nil, fmt.Errorf("ui: loading fonts: %w", err)
	}
	g := &Game{cfg: cfg, fonts: f}
	switch cfg.Start {
	case "", "menu":
		g.screen = newMenu(g)
	case "lobby":
		g.screen = newLobby(g, cfg.Players)
	case "lan":
		g.screen = newBrowse(g)
	case "nearby":
		g.screen = newNearbyScreen(g)
	case "online":
		if cfg.ServerURL == "" {
			return nil, fmt.Errorf("%w: start screen online needs a server URL", match.ErrBadConfig)
		}
		g.screen = createOnline(g)
	case "results":
		sess, err := cfg.NewSession(cfg.Players, cfg.Seed, true)
		if err != nil {
			return nil, err
		}
		_, err = match.Run(context.Background(), sess, match.RunConfig{Fast: true})
		if err != nil {
			return nil, err
		}
		final := *sess.State()
		sess.Close()
		g.screen = newResults(g, &final, -1)
	default:
		return nil, fmt.Errorf("%w: start screen %q, want menu, lobby, lan, nearby, online or results", match.ErrBadConfig, cfg.Start)
	}
	switch {
	case cfg.Bot && cfg.ServerURL != "" && cfg.Online != nil:
		// Once the game loop runs: its first frames compile the GPU
		// programs, which can hold a browser's only thread for longer
		// than a dial waits for the server's answer.
		g.onlineIn = onlineDelay
	case cfg.Bot:
		if err := g.startMatch(cfg.Players, true); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Run opens the window and runs the game until it exits.
func Run(cfg Config) error {
	g, err := New(cfg)
	if err != nil {
		return err
	}
	ebiten.SetWindowSize(ScreenWidth, ScreenHeight)
	ebiten.SetWindowTitle("Rallypoint Arena")
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	ebiten.SetTPS(arena.TickRate)
	err = ebiten.RunGame(g)
	g.closeNearby()
	if g.shotErr != nil {
		return g.shotErr
	}
	return err
}

func (g *Game) startMatch(players int, allBots bool) error {
	sess, err := g.cfg.NewSession(players, g.cfg.Seed, allBots)
	if err != nil {
		return err
	}
	g.screen = newPlay(g, sess, allBots)
	return nil
}

// startOnline opens the connecting screen of a quick match online.
func (g *Game) startOnline(allBots bool) {
	online, players, seed := g.cfg.Online, g.cfg.Players, g.cfg.Seed
	g.screen = newConnect(g, "Quick match online", "The matchmaker on "+g.cfg.ServerURL+" is finding an opponent", players, allBots,
		func(ctx context.Context, _ func(string)) (match.Session, error) {
			return online(ctx, players, seed, allBots)
		})
}

// say shows a message at the bottom of the screen for a few seconds.
func (g *Game) say(format string, args ...any) {
	g.toast = fmt.Sprintf(format, args...)
	g.toastUntil = g.frames + 4*arena.TickRate
	if g.cfg.Trace != nil {
		g.cfg.Trace("say " + g.toast)
	}
}

// onlineDelay is how many ticks the game loop runs before Config.Bot's
// quick match online starts.
const onlineDelay = arena.TickRate / 2

// errQuit ends the game from a screen.
var errQuit = errors.New("ui: quit")

// Update implements ebiten.Game.
func (g *Game) Update() error {
	if g.shotDone {
		return ebiten.Termination
	}
	if g.shotDue {
		return nil // waiting for Draw to take the screenshot
	}
	if g.onlineIn > 0 {
		if g.onlineIn--; g.onlineIn == 0 {
			g.startOnline(true)
		}
	}
	if _, inMatch := g.screen.(*play); inMatch || !g.cfg.FramesInMatch {
		g.frames++
	}
	g.pollNearby()
	err := g.screen.update(g)
	g.trace()
	if err != nil {
		if errors.Is(err, errQuit) {
			return ebiten.Termination
		}
		return err
	}
	if g.cfg.Frames > 0 && g.frames >= g.cfg.Frames {
		if g.cfg.Screenshot == "" {
			return ebiten.Termination
		}
		g.shotDue = true
	}
	return nil
}

// Draw implements ebiten.Game.
func (g *Game) Draw(dst *ebiten.Image) {
	dst.Fill(ColorBackground)
	g.screen.draw(g, dst)
	if _, ok := g.screen.(*menu); ok {
		g.drawInvite(dst, 152) // over the tagline, above the items
	}
	if g.toast != "" && g.frames < g.toastUntil {
		w := float32(len(g.toast))*9 + 40
		panel(dst, (ScreenWidth-w)/2, ScreenHeight-62, w, 30)
		drawText(dst, g.toast, g.fonts.small, ScreenWidth/2, ScreenHeight-55, ColorAccent, center)
	}
	if g.shotDue && !g.shotDone {
		g.shotErr = writePNG(dst, g.cfg.Screenshot)
		g.shotDone = true
	}
}

// Layout implements ebiten.Game: a fixed logical screen, scaled to the
// window.
func (g *Game) Layout(int, int) (int, int) { return ScreenWidth, ScreenHeight }

func writePNG(img *ebiten.Image, path string) error {
	b := img.Bounds()
	rgba := image.NewRGBA(b)
	img.ReadPixels(rgba.Pix)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ui: screenshot: %w", err)
	}
	if err := png.Encode(f, rgba); err != nil {
		f.Close()
		return fmt.Errorf("ui: screenshot: %w", err)
	}
	return f.Close()
}

// since formats a duration for the overlay.
func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// trace tells Config.Trace what changed on screen since the last tick.
func (g *Game) trace() {
	if g.cfg.Trace == nil {
		return
	}
	if name := screenName(g.screen); name != g.traced {
		g.traced = name
		g.cfg.Trace("screen " + name)
	}
	if m, ok := g.screen.(*menu); ok {
		if label := m.items[m.sel].label; label != g.tracedItem {
			g.tracedItem = label
			g.cfg.Trace("menu " + label)
		}
	} else {
		g.tracedItem = ""
	}
}

// screenName names a screen for Config.Trace.
func screenName(s screen) string {
	switch s.(type) {
	case *menu:
		return "menu"
	case *codeEntry:
		return "code"
	case *nearbyScreen:
		return "nearby"
	case *connect:
		return "connect"
	case *browse:
		return "browse"
	case *localLobby:
		return "local-lobby"
	case *netLobby:
		return "lobby"
	case *play:
		return "play"
	case *results:
		return "results"
	}
	return "other"
}
