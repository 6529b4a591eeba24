package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
)

// headerLimit bounds how far into an object its image header is looked
// for. Cameras put EXIF (up to 64 KiB with its thumbnail), XMP, ICC and
// MPF segments before a JPEG's frame header, which can take that past
// 64 KiB; an image whose header is further in is refused rather than
// searched for.
const headerLimit = 256 << 10

// headerCost is what reading a header may allocate: the recorded prefix
// grows by doubling up to headerLimit, plus the decoders' small state.
const headerCost = 2*headerLimit + 128<<10

// imageHeader is what the header of an image says about the memory its
// decoding takes. Go's decoders allocate everything up front from the
// dimensions and the layout the header declares, so this is known before
// a single pixel is decoded, and a file that lies about its size costs
// what it claims.
type imageHeader struct {
	format        string // jpeg, png, gif or webp, as image.DecodeConfig names it
	width, height int
	// decode is the bytes the decoder allocates in all (live or garbage
	// by the time it returns), not counting the source.
	decode int64
	// ycbcr is an original that decodes to *image.YCbCr of ratio, which
	// the resizer box-shrinks before scaling.
	ycbcr bool
	ratio image.YCbCrSubsampleRatio
	// pixelBytes is the bytes per pixel the PNG encoder writes for the
	// image when it is served as is (not wider than asked).
	pixelBytes int64
	// convert is an image that, served as is, is first copied into an
	// RGBA (4 bytes a pixel): the encoder would otherwise read it through
	// At, allocating for every pixel (16-bit PNG, CMYK JPEG, lossy WebP).
	convert bool
	// chunk is the length a WebP VP8 chunk declares: the decoder
	// allocates it before reading, so one longer than the file is a lie
	// to refuse.
	chunk int64
	// copiesSource is a decoder that may copy up to the whole source
	// (a WebP whose image chunk is beyond the header limit).
	copiesSource bool
}

// errNoHeader is an object that is not an image of a known format, or
// whose header could not be read.
var errNoHeader = errors.New("no image header")

// readHeader reads the header of an image from r, at most headerLimit
// bytes: image.DecodeConfig for the format and dimensions, then the
// format's own headers for what decoding allocates.
func readHeader(r io.Reader) (imageHeader, error) {
	rec := &recorder{r: io.LimitReader(r, headerLimit)}
	cfg, format, err := image.DecodeConfig(rec)
	if err != nil {
		return imageHeader{}, fmt.Errorf("%w in the first %d KiB: %v", errNoHeader, headerLimit>>10, err)
	}
	rec.off = 0
	var h imageHeader
	switch format {
	case "jpeg":
		h, err = jpegHeader(rec)
	case "png":
		h, err = pngHeader(rec)
	case "gif":
		h, err = gifHeader(rec)
	case "webp":
		h, err = webpHeader(rec)
	default:
		return imageHeader{}, fmt.Errorf("%w: format %s is not one of jpeg, png, gif, webp", errNoHeader, format)
	}
	if err != nil {
		return imageHeader{}, fmt.Errorf("%w: %s: %v", errNoHeader, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		// A GIF may declare 12336x0: there is nothing to serve.
		return imageHeader{}, fmt.Errorf("%w: %s of %dx%d pixels", errNoHeader, format, cfg.Width, cfg.Height)
	}
	if h.width != cfg.Width || h.height != cfg.Height {
		return imageHeader{}, fmt.Errorf("%w: %s header says %dx%d, the decoder %dx%d", errNoHeader, format, h.width, h.height, cfg.Width, cfg.Height)
	}
	h.format = format
	return h, nil
}

// recorder reads r and keeps what it read, so that after image.DecodeConfig
// the format's own parser can read the same bytes again (off = 0) and go on
// from there. It holds only what was asked for, a few KiB for most images.
type recorder struct {
	r   io.Reader
	buf []byte
	off int
}

func (c *recorder) Read(p []byte) (int, error) {
	if c.off < len(c.buf) {
		n := copy(p, c.buf[c.off:])
		c.off += n
		return n, nil
	}
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	c.off += n
	return n, err
}

func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func skip(r io.Reader, n int64) error {
	got, err := io.CopyN(io.Discard, r, n)
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// decoderState is a margin for the fixed state of a decoder: Huffman and
// quantization tables, a zlib window, bufio buffers.
const decoderState = 64 << 10

// jpegHeader walks the markers up to the first scan as image/jpeg does and
// returns what it allocates: the image in whole MCUs, the black plane of a
// 4-component image and the RGBA or CMYK it is converted to, the RGBA an
// RGB-coded image is converted to, and for a progressive image a block of
// 64 int32 coefficients (256 bytes) for every 8×8 block of every
// component, held until the last scan.
func jpegHeader(r io.Reader) (imageHeader, error) {
	soi, err := readN(r, 2)
	if err != nil || soi[0] != 0xff || soi[1] != 0xd8 {
		return imageHeader{}, errors.New("missing SOI marker")
	}
	var (
		sof               []byte // the frame header's segment
		progressive, jfif bool
		adobe             bool
		adobeTransform    byte
		sawSOS            bool
		b                 [2]byte
	)
	readByte := func() (byte, error) {
		_, err := io.ReadFull(r, b[:1])
		return b[0], err
	}
walk:
	for {
		// A marker is 0xff, then fill 0xff bytes, then its code;
		// other bytes between segments are skipped, as image/jpeg does.
		c, err := readByte()
		if err != nil {
			break
		}
		if c != 0xff {
			continue
		}
		for c == 0xff && err == nil {
			c, err = readByte()
		}
		switch {
		case err != nil:
			break walk
		case c == 0:
			continue
		case c == 0xd9: // EOI
			break walk
		case 0xd0 <= c && c <= 0xd7 || c == 0x01: // no length
			continue
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			break
		}
		n := int64(binary.BigEndian.Uint16(b[:])) - 2
		if n < 0 {
			return imageHeader{}, errors.New("short segment length")
		}
		switch {
		case c == 0xc0 || c == 0xc1 || c == 0xc2: // baseline, extended, progressive
			if sof != nil {
				return imageHeader{}, errors.New("multiple SOF markers")
			}
			if sof, err = readN(r, int(n)); err != nil {
				return imageHeader{}, err
			}
			progressive = c == 0xc2
			continue
		case c == 0xda: // SOS
			sawSOS = true
			break walk
		case c == 0xe0 && n >= 5:
			seg, err := readN(r, 5)
			if err != nil {
				break walk
			}
			jfif, n = string(seg) == "JFIF\x00", n-5
		case c == 0xee && n >= 12:
			seg, err := readN(r, 12)
			if err != nil {
				break walk
			}
			if string(seg[:5]) == "Adobe" {
				adobe, adobeTransform = true, seg[11]
			}
			n -= 12
		}
		if skip(r, n) != nil {
			break
		}
	}
	if sof == nil {
		return imageHeader{}, errors.New("no frame header")
	}
	if len(sof) < 6 {
		return imageHeader{}, errors.New("short frame header")
	}
	h := int(binary.BigEndian.Uint16(sof[1:3]))
	w := int(binary.BigEndian.Uint16(sof[3:5]))
	nComp := int(sof[5])
	if nComp != 1 && nComp != 3 && nComp != 4 || len(sof) != 6+3*nComp {
		return imageHeader{}, fmt.Errorf("%d components", nComp)
	}
	if w <= 0 || h <= 0 {
		return imageHeader{}, fmt.Errorf("dimensions %dx%d", w, h)
	}
	type comp struct{ id, h, v byte }
	comps := make([]comp, nComp)
	for i := range comps {
		hv := sof[7+3*i]
		comps[i] = comp{id: sof[6+3*i], h: hv >> 4, v: hv & 15}
		if comps[i].h < 1 || comps[i].h > 4 || comps[i].v < 1 || comps[i].v > 4 {
			return imageHeader{}, errors.New("bad sampling factors")
		}
	}
	if nComp == 1 {
		comps[0].h, comps[0].v = 1, 1 // as image/jpeg: one component is never interleaved
	}
	h0, v0 := int64(comps[0].h), int64(comps[0].v)
	mxx := (int64(w) + 8*h0 - 1) / (8 * h0)
	myy := (int64(h) + 8*v0 - 1) / (8 * v0)
	px := int64(w) * int64(h)
	hd := imageHeader{width: w, height: h, pixelBytes: 4}
	var img int64
	if nComp == 1 {
		img, hd.pixelBytes = 64*mxx*myy, 1
	} else {
		hRatio, vRatio := comps[0].h/comps[1].h, comps[0].v/comps[1].v
		ratio, ok := map[byte]image.YCbCrSubsampleRatio{
			0x11: image.YCbCrSubsampleRatio444, 0x12: image.YCbCrSubsampleRatio440,
			0x21: image.YCbCrSubsampleRatio422, 0x22: image.YCbCrSubsampleRatio420,
			0x41: image.YCbCrSubsampleRatio411, 0x42: image.YCbCrSubsampleRatio410,
		}[hRatio<<4|vRatio]
		if !ok || comps[1].h*hRatio != comps[0].h || comps[1].v*vRatio != comps[0].v {
			return imageHeader{}, errors.New("unsupported subsampling")
		}
		W, H := int(8*h0*mxx), int(8*v0*myy)
		cw, ch := chromaSize(ratio, W, H)
		img = int64(W)*int64(H) + 2*int64(cw)*int64(ch)
		switch {
		case nComp == 4:
			img += 64*int64(comps[3].h)*int64(comps[3].v)*mxx*myy + 4*px
			hd.convert = true
		case jfif:
			hd.ycbcr, hd.ratio = true, ratio
		case adobe && adobeTransform == 0,
			comps[0].id == 'R' && comps[1].id == 'G' && comps[2].id == 'B',
			// An Adobe segment beyond the header limit may still say
			// RGB: count the conversion.
			!sawSOS:
			img += 4 * px
		default:
			hd.ycbcr, hd.ratio = true, ratio
		}
	}
	if progressive {
		for _, c := range comps {
			img += 256 * mxx * myy * int64(c.h) * int64(c.v)
		}
	}
	hd.decode = img + decoderState
	return hd, nil
}

// pngHeader reads IHDR and the chunks before the first IDAT (a tRNS turns
// gray into NRGBA, 16-bit gray into NRGBA64) and returns what image/png
// allocates: the image in the Go type it decodes to, twice for an
// interlaced image (each pass is decoded into its own image, then merged),
// and two rows.
func pngHeader(r io.Reader) (imageHeader, error) {
	b, err := readN(r, 8+8+13+4)
	if err != nil {
		return imageHeader{}, err
	}
	ihdr := b[16:29]
	w, h := binary.BigEndian.Uint32(ihdr[0:4]), binary.BigEndian.Uint32(ihdr[4:8])
	depth, ct, interlaced := int64(ihdr[8]), ihdr[9], ihdr[12] == 1
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return imageHeader{}, fmt.Errorf("dimensions %dx%d", w, h)
	}
	trns := true // unless IDAT is reached without one
	for {
		c, err := readN(r, 8)
		if err != nil {
			break
		}
		typ, n := string(c[4:8]), int64(binary.BigEndian.Uint32(c[0:4]))
		if typ == "IDAT" {
			trns = false
			break
		}
		if typ == "tRNS" {
			break
		}
		if skip(r, n+4) != nil {
			break
		}
	}
	var channels int64
	var pixelBytes int64 // of the image it decodes to
	switch ct {
	case 0: // gray
		channels, pixelBytes = 1, 1
		if depth == 16 {
			pixelBytes = 2
		}
		if trns {
			pixelBytes *= 4
		}
	case 2: // truecolor
		channels, pixelBytes = 3, 4
		if depth == 16 {
			pixelBytes = 8
		}
	case 3: // paletted
		channels, pixelBytes = 1, 1
	case 4: // gray and alpha
		channels, pixelBytes = 2, 4
		if depth == 16 {
			pixelBytes = 8
		}
	case 6: // truecolor and alpha
		channels, pixelBytes = 4, 4
		if depth == 16 {
			pixelBytes = 8
		}
	default:
		return imageHeader{}, fmt.Errorf("color type %d", ct)
	}
	px := int64(w) * int64(h)
	row := 2 * (1 + (channels*depth*int64(w)+7)/8)
	img := pixelBytes * px
	if interlaced {
		img, row = 2*img, 7*row
	}
	hd := imageHeader{width: int(w), height: int(h), pixelBytes: min(pixelBytes, 4),
		decode: img + row + decoderState}
	hd.convert = depth == 16 // Gray16, RGBA64, NRGBA64: read through At
	return hd, nil
}

// gifHeader returns what image/gif allocates for the first frame, the only
// one image.Decode keeps: at most the logical screen as one byte per pixel,
// twice when the frame is interlaced (it is re-laid into a new buffer).
func gifHeader(r io.Reader) (imageHeader, error) {
	b, err := readN(r, 10)
	if err != nil {
		return imageHeader{}, err
	}
	w, h := int(binary.LittleEndian.Uint16(b[6:8])), int(binary.LittleEndian.Uint16(b[8:10]))
	return imageHeader{width: w, height: h, pixelBytes: 1,
		decode: 2*int64(w)*int64(h) + decoderState}, nil
}

// vp8lTrees is the most a VP8L image's Huffman codes can allocate in
// golang.org/x/image/vp8l: up to 2600 groups (and one for each of four
// sub-images) of five trees, each tree holding its code lengths, its codes
// and 2n-1 nodes of 8 bytes for an alphabet of n (280 + a color cache of
// up to 2048 for the first, 256 for the next three, 40 for the last), plus
// a lookup table: 82 KiB a group, size classes included. Only decoding says
// how many groups an image uses, and a few bytes of input declare a full
// one, so every lossless WebP is charged all of them (208 MiB).
const vp8lTrees = (2600 + 4) * 82 << 10

// webpHeader walks the RIFF chunks up to the image data and returns what
// golang.org/x/image/webp allocates: for VP8 (lossy), the 4:2:0 image in
// whole macroblocks plus the partitions, copied out of the chunk; for VP8L
// (lossless), the pixels, twice with a color-indexing transform, the
// transform and entropy images and vp8lTrees; an alpha channel adds its
// plane, decoded as a VP8L image when compressed.
func webpHeader(r io.Reader) (imageHeader, error) {
	b, err := readN(r, 12)
	if err != nil || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return imageHeader{}, errors.New("not RIFF WEBP")
	}
	var (
		vp8x, alpha, losslessAlpha bool
		canvasW, canvasH           int
	)
	lossless := func(w, h int64) int64 {
		tiles := 4 * ((w + 3) / 4) * ((h + 3) / 4)
		return 8*w*h + 3*tiles + vp8lTrees + decoderState
	}
	for {
		c, err := readN(r, 8)
		if err != nil {
			break
		}
		id, n := string(c[0:4]), int64(binary.LittleEndian.Uint32(c[4:8]))
		switch id {
		case "VP8X":
			d, err := readN(r, 10)
			if err != nil || n != 10 {
				return imageHeader{}, errors.New("bad VP8X chunk")
			}
			vp8x, alpha = true, d[0]&0x10 != 0
			canvasW = 1 + (int(d[4]) | int(d[5])<<8 | int(d[6])<<16)
			canvasH = 1 + (int(d[7]) | int(d[8])<<8 | int(d[9])<<16)
			continue
		case "ALPH":
			d, err := readN(r, 1)
			if err != nil || n < 1 {
				return imageHeader{}, errors.New("bad ALPH chunk")
			}
			losslessAlpha = d[0]&3 == 1
			n--
		case "VP8 ":
			d, err := readN(r, 10)
			if err != nil {
				return imageHeader{}, err
			}
			w := int(binary.LittleEndian.Uint16(d[6:8]) & 0x3fff)
			h := int(binary.LittleEndian.Uint16(d[8:10]) & 0x3fff)
			if vp8x && (w != canvasW || h != canvasH) {
				return imageHeader{}, errors.New("VP8 frame and VP8X canvas differ")
			}
			mbw, mbh := int64(w+15)/16, int64(h+15)/16
			hd := imageHeader{width: w, height: h, pixelBytes: 4, chunk: n, convert: true,
				ycbcr: !alpha, ratio: image.YCbCrSubsampleRatio420}
			// The image and per-macroblock filter state.
			hd.decode = 384*mbw*mbh + 8*mbw*mbh + 64*mbw + n + decoderState
			if alpha {
				hd.decode += int64(w) * int64(h)
				if losslessAlpha {
					hd.decode += lossless(int64(w), int64(h))
				}
			}
			return hd, nil
		case "VP8L":
			d, err := readN(r, 5)
			if err != nil || d[0] != 0x2f {
				return imageHeader{}, errors.New("bad VP8L header")
			}
			bits := binary.LittleEndian.Uint32(d[1:5])
			w, h := int(bits&0x3fff)+1, int(bits>>14&0x3fff)+1
			return imageHeader{width: w, height: h, pixelBytes: 4,
				decode: lossless(int64(w), int64(h))}, nil
		}
		if skip(r, n+n&1) != nil {
			break
		}
	}
	if !vp8x {
		return imageHeader{}, errors.New("no image chunk")
	}
	// The image data is beyond the header limit: charge the costlier of
	// what it may be.
	w, h := int64(canvasW), int64(canvasH)
	return imageHeader{width: canvasW, height: canvasH, pixelBytes: 4, copiesSource: true, convert: true,
		decode: 392*((w+15)/16)*((h+15)/16) + w*h + lossless(w, h)}, nil
}

// estimate is the bytes that resizing an image of header h and size
// srcSize to width allocates in all: the source, the decode, the
// resizer's buffers and the encoded variant. Every term is an upper bound
// of what the code allocates (TestEstimateCoversAllocations measures it),
// so the admitted estimates bound the heap the decodes can take, garbage
// included.
func (h imageHeader) estimate(srcSize int64, width int) int64 {
	// resize reads the header again from the source it was given.
	n := srcSize + headerCost + h.decode
	if h.copiesSource {
		n += srcSize
	}
	// Served as is when not wider than asked.
	out := maxVariant(h.format, int64(h.width), int64(h.height), h.pixelBytes)
	asIs := int64(0)
	if h.convert {
		asIs = 4 * int64(h.width) * int64(h.height)
	}
	if width >= h.width {
		n += asIs
	} else {
		sw, sh := int64(h.width), int64(h.height)
		dh := max(1, (sh*int64(width)+sw/2)/sw)
		if h.format == "gif" {
			// The first frame, scaled on its own, may be anywhere
			// within the screen and of any shape: bound it by the
			// screen's height.
			dh = sh
		}
		if h.ycbcr && h.width >= 4*width {
			k := int64(h.width / (2 * width))
			sw, sh = sw/k, sh/k
			cw, ch := chromaSize(h.ratio, int(sw), int(sh))
			n += sw*sh + 2*int64(cw)*int64(ch)
		}
		dw := int64(width)
		// draw.CatmullRom.Scale: a [4]float64 per destination column
		// and source row, the kernel weights of each direction, and
		// the RGBA destination.
		n += 32*dw*sh + 64*(sw+sh) + 64*(dw+dh) + 4*dw*dh
		resized := maxVariant(h.format, dw, dh, 4)
		if h.format == "gif" {
			out = max(out, resized) // a frame no wider than asked is not scaled
		} else {
			out = resized
		}
	}
	// The variant writer's chunks, then the variant.
	return n + 2*out + encoderState
}

// encoderState is what encoding allocates besides the output: zlib's
// compressor for PNG (about 1.2 MiB), buffers and rows.
const encoderState = 2 << 20

// maxVariant bounds the encoded size of a w×h variant. A PNG (deflate at
// its fastest) never exceeds its raw rows by more than its block headers.
// A JPEG at quality 100 of random noise takes 2 bytes a pixel (4:2:0, as
// image/jpeg writes), at 80 under 0.7; 3 bytes a pixel leaves room, and
// the variant writer refuses to go past it.
func maxVariant(format string, w, h, pixelBytes int64) int64 {
	if format == "jpeg" {
		return 3*w*h + 64<<10
	}
	raw := h * (1 + w*pixelBytes)
	return raw + raw/1024 + 64<<10 // stored blocks and IDAT chunks: under 1/2000
}

// chunkWriter collects the encoded variant in chunks up to a limit, so that
// its memory is what it holds, without the slack of a doubling buffer.
type chunkWriter struct {
	chunks [][]byte
	n, max int64
}

var errVariantTooLarge = errors.New("encoded variant over its estimate")

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.max {
		return 0, errVariantTooLarge
	}
	written := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == cap(c.chunks[len(c.chunks)-1]) {
			c.chunks = append(c.chunks, make([]byte, 0, 64<<10))
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	c.n += int64(written)
	return written, nil
}

func (c *chunkWriter) Bytes() []byte {
	return bytes.Join(c.chunks, nil)
}
