package ui

import (
	"fmt"
	"strings"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// localLobby is the room before a match against bots: the other seats are
// bots, always ready. netLobby is the real one, over the lobby package.
type localLobby struct {
	players int
	ready   bool
	chat    []chatLine
	input   []rune
	greeted bool
}

type chatLine struct {
	from int // seat, or -1 for the system
	text string
}

const maxChatLines = 10

func newLobby(g *Game, players int) *localLobby {
	l := &localLobby{players: players}
	l.post(-1, "Local lobby: the other seats are bots.")
	l.post(-1, "Real lobbies: Host on LAN, Create online lobby, Join by code.")
	return l
}

func (l *localLobby) post(from int, text string) {
	l.chat = append(l.chat, chatLine{from, text})
	if len(l.chat) > maxChatLines {
		l.chat = l.chat[len(l.chat)-maxChatLines:]
	}
}

func (l *localLobby) update(g *Game) error {
	l.input = ebiten.AppendInputChars(l.input)
	if len(l.input) > 60 {
		l.input = l.input[:60]
	}
	switch {
	case inpututil.IsKeyJustPressed(ebiten.KeyEscape):
		g.screen = newMenu(g)
	case inpututil.IsKeyJustPressed(ebiten.KeyBackspace) && len(l.input) > 0:
		l.input = l.input[:len(l.input)-1]
	case inpututil.IsKeyJustPressed(ebiten.KeyEnter):
		msg := strings.TrimSpace(string(l.input))
		l.input = l.input[:0]
		if msg != "" {
			l.post(0, msg)
			if !l.greeted {
				l.greeted = true
				for i := 1; i < l.players; i++ {
					l.post(i, [...]string{"gl hf", "ready when you are", "bring it"}[(i-1)%3])
				}
			}
		}
	case inpututil.IsKeyJustPressed(ebiten.KeyTab):
		l.ready = !l.ready
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowRight):
		l.players = min(l.players+1, arena.MaxPlayers)
	case inpututil.IsKeyJustPressed(ebiten.KeyArrowLeft):
		l.players = max(l.players-1, arena.MinPlayers)
	case inpututil.IsKeyJustPressed(ebiten.KeyF2):
		if !l.ready {
			g.say("Press Tab to get ready first")
			return nil
		}
		return g.startMatch(l.players, false)
	}
	return nil
}

func (l *localLobby) draw(g *Game, dst *ebiten.Image) {
	drawText(dst, "LOCAL LOBBY", g.fonts.title, ArenaX, 24, ColorText, left)
	drawText(dst, fmt.Sprintf("seed %d · first to %d rounds", g.cfg.Seed, arena.WinRounds), g.fonts.small, ArenaX, 64, ColorDim, left)

	// Members.
	panel(dst, ArenaX, 100, 420, 300)
	drawText(dst, fmt.Sprintf("Members  (%d players  < >)", l.players), g.fonts.body, ArenaX+16, 112, ColorAccent, left)
	for i := 0; i < l.players; i++ {
		y := float32(156 + i*56)
		vector.FillCircle(dst, ArenaX+30, y+14, 10, PlayerColors[i], true)
		name, ready := "Bot "+PlayerNames[i], true
		if i == 0 {
			name, ready = "You ("+PlayerNames[0]+")", l.ready
		}
		drawText(dst, name, g.fonts.body, ArenaX+52, float64(y)+2, ColorText, left)
		status, clr := "not ready", ColorBad
		if ready {
			status, clr = "ready", rgb(0x4c, 0xe0, 0x7a)
		}
		drawText(dst, status, g.fonts.body, ArenaX+400, float64(y)+2, clr, right)
	}

	// Chat.
	cx := float32(ArenaX + 440)
	cw := float32(ScreenWidth - ArenaX - 440 - ArenaX)
	panel(dst, cx, 100, cw, 460)
	drawText(dst, "Chat", g.fonts.body, float64(cx)+16, 112, ColorAccent, left)
	for i, c := range l.chat {
		who, clr := "", ColorDim
		if c.from >= 0 {
			who, clr = PlayerNames[c.from]+": ", PlayerColors[c.from]
		}
		drawText(dst, who+c.text, g.fonts.small, float64(cx)+16, 150+float64(i)*22, clr, left)
	}
	vector.FillRect(dst, cx+12, 520, cw-24, 28, ColorFloor, false)
	cursor := ""
	if g.frames/30%2 == 0 {
		cursor = "_"
	}
	drawText(dst, "> "+string(l.input)+cursor, g.fonts.small, float64(cx)+20, 525, ColorText, left)

	help := "Type to chat · Enter send · Tab ready · Left/Right players · F2 start · Esc leave"
	drawText(dst, help, g.fonts.small, ScreenWidth/2, ScreenHeight-30, ColorDim, center)
	if l.ready {
		drawText(dst, "Everyone is ready: press F2 to start", g.fonts.title, ArenaX+210, 440, ColorAccent, center)
	}
}
