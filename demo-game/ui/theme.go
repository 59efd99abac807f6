package ui

import (
	"bytes"
	"image/color"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// The screen's logical size; the window scales it.
const (
	ScreenWidth  = 1024
	ScreenHeight = 768

	// ArenaX and ArenaY are where the arena's top-left corner is drawn.
	ArenaX = 32
	ArenaY = 100
)

// The palette. Tests look for these colours in screenshots.
var (
	ColorBackground = color.RGBA{0x0e, 0x12, 0x1c, 0xff}
	ColorFloor      = color.RGBA{0x1a, 0x22, 0x33, 0xff}
	ColorGrid       = color.RGBA{0x22, 0x2c, 0x41, 0xff}
	ColorWall       = color.RGBA{0x5b, 0x6d, 0x8f, 0xff}
	ColorWallTop    = color.RGBA{0x8a, 0x9b, 0xbd, 0xff}
	ColorText       = color.RGBA{0xe8, 0xec, 0xf4, 0xff}
	ColorDim        = color.RGBA{0x7d, 0x88, 0xa0, 0xff}
	ColorAccent     = color.RGBA{0xff, 0xc8, 0x3d, 0xff}
	ColorBad        = color.RGBA{0xff, 0x5c, 0x5c, 0xff}
	ColorPanel      = color.NRGBA{0x08, 0x0b, 0x12, 0xd8}

	// PlayerColors are the tanks' colours, by seat.
	PlayerColors = [4]color.RGBA{
		{0xff, 0x8c, 0x1a, 0xff}, // orange
		{0x2e, 0xc4, 0xff, 0xff}, // cyan
		{0x8b, 0xe0, 0x4e, 0xff}, // lime
		{0xe0, 0x56, 0xfd, 0xff}, // violet
	}
	// PlayerNames name the seats by colour.
	PlayerNames = [4]string{"Orange", "Cyan", "Lime", "Violet"}
)

// fonts holds the faces, loaded once.
type fonts struct {
	small, body, title, huge text.Face
}

func loadFonts() (*fonts, error) {
	reg, err := text.NewGoTextFaceSource(bytes.NewReader(goregular.TTF))
	if err != nil {
		return nil, err
	}
	bold, err := text.NewGoTextFaceSource(bytes.NewReader(gobold.TTF))
	if err != nil {
		return nil, err
	}
	return &fonts{
		small: &text.GoTextFace{Source: reg, Size: 14},
		body:  &text.GoTextFace{Source: reg, Size: 20},
		title: &text.GoTextFace{Source: bold, Size: 30},
		huge:  &text.GoTextFace{Source: bold, Size: 72},
	}, nil
}

// align is where a string's x coordinate is.
type align int

const (
	left align = iota
	center
	right
)

func drawText(dst *ebiten.Image, s string, face text.Face, x, y float64, clr color.Color, a align) {
	op := &text.DrawOptions{}
	op.GeoM.Translate(x, y)
	op.ColorScale.ScaleWithColor(clr)
	switch a {
	case center:
		op.PrimaryAlign = text.AlignCenter
	case right:
		op.PrimaryAlign = text.AlignEnd
	}
	text.Draw(dst, s, face, op)
}

func panel(dst *ebiten.Image, x, y, w, h float32) {
	vector.FillRect(dst, x, y, w, h, ColorPanel, false)
	vector.StrokeRect(dst, x, y, w, h, 1, ColorGrid, false)
}

func darker(c color.RGBA, f float64) color.RGBA {
	return color.RGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), c.A}
}

func fade(c color.RGBA, alpha float64) color.NRGBA {
	return color.NRGBA{c.R, c.G, c.B, uint8(255 * alpha)}
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }
