// Package chart draws the benchmarks' figures as PNG: horizontal bars, one
// per system, each with its median and a whisker from the least to the
// greatest round, in panels side by side. Pure Go (image/png and x/image's
// fixed 7x13 font), so `make bench` needs nothing installed to draw them.
package chart

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Bar is one system's value in a panel.
type Bar struct {
	Label          string
	Median         float64
	Min, Max       float64
	Highlight      bool // tagstream's own bars
	ValueFormatter func(float64) string
}

// Panel is one measure over the systems.
type Panel struct {
	Title string
	Bars  []Bar
}

const (
	labelW = 220 // left column: the systems
	panelW = 330
	barH   = 22
	gap    = 8
	top    = 48
	pad    = 12
)

var (
	ink       = color.RGBA{0x22, 0x22, 0x22, 0xff}
	grid      = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	ours      = color.RGBA{0xd9, 0x48, 0x2b, 0xff}
	theirs    = color.RGBA{0x6b, 0x8f, 0xb8, 0xff}
	whiskerCl = color.RGBA{0x11, 0x11, 0x11, 0xff}
)

// Draw writes panels side by side under title, with a note line under it
// (the machine, the workload), as PNG. Every panel must list the same bars
// in the same order: their labels are drawn once, at the left.
func Draw(w io.Writer, title, note string, panels []Panel) error {
	if len(panels) == 0 || len(panels[0].Bars) == 0 {
		return fmt.Errorf("chart: nothing to draw")
	}
	n := len(panels[0].Bars)
	for _, p := range panels {
		if len(p.Bars) != n {
			return fmt.Errorf("chart: panel %q has %d bars, want %d", p.Title, len(p.Bars), n)
		}
	}
	width := labelW + len(panels)*(panelW+pad) + pad
	height := top + 20 + n*(barH+gap) + 24
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, pad, 18, title, ink)
	text(img, pad, 34, note, color.RGBA{0x66, 0x66, 0x66, 0xff})
	for i, b := range panels[0].Bars {
		y := top + 20 + i*(barH+gap)
		text(img, pad, y+barH/2+4, clip(b.Label, (labelW-pad)/7), ink)
	}
	for pi, p := range panels {
		x0 := labelW + pi*(panelW+pad)
		text(img, x0, top+8, p.Title, ink)
		scale := 0.0
		for _, b := range p.Bars {
			scale = max(scale, b.Max, b.Median)
		}
		if scale == 0 {
			scale = 1
		}
		plotW := panelW - 70 // room for the value after the longest bar
		px := func(v float64) int { return x0 + int(v/scale*float64(plotW)) }
		fill(img, image.Rect(x0, top+16, x0+1, top+20+n*(barH+gap)), grid)
		for i, b := range p.Bars {
			y := top + 20 + i*(barH+gap)
			c := theirs
			if b.Highlight {
				c = ours
			}
			fill(img, image.Rect(x0, y, px(b.Median), y+barH), c)
			if b.Max > b.Min {
				mid := y + barH/2
				fill(img, image.Rect(px(b.Min), mid, px(b.Max)+1, mid+1), whiskerCl)
				fill(img, image.Rect(px(b.Min), mid-4, px(b.Min)+1, mid+5), whiskerCl)
				fill(img, image.Rect(px(b.Max), mid-4, px(b.Max)+1, mid+5), whiskerCl)
			}
			f := b.ValueFormatter
			if f == nil {
				f = func(v float64) string { return fmt.Sprintf("%.0f", v) }
			}
			text(img, max(px(b.Max), px(b.Median))+4, y+barH/2+4, f(b.Median), ink)
		}
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(ascii(s))
}

// ascii replaces what basicfont cannot draw (anything not ASCII): dashes
// and the multiplication sign by their ASCII look-alikes, the rest by '?'.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r <= 0x7e:
			return r
		case r == '–' || r == '—':
			return '-'
		case r == '×':
			return 'x'
		case r == '÷':
			return '/'
		}
		return '?'
	}, s)
}

// clip shortens s to n characters, marking the cut.
func clip(s string, n int) string {
	s = ascii(s)
	if len(s) > n {
		return s[:n-1] + "~"
	}
	return s
}
