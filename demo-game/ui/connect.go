package ui

import (
	"context"
	"errors"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// connect is the screen shown while a networked match is set up (queueing
// online, hosting or joining on the LAN): the dial runs on its own
// goroutine and Update only polls for its outcome, so the window stays
// responsive and Esc cancels.
type connect struct {
	title   string
	status  chan string // progress lines from the dial goroutine
	line    string
	players int
	watch   bool // the local seat is a bot
	cancel  context.CancelFunc
	done    chan dialed
	started int
}

type dialed struct {
	sess  match.Session
	lobby *match.Lobby // set instead of sess: open the lobby screen
	err   error
}

// dialFunc sets up a match; say reports progress to the screen.
type dialFunc func(ctx context.Context, say func(string)) (match.Session, error)

func newConnect(g *Game, title, first string, players int, watch bool, dial dialFunc) *connect {
	return newPending(g, title, first, players, watch, func(ctx context.Context, say func(string)) dialed {
		sess, err := dial(ctx, say)
		return dialed{sess: sess, err: err}
	})
}

// lobbyFunc enters a lobby (creates, hosts or joins one).
type lobbyFunc func(ctx context.Context, say func(string)) (*match.Lobby, error)

// newLobbyConnect shows the connect screen while enter runs, then the
// lobby screen.
func newLobbyConnect(g *Game, title, first string, enter lobbyFunc) *connect {
	return newPending(g, title, first, g.cfg.Players, false, func(ctx context.Context, say func(string)) dialed {
		l, err := enter(ctx, say)
		return dialed{lobby: l, err: err}
	})
}

func newPending(g *Game, title, first string, players int, watch bool, dial func(ctx context.Context, say func(string)) dialed) *connect {
	ctx, cancel := context.WithCancel(context.Background())
	c := &connect{title: title, line: first, players: players, watch: watch, cancel: cancel,
		status: make(chan string, 8), done: make(chan dialed, 1), started: g.frames}
	say := func(s string) {
		select {
		case c.status <- s:
		default: // the screen shows the latest lines only
		}
	}
	go func() { c.done <- dial(ctx, say) }()
	return c
}

func (c *connect) update(g *Game) error {
	for {
		select {
		case s := <-c.status:
			c.line = s
			continue
		default:
		}
		break
	}
	select {
	case d := <-c.done:
		c.cancel()
		switch {
		case d.err != nil && errors.Is(d.err, context.Canceled):
			g.screen = newMenu(g)
		case d.err != nil:
			g.screen = newMenu(g)
			g.say("%s: %v", c.title, d.err)
		case d.lobby != nil:
			g.screen = newNetLobby(g, d.lobby)
		default:
			g.screen = newPlay(g, d.sess, c.watch)
		}
		return nil
	default:
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyEscape) {
		c.cancel()
		g.screen = newMenu(g)
		// The dial returns soon after the cancel; close a session that
		// made it through anyway.
		go func(done chan dialed) {
			d := <-done
			if d.sess != nil {
				d.sess.Close()
			}
			if d.lobby != nil {
				d.lobby.Close()
			}
		}(c.done)
	}
	return nil
}

func (c *connect) draw(g *Game, dst *ebiten.Image) {
	drawArena(dst, emptyArena(c.players))
	dots := "...."[:1+(g.frames-c.started)/20%4]
	panel(dst, 162, 220, 700, 180)
	drawText(dst, c.title, g.fonts.title, ScreenWidth/2, 240, ColorText, center)
	drawText(dst, c.line+dots, g.fonts.body, ScreenWidth/2, 300, ColorAccent, center)
	drawText(dst, "Esc cancels", g.fonts.small, ScreenWidth/2, 360, ColorDim, center)
}
