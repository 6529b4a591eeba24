package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // the upload content types, registered for image.Decode
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// variant is one resized image as served.
type variant struct {
	data        []byte
	contentType string
	etag        string
}

// errUnprocessable is an original the origin will not decode: not one of
// the upload formats, corrupt, or over the pixel limit.
var errUnprocessable = errors.New("media: image cannot be processed")

// resize decodes src (JPEG, PNG, GIF or WebP), scales it to width (never
// up) keeping the aspect ratio, and encodes it: JPEG at quality for a JPEG
// original, PNG otherwise (it may have transparency; GIF keeps its first
// frame). Dimensions are read from the header first, so an image over
// maxPixels is refused before any pixel is allocated.
func resize(src []byte, width int, maxPixels int64, quality int) (*variant, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(src))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	case format != "jpeg" && format != "png" && format != "gif" && format != "webp":
		return nil, fmt.Errorf("%w: format %s", errUnprocessable, format)
	case cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPixels:
		return nil, fmt.Errorf("%w: %dx%d is over %d pixels", errUnprocessable, cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	b := img.Bounds()
	if width < b.Dx() {
		h := max(1, (b.Dy()*width+b.Dx()/2)/b.Dx())
		if m, ok := img.(*image.YCbCr); ok && b.Dx() >= 4*width && b.Min == (image.Point{}) {
			img = shrinkYCbCr(m, b.Dx()/(2*width))
		}
		dst := image.NewRGBA(image.Rect(0, 0, width, h))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
		img = dst
	}
	var buf bytes.Buffer
	v := &variant{contentType: "image/png"}
	if format == "jpeg" {
		v.contentType = "image/jpeg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	if err != nil {
		return nil, fmt.Errorf("media: encode: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	v.data, v.etag = buf.Bytes(), `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`
	return v, nil
}

// shrinkYCbCr box-filters each plane of m by the integer factor k. Done
// before the Catmull-Rom scaler on large reductions (a photo to a
// thumbnail), it cuts the scaler's work by k² while the kernel still sees
// at least twice the target width, so the result stays free of aliasing.
func shrinkYCbCr(m *image.YCbCr, k int) *image.YCbCr {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	d := image.NewYCbCr(image.Rect(0, 0, w/k, h/k), m.SubsampleRatio)
	box(d.Y, d.YStride, w/k, h/k, m.Y, m.YStride, w, h, k)
	dw, dh := chromaSize(m.SubsampleRatio, w/k, h/k)
	sw, sh := chromaSize(m.SubsampleRatio, w, h)
	box(d.Cb, d.CStride, dw, dh, m.Cb, m.CStride, sw, sh, k)
	box(d.Cr, d.CStride, dw, dh, m.Cr, m.CStride, sw, sh, k)
	return d
}

// chromaSize is the size of the chroma planes of a w×h YCbCr image at the
// origin, as image.NewYCbCr lays them out.
func chromaSize(r image.YCbCrSubsampleRatio, w, h int) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}

// box writes into the dw×dh plane dst the mean of each k×k block of the
// sw×sh plane src (blocks clipped at src's edges).
func box(dst []uint8, dstride, dw, dh int, src []uint8, sstride, sw, sh, k int) {
	for dy := range dh {
		y0 := min(dy*k, sh-1)
		y1 := min(y0+k, sh)
		for dx := range dw {
			x0 := min(dx*k, sw-1)
			x1 := min(x0+k, sw)
			sum := 0
			for y := y0; y < y1; y++ {
				for _, v := range src[y*sstride+x0 : y*sstride+x1] {
					sum += int(v)
				}
			}
			n := (y1 - y0) * (x1 - x0)
			dst[dy*dstride+dx] = uint8((sum + n/2) / n)
		}
	}
}
