package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"io"
	"testing"
)

// Hostile images, made here rather than committed: each is small on disk
// and costly to decode, and several lie in their headers.

// jpegSpec is a JPEG for jpegDC to write.
type jpegSpec struct {
	w, h        int
	progressive bool
	sampling    []byte // h<<4|v of each component: 1 (gray), 3 or 4 of them
	ids         []byte // component ids; default 1, 2, 3, 4
	adobe       int    // APP14 Adobe transform, -1 for none
	jfif        bool
	truncate    int // > 0: only this many bytes of scan data, the header lying about the body
}

// jpegDC writes a JPEG whose every 8×8 block is flat: one quantization
// table, a Huffman table coding the only DC difference (0) in 1 bit and,
// for a baseline image, one coding the only AC symbol (end of block) in 1
// bit. A progressive (SOF2) image has a single DC scan of all components,
// which image/jpeg decodes as a complete, coarse, progressive image. Go's
// encoder writes neither progressive JPEGs nor 4:4:4 ones, hence this; the
// scan data is all zero bits, so a 7071×7071 progressive 4:4:4 image takes
// 293 KB, as in the security review.
func jpegDC(s jpegSpec) []byte {
	var b bytes.Buffer
	seg := func(marker byte, data ...byte) {
		b.Write([]byte{0xff, marker})
		binary.Write(&b, binary.BigEndian, uint16(len(data)+2))
		b.Write(data)
	}
	b.Write([]byte{0xff, 0xd8})
	if s.jfif {
		seg(0xe0, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	}
	if s.adobe >= 0 {
		seg(0xee, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, byte(s.adobe))
	}
	seg(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)
	ids := s.ids
	if ids == nil {
		ids = []byte{1, 2, 3, 4}
	}
	sof := []byte{8, byte(s.h >> 8), byte(s.h), byte(s.w >> 8), byte(s.w), byte(len(s.sampling))}
	for i, hv := range s.sampling {
		sof = append(sof, ids[i], hv, 0)
	}
	marker := byte(0xc0)
	if s.progressive {
		marker = 0xc2
	}
	seg(marker, sof...)
	oneSymbol := func(class byte, symbol byte) []byte {
		t := []byte{class << 4, 1}
		t = append(t, make([]byte, 15)...)
		return append(t, symbol)
	}
	seg(0xc4, oneSymbol(0, 0)...) // DC: category 0, code "0"
	if !s.progressive {
		seg(0xc4, oneSymbol(1, 0)...) // AC: end of block, code "0"
	}
	sos := []byte{byte(len(s.sampling))}
	for i := range s.sampling {
		sos = append(sos, ids[i], 0x00)
	}
	if s.progressive {
		sos = append(sos, 0, 0, 0) // DC only, no successive approximation
	} else {
		sos = append(sos, 0, 63, 0)
	}
	seg(0xda, sos...)
	// The blocks of the scan, in MCUs as image/jpeg counts them.
	blocks := 0
	if len(s.sampling) == 1 {
		blocks = (s.w + 7) / 8 * ((s.h + 7) / 8)
	} else {
		h0, v0 := int(s.sampling[0]>>4), int(s.sampling[0]&15)
		mcus := (s.w + 8*h0 - 1) / (8 * h0) * ((s.h + 8*v0 - 1) / (8 * v0))
		for _, hv := range s.sampling {
			blocks += mcus * int(hv>>4) * int(hv&15)
		}
	}
	bits := blocks // progressive DC: one bit a block
	if !s.progressive {
		bits *= 2 // and one for the end of block
	}
	n := (bits + 7) / 8
	if s.truncate > 0 {
		n = s.truncate
	}
	b.Write(make([]byte, n))
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// encodePNG encodes img with image/png, fast (the hostile images here are
// flat, so they compress to almost nothing).
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk is a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// withTRNS inserts a tRNS chunk after IHDR: a gray image then decodes to
// NRGBA (NRGBA64 at 16 bits), four times its pixels' bytes.
func withTRNS(p []byte, data []byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, pngChunk("tRNS", data)...)
	return append(out, p[afterIHDR:]...)
}

// rawPNG writes a PNG of w×h, color type ct at depth bits, interlaced or
// not, whose filtered rows are all zero bytes (image/png writes neither
// interlaced images nor, for headers that lie, too little data):
// dataBytes < 0 writes all of them, else only that many bytes.
func rawPNG(w, h int, ct, depth byte, interlaced bool, dataBytes int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = depth, ct
	if interlaced {
		ihdr[12] = 1
	}
	b.Write(pngChunk("IHDR", ihdr))
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
	rowBytes := func(w int) int { return 1 + (channels*int(depth)*w+7)/8 }
	raw := 0
	if !interlaced {
		raw = h * rowBytes(w)
	} else {
		for _, p := range [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
			if pw > 0 && ph > 0 {
				raw += ph * rowBytes(pw)
			}
		}
	}
	if dataBytes >= 0 {
		raw = min(raw, dataBytes)
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	io.CopyN(zw, zeros{}, int64(raw))
	zw.Close()
	if ct == 3 {
		b.Write(pngChunk("PLTE", make([]byte, 3*256)))
	}
	b.Write(pngChunk("IDAT", z.Bytes()))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// manyFrameGIF writes a GIF of a w×h screen with frames copies of a full
// screen frame, interlaced or not: image.Decode keeps the first only. The
// frame is encoded once and its bytes repeated.
func manyFrameGIF(t testing.TB, w, h, frames int, interlaced bool) []byte {
	t.Helper()
	var one bytes.Buffer
	m := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	if err := gif.Encode(&one, m, nil); err != nil {
		t.Fatal(err)
	}
	b := one.Bytes()
	start := 13
	if flags := b[10]; flags&0x80 != 0 {
		start += 3 << (flags&7 + 1)
	}
	frame := b[start : len(b)-1] // up to the trailer
	if frame[0] != 0x2c {
		t.Fatalf("gif frame starts with %#x", frame[0])
	}
	if interlaced {
		frame[9] |= 0x40
	}
	out := append([]byte{}, b[:start]...)
	for range frames {
		out = append(out, frame...)
	}
	return append(out, 0x3b)
}

// losslessWebP writes a VP8L WebP of w×h in one color: five prefix codes
// of one symbol each, so that every pixel takes no bits. A few dozen bytes
// for up to 16384×16384 pixels; x/image/webp decodes it to NRGBA.
func losslessWebP(w, h int, c color.NRGBA) []byte {
	var bits []bool
	put := func(v uint32, n int) {
		for i := range n {
			bits = append(bits, v>>i&1 == 1)
		}
	}
	put(0x2f, 8)
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(1, 1) // alpha is used
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no color cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // of 8 bits
		put(uint32(sym), 8)
	}
	data := make([]byte, (len(bits)+7)/8)
	for i, bit := range bits {
		if bit {
			data[i/8] |= 1 << (i % 8)
		}
	}
	return riffWebP("VP8L", data)
}

func riffWebP(chunks ...any) []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	for i := 0; i < len(chunks); i += 2 {
		data := chunks[i+1].([]byte)
		body.WriteString(chunks[i].(string))
		binary.Write(&body, binary.LittleEndian, uint32(len(data)))
		body.Write(data)
		if len(data)%2 == 1 {
			body.WriteByte(0)
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

// flatRGBA64 is a w×h 16-bit image, all one color.
func flatRGBA64(w, h int) *image.RGBA64 {
	m := image.NewRGBA64(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = 0x80
	}
	return m
}
