package ui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby/content"
)

// lobbyConfig adds the map settings to a lobby configuration: a host
// offers Config.Map (and sets Config.SpectateDelay); everyone keeps received maps in Config.MapCache.
func (g *Game) lobbyConfig(cfg match.LobbyConfig, host bool) match.LobbyConfig {
	if host {
		cfg.Map = g.cfg.Map
		cfg.SpectateDelay = g.cfg.SpectateDelay
	}
	cfg.MapCache = g.cfg.MapCache
	return cfg
}

// mapView is what the lobby screen shows of the lobby's map: a title, a
// progress bar (when Bar), a line of detail and, on the host, who still
// lacks the map.
type mapView struct {
	Title   string
	Bar     bool
	Frac    float64 // 0 to 1
	Detail  string
	Waiting string
	Err     bool // Detail is an error
}

// mapViewOf turns this player's map status and the lobby's view of who
// lacks the map (Lobby.MapMissing) into what the screen shows; name gives
// a member's name.
func mapViewOf(ms match.MapStatus, missing error, name func(id string) string) mapView {
	if !ms.Offered {
		return mapView{Title: "Map: the default arena"}
	}
	v := mapView{Title: "Map", Bar: true, Frac: ms.Fraction()}
	if ms.Name != "" {
		v.Title = "Map: " + ms.Name
	}
	switch {
	case ms.Err != nil && !ms.Complete:
		v.Detail, v.Err = ms.Err.Error(), true
	case ms.Complete && ms.Source == match.MapSourceOffered:
		v.Detail = fmt.Sprintf("offered by you · %s · %d bytes", ms.ID.Short(), ms.Size)
	case ms.Complete && ms.Source == match.MapSourceCache:
		v.Detail = fmt.Sprintf("loaded from the cache · %s", ms.ID.Short())
	case ms.Complete:
		v.Detail = fmt.Sprintf("received from the lobby in %.2f s · %s", ms.Fetch.Seconds(), ms.ID.Short())
		if ms.CacheFile != "" {
			v.Detail += " · cached"
		}
	default:
		v.Detail = fmt.Sprintf("fetching from the lobby · %d/%d bytes", ms.Bytes, ms.Size)
	}
	var me *content.MissingError
	if errors.As(missing, &me) {
		who := make([]string, len(me.Members))
		for i, id := range me.Members {
			who[i] = fmt.Sprintf("%s (%d/%d)", name(id), me.Have[id], me.Pieces)
		}
		v.Waiting = "Waiting for: " + strings.Join(who, ", ")
	}
	return v
}

// drawMapPanel draws v in a panel at x, y of width w (86 pixels high).
func drawMapPanel(g *Game, dst *ebiten.Image, v mapView, x, y, w float32) {
	panel(dst, x, y, w, 86)
	drawText(dst, v.Title, g.fonts.body, float64(x)+16, float64(y)+8, ColorAccent, left)
	if v.Bar {
		bx, by, bw := x+16, y+40, w-32
		vector.FillRect(dst, bx, by, bw, 10, ColorFloor, false)
		clr := ColorAccent
		if v.Frac >= 1 {
			clr = colorDone
		}
		vector.FillRect(dst, bx, by, bw*float32(min(max(v.Frac, 0), 1)), 10, clr, false)
		drawText(dst, fmt.Sprintf("%d%%", int(v.Frac*100)), g.fonts.small, float64(x+w-16), float64(y)+10, ColorDim, right)
	}
	line, clr := v.Detail, ColorDim
	if v.Err {
		clr = ColorBad
	}
	if v.Waiting != "" {
		line, clr = v.Waiting, ColorBad
	}
	drawText(dst, line, g.fonts.small, float64(x)+16, float64(y)+58, clr, left)
}

// colorDone marks a map that is whole.
var colorDone = rgb(0x4c, 0xe0, 0x7a)
