package media

import (
	"bytes"
	"testing"
)

// readHeader parses hostile bytes (an upload checked before any post
// names it, an original before the origin decodes it): whatever they are,
// it returns a header or errNoHeader, never panics, and an accepted
// header has positive dimensions and an estimate at least as large as
// the pixels it declares.
func FuzzReadHeader(f *testing.F) {
	for _, spec := range []jpegSpec{
		{w: 64, h: 48, progressive: true, sampling: []byte{0x11, 0x11, 0x11}, adobe: -1, jfif: true},
		{w: 640, h: 480, sampling: []byte{0x22, 0x11, 0x11}, adobe: -1, jfif: true},
	} {
		f.Add(jpegDC(spec))
	}
	f.Add(rawPNG(32, 32, 6, 16, false, 1))
	f.Add(rawPNG(8, 8, 0, 8, true, 1))
	f.Add([]byte("GIF89a\x10\x00\x10\x00\x00\x00\x00;"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8L"))
	f.Add([]byte("<html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h.width <= 0 || h.height <= 0 {
			t.Fatalf("accepted %s of %dx%d", h.format, h.width, h.height)
		}
		if est := h.estimate(int64(len(data)), 160); est < int64(h.width)*int64(h.height) {
			t.Fatalf("%s %dx%d: estimate %d is below its pixel count", h.format, h.width, h.height, est)
		}
	})
}
