package ui

import (
	"context"
	"strings"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
)

// codeEntry is the "Join by code" screen: the player types a lobby's join
// code (6 characters of lobby.CodeAlphabet) and Enter joins it.
type codeEntry struct {
	code []rune
}

func newCodeEntry() *codeEntry { return &codeEntry{} }

func (c *codeEntry) update(g *Game) error {
	for _, r := range ebiten.AppendInputChars(nil) {
		r = []rune(strings.ToUpper(string(r)))[0]
		if strings.ContainsRune(lobby.CodeAlphabet, r) && len(c.code) < lobby.CodeLen {
			c.code = append(c.code, r)
		}
	}
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyBackspace) && len(c.code) > 0:
		c.code = c.code[:len(c.code)-1]
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter):
		if len(c.code) != lobby.CodeLen {
			g.say("A join code has %d characters", lobby.CodeLen)
			return nil
		}
		code, url := string(c.code), g.cfg.ServerURL
		cfg := g.lobbyConfig(match.LobbyConfig{Player: g.cfg.Name}, false)
		g.screen = newLobbyConnect(g, "Join by code", "Joining lobby "+code,
			func(ctx context.Context, _ func(string)) (*match.Lobby, error) {
				return match.JoinLobbyByCode(ctx, url, code, cfg)
			})
	}
	return nil
}

func (c *codeEntry) draw(g *Game, dst *ebiten.Image) {
	drawText(dst, "JOIN BY CODE", g.fonts.title, ArenaX, 24, ColorText, left)
	drawText(dst, "The host's lobby screen shows its code", g.fonts.small, ArenaX, 64, ColorDim, left)
	const box, gap = 64, 16
	x0 := float32(ScreenWidth-(lobby.CodeLen*box+(lobby.CodeLen-1)*gap)) / 2
	for i := 0; i < lobby.CodeLen; i++ {
		x := x0 + float32(i*(box+gap))
		vector.FillRect(dst, x, 260, box, box+16, ColorFloor, false)
		clr := ColorDim
		if i == len(c.code) && g.frames/30%2 == 0 {
			clr = ColorAccent
		}
		vector.StrokeRect(dst, x, 260, box, box+16, 2, clr, false)
		if i < len(c.code) {
			drawText(dst, string(c.code[i]), g.fonts.title, float64(x)+box/2, 276, ColorAccent, center)
		}
	}
	drawText(dst, "Type the code · Backspace erase · Enter join · Esc back", g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
}
