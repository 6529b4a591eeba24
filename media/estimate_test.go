package media

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

// estimateCases are originals of every layout the decoders allocate
// differently for, at sizes where the per-pixel terms dominate.
func estimateCases(t *testing.T) map[string][]byte {
	gray := image.NewGray(image.Rect(0, 0, 600, 400))
	var grayJPEG bytes.Buffer
	jpeg.Encode(&grayJPEG, gray, nil)
	paletted := image.NewPaletted(image.Rect(0, 0, 600, 400), color.Palette{color.Black, color.White})
	gray16 := image.NewGray16(image.Rect(0, 0, 600, 400))
	lossy, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	lossyAlpha, err := os.ReadFile("testdata/yellow_rose.lossy-with-alpha.webp")
	if err != nil {
		t.Fatal(err)
	}
	ycc := []byte{0x11, 0x11, 0x11}
	noise := image.NewNRGBA(image.Rect(0, 0, 600, 400))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.Uint32())
	}
	var noiseJPEG bytes.Buffer
	jpeg.Encode(&noiseJPEG, noise, &jpeg.Options{Quality: 100})
	return map[string][]byte{
		"png noise (incompressible)": encodePNG(t, noise),
		"jpeg noise":                 noiseJPEG.Bytes(),
		"jpeg 4:2:0 baseline":        testImage(t, 600, 400, false),
		"jpeg gray":                  grayJPEG.Bytes(),
		"jpeg 4:4:4 baseline":        jpegDC(jpegSpec{w: 600, h: 400, sampling: ycc, adobe: -1, jfif: true}),
		"jpeg 4:4:4 progressive":     jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: ycc, adobe: -1, jfif: true}),
		"jpeg 4:2:0 progressive":     jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: []byte{0x22, 0x11, 0x11}, adobe: -1}),
		"jpeg 4:2:2 progressive":     jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: []byte{0x21, 0x11, 0x11}, adobe: -1}),
		"jpeg 4:1:1 baseline":        jpegDC(jpegSpec{w: 600, h: 400, sampling: []byte{0x41, 0x11, 0x11}, adobe: -1}),
		"jpeg gray progressive":      jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: []byte{0x11}, adobe: -1}),
		"jpeg RGB (Adobe 0)":         jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: ycc, adobe: 0}),
		"jpeg CMYK (Adobe 0)":        jpegDC(jpegSpec{w: 600, h: 400, sampling: []byte{0x11, 0x11, 0x11, 0x11}, adobe: 0}),
		"jpeg YCCK (Adobe 2)":        jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: []byte{0x22, 0x11, 0x11, 0x22}, adobe: 2}),
		"jpeg truncated progressive": jpegDC(jpegSpec{w: 600, h: 400, progressive: true, sampling: ycc, adobe: -1, truncate: 10}),
		"png rgba":                   testImage(t, 600, 400, true),
		"png rgba64 (16-bit)":        encodePNG(t, flatRGBA64(600, 400)),
		"png gray16":                 encodePNG(t, gray16),
		"png gray16 + tRNS":          withTRNS(encodePNG(t, gray16), []byte{0, 1}),
		"png gray + tRNS":            withTRNS(encodePNG(t, gray), []byte{0, 1}),
		"png paletted":               encodePNG(t, paletted),
		"png interlaced rgba64":      rawPNG(600, 400, 6, 16, true, -1),
		"png truncated rgba64":       rawPNG(600, 400, 6, 16, false, 1000),
		"gif":                        manyFrameGIF(t, 600, 400, 3, false),
		"gif interlaced":             manyFrameGIF(t, 600, 400, 3, true),
		"webp lossless":              losslessWebP(600, 400, color.NRGBA{10, 20, 30, 255}),
		"webp lossy":                 lossy,
		"webp lossy with alpha":      lossyAlpha,
	}
}

// The estimate an image is admitted with must cover everything resizing it
// allocates, garbage included, or concurrent decodes could together take
// more than the budget. This measures it: TotalAlloc across resize, for
// every layout, at a width that pre-shrinks a YCbCr original, one that
// only scales it and one over the original's.
func TestEstimateCoversAllocations(t *testing.T) {
	for name, src := range estimateCases(t) {
		hd, err := readHeader(bytes.NewReader(src))
		if err != nil {
			t.Errorf("%s: header: %v", name, err)
			continue
		}
		for _, width := range []int{100, 400, 1080} {
			est := hd.estimate(int64(len(src)), width)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			v, err := resize(src, width, 50_000_000, 80, est)
			runtime.ReadMemStats(&after)
			allocated := int64(after.TotalAlloc - before.TotalAlloc)
			if err != nil && !bytes.Contains([]byte(name), []byte("truncated")) {
				t.Errorf("%s at %d: %v", name, width, err)
			}
			// The source is allocated by the caller, not resize.
			used := allocated + int64(len(src))
			t.Logf("%-28s w=%4d %s: estimate %7.1f MiB, allocated %7.1f MiB (%3.0f%%)",
				name, width, hd.format, mib(est), mib(used), 100*float64(used)/float64(est))
			if used > est {
				t.Errorf("%s at width %d: allocated %d bytes, over its estimate of %d", name, width, used, est)
			}
			_ = v
		}
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
