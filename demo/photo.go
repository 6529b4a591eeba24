package demo

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// PhotoSize is the width and height of a demo photo: the origin's widest
// default width, so every width of a page's srcset is served at its size
// (the origin never scales up).
const PhotoSize = 1080

// Scene is what a demo photo shows: a sky graded from a colour of Hue, a
// sun, and hills, placed by Seed.
type Scene struct {
	Seed uint64
	Hue  float64 // 0..1
}

// Photo draws the scene as a JPEG of PhotoSize×PhotoSize.
func Photo(s Scene) ([]byte, error) {
	r := rand.New(rand.NewPCG(s.Seed, 0x70686f746f))
	img := image.NewYCbCr(image.Rect(0, 0, PhotoSize, PhotoSize), image.YCbCrSubsampleRatio420)
	top := hsl(s.Hue, 0.65, 0.35+0.2*r.Float64())
	bottom := hsl(math.Mod(s.Hue+0.08+0.1*r.Float64(), 1), 0.8, 0.7)
	sunX, sunY := 0.2+0.6*r.Float64(), 0.25+0.3*r.Float64()
	sunR := 0.06 + 0.08*r.Float64()
	type hill struct{ base, amp, freq, phase float64 }
	hills := []hill{
		{0.62 + 0.1*r.Float64(), 0.05, 2 + 3*r.Float64(), 6 * r.Float64()},
		{0.78 + 0.08*r.Float64(), 0.04, 3 + 4*r.Float64(), 6 * r.Float64()},
	}
	hillColour := [][3]float64{hsl(math.Mod(s.Hue+0.5, 1), 0.35, 0.3), hsl(math.Mod(s.Hue+0.55, 1), 0.4, 0.18)}
	sun := hsl(math.Mod(s.Hue+0.12, 1), 0.9, 0.85)
	// Per column the hills' edges, per row the sky: the inner loop is
	// lookups, and the sun's disc is drawn in its bounding box only.
	edge := make([][2]float64, PhotoSize)
	for x := range edge {
		fx := float64(x) / PhotoSize
		for i, h := range hills {
			edge[x][i] = h.base + h.amp*math.Sin(fx*h.freq*math.Pi+h.phase)
		}
	}
	var hillY [2][3]uint8
	for i, c := range hillColour {
		hillY[i][0], hillY[i][1], hillY[i][2] = ycbcr(c)
	}
	glow := sunR * 1.6
	for y := range PhotoSize {
		fy := float64(y) / PhotoSize
		sky := mix(top, bottom, fy)
		var skyY [3]uint8
		skyY[0], skyY[1], skyY[2] = ycbcr(sky)
		for x := range PhotoSize {
			px := skyY
			switch {
			case fy > edge[x][1]:
				px = hillY[1]
			case fy > edge[x][0]:
				px = hillY[0]
			case math.Abs(fy-sunY) < glow && math.Abs(float64(x)/PhotoSize-sunX) < glow:
				if d := math.Hypot(float64(x)/PhotoSize-sunX, fy-sunY); d < glow {
					px[0], px[1], px[2] = ycbcr(mix(sun, sky, (d-sunR)/(glow-sunR)))
				}
			}
			img.Y[img.YOffset(x, y)] = px[0]
			if x%2 == 0 && y%2 == 0 {
				o := img.COffset(x, y)
				img.Cb[o], img.Cr[o] = px[1], px[2]
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 82}); err != nil {
		return nil, fmt.Errorf("demo: encode photo: %w", err)
	}
	return b.Bytes(), nil
}

func mix(a, b [3]float64, t float64) [3]float64 {
	t = min(max(t, 0), 1)
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

// hsl returns the RGB (0..1) of a hue, saturation and lightness.
func hsl(h, s, l float64) [3]float64 {
	q := l * (1 + s)
	if l >= 0.5 {
		q = l + s - l*s
	}
	p := 2*l - q
	ch := func(t float64) float64 {
		t = math.Mod(t+1, 1)
		switch {
		case t < 1.0/6:
			return p + (q-p)*6*t
		case t < 0.5:
			return q
		case t < 2.0/3:
			return p + (q-p)*(2.0/3-t)*6
		}
		return p
	}
	return [3]float64{ch(h + 1.0/3), ch(h), ch(h - 1.0/3)}
}

func ycbcr(c [3]float64) (y, cb, cr uint8) {
	r, g, b := c[0]*255, c[1]*255, c[2]*255
	clamp := func(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }
	return clamp(0.299*r + 0.587*g + 0.114*b), clamp(128 - 0.168736*r - 0.331264*g + 0.5*b), clamp(128 + 0.5*r - 0.418688*g - 0.081312*b)
}
