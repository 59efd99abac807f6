package ui

import (
	"context"
	"errors"
	"fmt"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// connect is the screen shown while an online match is being set up: the
// dial runs on its own goroutine, and Update only polls for its outcome, so
// the window stays responsive and Esc cancels.
type connect struct {
	players int
	cancel  context.CancelFunc
	done    chan dialed
	started int
}

type dialed struct {
	sess match.Session
	err  error
}

func newConnect(g *Game, players int) *connect {
	ctx, cancel := context.WithCancel(context.Background())
	c := &connect{players: players, cancel: cancel, done: make(chan dialed, 1), started: g.frames}
	online, seed := g.cfg.Online, g.cfg.Seed
	go func() {
		sess, err := online(ctx, players, seed)
		c.done <- dialed{sess, err}
	}()
	return c
}

func (c *connect) update(g *Game) error {
	select {
	case d := <-c.done:
		c.cancel()
		switch {
		case d.err != nil && errors.Is(d.err, context.Canceled):
			g.screen = newMenu(g)
		case d.err != nil:
			g.screen = newMenu(g)
			g.say("Online: %v", d.err)
		default:
			g.screen = newPlay(g, d.sess, false)
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
			if d := <-done; d.sess != nil {
				d.sess.Close()
			}
		}(c.done)
	}
	return nil
}

func (c *connect) draw(g *Game, dst *ebiten.Image) {
	drawArena(dst, emptyArena(c.players))
	dots := "...."[:1+(g.frames-c.started)/20%4]
	drawText(dst, "Quick match online", g.fonts.title, ScreenWidth/2, 260, ColorText, center)
	drawText(dst, fmt.Sprintf("Waiting for %d players and connecting peer to peer%s", c.players, dots), g.fonts.body, ScreenWidth/2, 320, ColorAccent, center)
	drawText(dst, "server "+g.cfg.ServerURL, g.fonts.small, ScreenWidth/2, 360, ColorDim, center)
	drawText(dst, "Esc cancels", g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
