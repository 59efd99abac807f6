package ui

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
)

// The lag and loss steps F5 and F6 cycle through.
var (
	lagSteps  = []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	lossSteps = []float64{0, 0.05, 0.10, 0.25}
)

// play is the match screen.
type play struct {
	sess    match.Session
	watch   bool // every seat is a bot: the next match starts by itself
	overFor int  // frames since the match ended
	overlay bool
	stats   match.Stats
	lag     int // index in lagSteps
	loss    int // index in lossSteps
}

func newPlay(g *Game, sess match.Session, watch bool) *play {
	p := &play{sess: sess, watch: watch, overlay: g.cfg.Overlay}
	// Start the F5/F6 cycles at the configured conditions.
	for i, l := range lagSteps {
		if l == g.cfg.Lag {
			p.lag = i
		}
	}
	for i, l := range lossSteps {
		if l == g.cfg.Loss {
			p.loss = i
		}
	}
	return p
}

// keyboard reads the local player's controls: arrows or WASD to drive,
// Space (or J) to fire, Shift (or K) to dash.
func keyboard() arena.Input {
	var in arena.Input
	pressed := func(keys ...ebiten.Key) bool {
		for _, k := range keys {
			if ebiten.IsKeyPressed(k) {
				return true
			}
		}
		return false
	}
	if pressed(ebiten.KeyArrowUp, ebiten.KeyW) {
		in |= arena.InputUp
	}
	if pressed(ebiten.KeyArrowDown, ebiten.KeyS) {
		in |= arena.InputDown
	}
	if pressed(ebiten.KeyArrowLeft, ebiten.KeyA) {
		in |= arena.InputLeft
	}
	if pressed(ebiten.KeyArrowRight, ebiten.KeyD) {
		in |= arena.InputRight
	}
	if pressed(ebiten.KeySpace, ebiten.KeyJ) {
		in |= arena.InputFire
	}
	if pressed(ebiten.KeyShiftLeft, ebiten.KeyShiftRight, ebiten.KeyK) {
		in |= arena.InputDash
	}
	return in
}

func (p *play) update(g *Game) error {
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		p.sess.Close()
		g.screen = newMenu(g)
		return nil
	case inpututil.IsKeyJustPressed(ebiten.KeyF3):
		p.overlay = !p.overlay
	case inpututil.IsKeyJustPressed(ebiten.KeyF5):
		p.condition(g, (p.lag+1)%len(lagSteps), p.loss)
	case inpututil.IsKeyJustPressed(ebiten.KeyF6):
		p.condition(g, p.lag, (p.loss+1)%len(lossSteps))
	}
	s := p.sess.State()
	var in arena.Input
	if p.sess.LocalPlayer() >= 0 {
		in = keyboard()
	}
	if err := p.sess.Tick(in); err != nil {
		if match.Lost(err) {
			// The match ended for this player (dropped by the others, or
			// it never started): say so and go back to the menu.
			p.sess.Close()
			g.say("%v", err)
			g.screen = newMenu(g)
			return nil
		}
		return err
	}
	p.sess.Stats(&p.stats)
	if s.Phase != arena.PhaseMatchOver {
		return nil
	}
	// Show the winner's banner for a moment, then the results (or, when
	// watching bots, the next match).
	p.overFor++
	if p.overFor < 3*arena.TickRate {
		return nil
	}
	p.sess.Close()
	if p.watch {
		g.cfg.Seed++
		return g.startMatch(int(s.NumPlayers), true)
	}
	final := *s
	g.screen = newResults(g, &final, p.sess.LocalPlayer())
	return nil
}

func (p *play) condition(g *Game, lag, loss int) {
	err := p.sess.SetConditions(lagSteps[lag], lossSteps[loss])
	switch {
	case errors.Is(err, match.ErrNoSimulator):
		g.say("Lag and loss injection needs a networked match: not available in a local match")
	case err != nil:
		g.say("Lag/loss: %v", err)
	default:
		p.lag, p.loss = lag, loss
		g.say("Injected one-way lag %v, loss %.0f%%", lagSteps[lag], lossSteps[loss]*100)
	}
}

func (p *play) draw(g *Game, dst *ebiten.Image) {
	s := p.sess.State()
	drawArena(dst, s)
	drawHUD(g, dst, s, p.sess.LocalPlayer())
	drawBanner(g, dst, s)
	if p.overlay {
		drawOverlay(g, dst, &p.stats)
	}
	hint := "Arrows/WASD drive · Space fire · Shift dash · F3 network · F5 lag · F6 loss · Esc menu"
	if p.watch {
		hint = "Watching bots · F3 network overlay · Esc menu"
	}
	drawText(dst, hint, g.fonts.small, ScreenWidth/2, ScreenHeight-20, ColorDim, center)
}

// sx and sy map arena coordinates to the screen.
func sx(f arena.Fixed) float32 { return ArenaX + float32(f.Float()) }
func sy(f arena.Fixed) float32 { return ArenaY + float32(f.Float()) }

func drawArena(dst *ebiten.Image, s *arena.State) {
	// A map smaller than the largest arena sits in its top left corner.
	w, h := float32(s.Map.Width.Float()), float32(s.Map.Height.Float())
	vector.FillRect(dst, ArenaX, ArenaY, w, h, ColorFloor, false)
	for x := float32(40); x < w; x += 40 {
		vector.StrokeLine(dst, ArenaX+x, ArenaY, ArenaX+x, ArenaY+h, 1, ColorGrid, false)
	}
	for y := float32(40); y < h; y += 40 {
		vector.StrokeLine(dst, ArenaX, ArenaY+y, ArenaX+w, ArenaY+y, 1, ColorGrid, false)
	}
	vector.StrokeRect(dst, ArenaX-2, ArenaY-2, w+4, h+4, 3, ColorWall, false)
	for _, r := range s.Map.WallList() {
		x, y := sx(r.X0), sy(r.Y0)
		rw, rh := float32((r.X1 - r.X0).Float()), float32((r.Y1 - r.Y0).Float())
		vector.FillRect(dst, x+3, y+4, rw, rh, darker(ColorBackground, 0.6), false) // shadow
		vector.FillRect(dst, x, y, rw, rh, ColorWall, false)
		vector.FillRect(dst, x, y, rw, 3, ColorWallTop, false)
	}

	for _, pk := range s.Pickups {
		if pk.Kind == arena.PickupNone {
			continue
		}
		x, y := sx(pk.X), sy(pk.Y)
		pulse := float32(1 + 0.12*math.Sin(float64(s.Frame)/8))
		r := float32(arena.PickupRadius.Float()) * pulse
		c := pickupColor(pk.Kind)
		vector.FillCircle(dst, x, y, r+4, fade(c, 0.25), true)
		vector.FillCircle(dst, x, y, r, c, true)
		drawPickupGlyph(dst, pk.Kind, x, y)
	}

	for i := 0; i < int(s.NumPlayers); i++ {
		drawTank(dst, s, i)
	}

	for _, b := range s.Bullets {
		if b.TTL == 0 {
			continue
		}
		c := PlayerColors[b.Owner%4]
		x, y := sx(b.X), sy(b.Y)
		vector.StrokeLine(dst, x, y, x-float32(b.VX.Float())*1.5, y-float32(b.VY.Float())*1.5, 3, fade(c, 0.45), true)
		vector.FillCircle(dst, x, y, float32(arena.BulletRadius.Float())+3, fade(c, 0.3), true)
		vector.FillCircle(dst, x, y, float32(arena.BulletRadius.Float())+1, ColorText, true)
		vector.FillCircle(dst, x, y, float32(arena.BulletRadius.Float()), c, true)
	}

	for _, bl := range s.Blasts {
		if bl.TTL == 0 {
			continue
		}
		t := 1 - float64(bl.TTL)/30
		r := float32(6 + 14*t)
		if bl.Big {
			r = float32(12 + 40*t)
		}
		a := 1 - t
		vector.FillCircle(dst, sx(bl.X), sy(bl.Y), r, fade(ColorAccent, 0.6*a), true)
		vector.StrokeCircle(dst, sx(bl.X), sy(bl.Y), r, 2, fade(ColorText, a), true)
	}
}

func pickupColor(k arena.PickupKind) color.RGBA {
	switch k {
	case arena.PickupHealth:
		return rgb(0x4c, 0xe0, 0x7a)
	case arena.PickupShield:
		return rgb(0x5c, 0x9d, 0xff)
	default:
		return rgb(0xff, 0xd2, 0x3f)
	}
}

func drawPickupGlyph(dst *ebiten.Image, k arena.PickupKind, x, y float32) {
	dark := rgb(0x10, 0x14, 0x20)
	switch k {
	case arena.PickupHealth: // a cross
		vector.FillRect(dst, x-5, y-1.5, 10, 3, dark, false)
		vector.FillRect(dst, x-1.5, y-5, 3, 10, dark, false)
	case arena.PickupShield: // a ring
		vector.StrokeCircle(dst, x, y, 5, 2, dark, true)
	default: // a bolt: two strokes
		vector.StrokeLine(dst, x+2, y-6, x-2, y, 2, dark, true)
		vector.StrokeLine(dst, x-2, y, x+2, y+6, 2, dark, true)
	}
}

func drawTank(dst *ebiten.Image, s *arena.State, i int) {
	p := &s.Players[i]
	x, y := sx(p.X), sy(p.Y)
	r := float32(arena.TankRadius.Float())
	c := PlayerColors[i]
	if !p.Alive {
		vector.FillCircle(dst, x, y, r*0.8, darker(c, 0.3), true)
		vector.StrokeCircle(dst, x, y, r*0.8, 2, darker(c, 0.5), true)
		return
	}
	a := p.Angle.Radians()
	cos, sin := float32(math.Cos(a)), float32(math.Sin(a))
	body := c
	if p.HitFlash > 0 && p.HitFlash%4 >= 2 {
		body = ColorText
	}
	// Treads: two dark bars either side of the hull, along the facing.
	for _, side := range []float32{-1, 1} {
		ox, oy := -sin*side*r*0.78, cos*side*r*0.78
		vector.StrokeLine(dst, x+ox-cos*r*0.85, y+oy-sin*r*0.85, x+ox+cos*r*0.85, y+oy+sin*r*0.85, 6, darker(c, 0.35), true)
	}
	vector.FillCircle(dst, x, y, r*0.8, body, true)
	vector.StrokeCircle(dst, x, y, r*0.8, 2, darker(c, 0.55), true)
	// The gun.
	vector.StrokeLine(dst, x, y, x+cos*(r+10), y+sin*(r+10), 6, darker(c, 0.3), true)
	vector.StrokeLine(dst, x, y, x+cos*(r+9), y+sin*(r+9), 3, darker(c, 0.75), true)
	vector.FillCircle(dst, x, y, r*0.42, darker(c, 0.75), true)
	vector.StrokeCircle(dst, x, y, r*0.42, 1.5, darker(c, 0.3), true)
	if p.Shield {
		vector.StrokeCircle(dst, x, y, r+6, 2, rgb(0x5c, 0x9d, 0xff), true)
	}
	if p.RapidTicks > 0 {
		vector.StrokeCircle(dst, x, y, r+3, 1, rgb(0xff, 0xd2, 0x3f), true)
	}
	// Hit points as pips under the tank.
	for k := 0; k < arena.MaxHP; k++ {
		pc := darker(ColorDim, 0.5)
		if k < int(p.HP) {
			pc = c
		}
		vector.FillRect(dst, x-13+float32(k)*9, y+r+6, 8, 3, pc, false)
	}
}

func drawHUD(g *Game, dst *ebiten.Image, s *arena.State, me int) {
	drawText(dst, "RALLYPOINT ARENA", g.fonts.title, ArenaX, 18, ColorText, left)
	phase := fmt.Sprintf("Round %d · first to %d", s.Round, arena.WinRounds)
	if s.Phase == arena.PhasePlay {
		left := int(s.PhaseTicks) / arena.TickRate
		phase += fmt.Sprintf(" · %d:%02d", left/60, left%60)
	}
	drawText(dst, phase, g.fonts.small, ArenaX, 58, ColorDim, left)

	n := int(s.NumPlayers)
	const cardW, gap = 150, 8
	x0 := float32(ScreenWidth-ArenaX) - float32(n)*(cardW+gap) + gap
	for i := 0; i < n; i++ {
		p := &s.Players[i]
		x := x0 + float32(i)*(cardW+gap)
		panel(dst, x, 14, cardW, 72)
		c := PlayerColors[i]
		vector.FillRect(dst, x, 14, 4, 72, c, false)
		name := PlayerNames[i]
		if i == me {
			name += " (you)"
		}
		drawText(dst, name, g.fonts.body, float64(x)+12, 18, c, left)
		for k := 0; k < arena.WinRounds; k++ {
			sc := darker(ColorDim, 0.45)
			if k < int(p.Wins) {
				sc = ColorAccent
			}
			vector.FillCircle(dst, x+18+float32(k)*16, 58, 5, sc, true)
		}
		drawText(dst, fmt.Sprintf("%d kills", p.Kills), g.fonts.small, float64(x)+cardW-10, 50, ColorDim, right)
	}
}

func drawBanner(g *Game, dst *ebiten.Image, s *arena.State) {
	cx, cy := float64(ArenaX)+s.Map.Width.Float()/2, float64(ArenaY)+s.Map.Height.Float()/2
	switch s.Phase {
	case arena.PhaseCountdown:
		n := int(s.PhaseTicks)/arena.TickRate + 1
		drawText(dst, fmt.Sprintf("%d", n), g.fonts.huge, cx, cy-60, fade(ColorAccent, 0.9), center)
		drawText(dst, fmt.Sprintf("Round %d", s.Round), g.fonts.title, cx, cy+20, ColorText, center)
	case arena.PhaseRoundOver, arena.PhaseMatchOver:
		msg := "Draw!"
		clr := ColorText
		if w := int(s.RoundWinner); w >= 0 {
			msg = PlayerNames[w] + " wins the round"
			clr = PlayerColors[w]
		}
		if s.Phase == arena.PhaseMatchOver {
			msg = PlayerNames[s.MatchWinner] + " wins the match!"
			clr = PlayerColors[s.MatchWinner]
		}
		panel(dst, float32(cx)-260, float32(cy)-40, 520, 64)
		drawText(dst, msg, g.fonts.title, cx, cy-28, clr, center)
	}
}

func drawOverlay(g *Game, dst *ebiten.Image, st *match.Stats) {
	lines := []string{"Network  (F3)", "transport: " + st.Transport}
	if len(st.Peers) == 0 {
		lines = append(lines, "peers: none")
	}
	for _, p := range st.Peers {
		lines = append(lines, fmt.Sprintf("%s  ping %s  in %.1f / out %.1f kbps  [%s]", p.Name, ms(p.RTT), p.KbpsIn, p.KbpsOut, p.Candidate))
	}
	if st.Rollback {
		ahead := math.Round(st.FramesAhead*10) / 10
		if ahead == 0 {
			ahead = 0 // no "-0.0"
		}
		lines = append(lines,
			fmt.Sprintf("rollback frames: %d (last)   rollbacks: %d", st.RollbackFrames, st.Rollbacks),
			fmt.Sprintf("frames ahead: %+.1f   predicted: %d", ahead, st.Predicted),
			fmt.Sprintf("desyncs: %d", st.Desyncs))
	} else {
		lines = append(lines, "rollback frames: - (no rollback)", "frames ahead: -")
	}
	if st.CanCondition {
		lines = append(lines, fmt.Sprintf("injected lag %v, loss %.0f%%  (F5/F6)", st.Lag, st.Loss*100))
	} else {
		lines = append(lines, "lag/loss injection: not available here")
	}
	const w = 440
	h := float32(len(lines))*19 + 14
	x, y := float32(ScreenWidth-ArenaX-w-8), float32(ArenaY+8)
	panel(dst, x, y, w, h)
	for i, l := range lines {
		c := ColorText
		if i == 0 {
			c = ColorAccent
		}
		drawText(dst, l, g.fonts.small, float64(x)+10, float64(y)+8+float64(i)*19, c, left)
	}
}
