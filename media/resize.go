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
	"slices"

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
// the upload formats, corrupt, over the pixel or size limits, or estimated
// over the whole decode budget.
var errUnprocessable = errors.New("media: image cannot be processed")

// resize decodes src (JPEG, PNG, GIF or WebP), scales it to width (never
// up) keeping the aspect ratio, and encodes it: JPEG at quality for a JPEG
// original, PNG otherwise (it may have transparency; GIF keeps its first
// frame). The header is read first, so an image over maxPixels, or whose
// estimate is over admitted (the budget its caller holds for it: it may
// have changed since its header was read), is refused before any pixel is
// allocated.
func resize(src []byte, width int, maxPixels int64, quality int, admitted int64) (*variant, error) {
	hd, err := readHeader(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	if _, err := admissible(hd, int64(len(src)), width, maxPixels, admitted); err != nil {
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	b := img.Bounds()
	pixelBytes := hd.pixelBytes
	if width < b.Dx() {
		pixelBytes = 4 // the RGBA it is scaled into
		h := max(1, (b.Dy()*width+b.Dx()/2)/b.Dx())
		if m, ok := img.(*image.YCbCr); ok && b.Dx() >= 4*width && b.Min == (image.Point{}) {
			img = shrinkYCbCr(m, b.Dx()/(2*width))
		}
		if m, ok := img.(*image.YCbCr); ok && !slices.Contains(scaledYCbCr, m.SubsampleRatio) {
			// The scaler would read it pixel by pixel through At,
			// boxing each color: over ten bytes of garbage per pixel,
			// which the estimate does not count.
			img = rgba64Image{m}
		}
		dst := image.NewRGBA(image.Rect(0, 0, width, h))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
		img = dst
	}
	img = encodable(img, hd.format == "jpeg")
	b = img.Bounds()
	out := &chunkWriter{max: maxVariant(hd.format, int64(b.Dx()), int64(b.Dy()), pixelBytes)}
	v := &variant{contentType: "image/png"}
	if hd.format == "jpeg" {
		v.contentType = "image/jpeg"
		err = jpeg.Encode(out, img, &jpeg.Options{Quality: quality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(out, img)
	}
	if errors.Is(err, errVariantTooLarge) {
		return nil, fmt.Errorf("%w: %v", errUnprocessable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("media: encode: %w", err)
	}
	v.data = out.Bytes()
	sum := sha256.Sum256(v.data)
	v.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return v, nil
}

// encodable returns img as a type the encoder reads directly, copying it
// into an RGBA if need be: image/png and image/jpeg read any other type
// through At, allocating for every pixel (the estimate counts the copy,
// imageHeader.convert, not that).
func encodable(img image.Image, jpegOut bool) image.Image {
	switch img.(type) {
	case *image.RGBA, *image.Gray:
		return img
	case *image.YCbCr:
		if jpegOut {
			return img
		}
	case *image.NRGBA, *image.Paletted:
		if !jpegOut {
			return img
		}
	}
	src, ok := img.(image.RGBA64Image)
	if !ok {
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.SetRGBA64(x, y, src.RGBA64At(x, y))
		}
	}
	return dst
}

// scaledYCbCr are the subsampling ratios golang.org/x/image/draw scales
// directly from the planes.
var scaledYCbCr = []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444,
	image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440}

// rgba64Image hides all of an image but RGBA64At from the scaler, which
// then reads it without allocating.
type rgba64Image struct{ image.RGBA64Image }

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
