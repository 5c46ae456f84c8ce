package inference

import (
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"sync"
)

// RGBA converts image i of the batch to 8-bit RGBA using
// clamp(round((v−lo)/(hi−lo)·255), 0, 255) with [lo, hi] = valueRange (the
// manifest's image.range). It returns nil when i is out of range or the
// images are malformed; use RGBAInto for an error instead.
func (im *Images) RGBA(i int, valueRange [2]float32) *image.RGBA {
	if im == nil || im.H <= 0 || im.W <= 0 {
		return nil
	}
	dst := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
	if err := im.RGBAInto(dst, i, valueRange); err != nil {
		return nil
	}
	return dst
}

// RGBAInto is RGBA writing into dst, which must be exactly W×H at origin (0, 0).
func (im *Images) RGBAInto(dst *image.RGBA, i int, valueRange [2]float32) error {
	if im == nil || dst == nil {
		return fmt.Errorf("%w: nil image", ErrBadShape)
	}
	if i < 0 || i >= im.N || len(im.Data) != im.N*3*im.H*im.W {
		return fmt.Errorf("%w: image %d of a batch of %d (%d values for 3x%dx%d)", ErrBadShape, i, im.N, len(im.Data), im.H, im.W)
	}
	if dst.Rect != image.Rect(0, 0, im.W, im.H) {
		return fmt.Errorf("%w: destination %v, want %dx%d", ErrBadShape, dst.Rect, im.W, im.H)
	}
	if !rangeOK(valueRange) {
		return fmt.Errorf("%w: value range %v", ErrBadShape, valueRange)
	}
	// One multiply per value: (v−lo)·(255/span) differs from (v−lo)/span·255
	// by at most an ulp, which only matters for values within 1e-5 of a
	// rounding boundary.
	lo, k := valueRange[0], 255/(valueRange[1]-valueRange[0])
	plane := im.H * im.W
	r := im.Data[i*3*plane : i*3*plane+plane]
	g := im.Data[i*3*plane+plane : i*3*plane+2*plane]
	b := im.Data[i*3*plane+2*plane : (i+1)*3*plane]
	for y := 0; y < im.H; y++ {
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*im.W]
		rr, gg, bb := r[y*im.W:(y+1)*im.W], g[y*im.W:(y+1)*im.W], b[y*im.W:(y+1)*im.W]
		for x := range rr {
			px := row[4*x : 4*x+4 : 4*x+4]
			px[0] = toByte((rr[x] - lo) * k)
			px[1] = toByte((gg[x] - lo) * k)
			px[2] = toByte((bb[x] - lo) * k)
			px[3] = 255
		}
	}
	return nil
}

// toByte rounds half away from zero (for the non-negative values that reach
// the conversion) and clamps to [0, 255]; NaN becomes 0.
func toByte(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 254.5 {
		return 255
	}
	return uint8(v + 0.5)
}

// pngBuffers lets the PNG encoder reuse its compression state across calls.
type pngBuffers struct{ p sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	if v, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return v
	}
	return nil
}
func (b *pngBuffers) Put(e *png.EncoderBuffer) { b.p.Put(e) }

// pngEncoder favours speed: stroke frames are re-encoded many times per
// second, and BestSpeed is within a few percent of the default size on GAN output.
var pngEncoder = &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBuffers{}}

// EncodePNG writes img as PNG. Opaque *image.RGBA images (what
// Images.RGBA produces) take a fast path: 8-bit RGB, Paeth filter, fastest
// deflate; anything else goes through image/png.
func EncodePNG(w io.Writer, img image.Image) error {
	if img == nil {
		return fmt.Errorf("%w: nil image", ErrBadShape)
	}
	if rgba, ok := img.(*image.RGBA); ok && !rgba.Rect.Empty() && rgba.Rect.Min == (image.Point{}) && isOpaqueRGBA(rgba) {
		return encodeOpaquePNG(w, rgba)
	}
	return pngEncoder.Encode(w, img)
}

// EncodeJPEG writes img as baseline JPEG with quality in [1, 100].
func EncodeJPEG(w io.Writer, img image.Image, quality int) error {
	if quality < 1 || quality > 100 {
		return fmt.Errorf("%w: %d, must be 1..100", ErrBadQuality, quality)
	}
	if img == nil {
		return fmt.Errorf("%w: nil image", ErrBadShape)
	}
	return jpeg.Encode(w, img, &jpeg.Options{Quality: quality})
}

// Image encodings of EncodeImage, named as the CLI, the benchmark and the
// websocket protocol name them.
const (
	FormatPNG  = "png"
	FormatJPEG = "jpeg"
)

// EncodeImage writes img as FormatPNG or FormatJPEG (at quality, 1..100):
// the one place that picks the encoder, so a frame, /render.png, `ganpaint
// render` and the benchmark give the same bytes for the same pixels.
func EncodeImage(w io.Writer, img image.Image, format string, quality int) error {
	switch format {
	case FormatPNG:
		return EncodePNG(w, img)
	case FormatJPEG:
		return EncodeJPEG(w, img, quality)
	}
	return fmt.Errorf("%w: image format %q, want %q or %q", ErrBadFormat, format, FormatPNG, FormatJPEG)
}
