package ui

import (
	"fmt"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// results is the screen after a match.
type results struct {
	final *arena.State
	me    int
}

func newResults(g *Game, final *arena.State, me int) *results {
	return &results{final: final, me: me}
}

func (r *results) update(g *Game) error {
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter):
		g.cfg.Seed++
		return g.startMatch(int(r.final.NumPlayers), false)
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		g.screen = newMenu(g)
	}
	return nil
}

func (r *results) draw(g *Game, dst *ebiten.Image) {
	s := r.final
	drawArena(dst, s)
	vector.FillRect(dst, 0, 0, ScreenWidth, ScreenHeight, fade(ColorBackground, 0.75), false)
	w := int(s.MatchWinner)
	title := PlayerNames[w] + " wins the match!"
	if w == r.me {
		title = "You win the match!"
	}
	drawText(dst, title, g.fonts.huge, ScreenWidth/2, 110, PlayerColors[w], center)

	const tw = 520
	x := float32(ScreenWidth-tw) / 2
	y := float32(250)
	n := int(s.NumPlayers)
	panel(dst, x-20, y-20, tw+40, float32(n)*44+80)
	drawText(dst, "Player", g.fonts.small, float64(x), float64(y), ColorDim, left)
	drawText(dst, "Rounds", g.fonts.small, float64(x)+300, float64(y), ColorDim, right)
	drawText(dst, "Kills", g.fonts.small, float64(x)+tw, float64(y), ColorDim, right)
	for i := 0; i < n; i++ {
		p := &s.Players[i]
		ry := float64(y) + 34 + float64(i)*44
		name := PlayerNames[i]
		if i == r.me {
			name += " (you)"
		}
		vector.FillCircle(dst, x+8, float32(ry)+12, 8, PlayerColors[i], true)
		drawText(dst, name, g.fonts.body, float64(x)+26, ry, PlayerColors[i], left)
		drawText(dst, fmt.Sprint(p.Wins), g.fonts.body, float64(x)+300, ry, ColorText, right)
		drawText(dst, fmt.Sprint(p.Kills), g.fonts.body, float64(x)+tw, ry, ColorText, right)
	}
	foot := fmt.Sprintf("%d frames · %d rounds · checksum %016x", s.Frame, s.Round, s.Checksum())
	drawText(dst, foot, g.fonts.small, ScreenWidth/2, float64(y)+float64(n)*44+70, ColorDim, center)
	drawText(dst, "Enter: play again · Esc: menu", g.fonts.body, ScreenWidth/2, ScreenHeight-80, ColorText, center)
}
