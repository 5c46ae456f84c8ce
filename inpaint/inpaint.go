// Package inpaint fills masked regions of 8-bit RGB images with the two
// classical methods the GAN's object removal is compared against:
//
//   - Telea: the fast-marching method of A. Telea, "An Image Inpainting
//     Technique Based on the Fast Marching Method", J. Graphics Tools 9(1),
//     2004. Pixels are filled in order of their distance to the region's
//     boundary, each one from the known pixels within the radius.
//   - NS: the Navier–Stokes method of M. Bertalmio, A. L. Bertozzi and
//     G. Sapiro, "Navier–Stokes, Fluid Dynamics, and Image and Video
//     Inpainting", CVPR 2001. The image is a stream function; its vorticity
//     (the Laplacian) is carried along the isophotes into the region, and the
//     image is recovered from the vorticity by a Poisson solve.
//
// The calling convention follows OpenCV's inpaint(src, mask, dst, radius,
// INPAINT_TELEA | INPAINT_NS): an 8-bit colour image, an 8-bit mask of the
// same size whose non-zero pixels are filled, a radius in pixels, and an
// 8-bit result equal to src outside the mask. Both methods were written from
// the papers; see telea.go and ns.go for the choices the papers leave open.
//
// Pure Go, no allocation beyond a few per-pixel planes, deterministic: the
// same input gives the same bytes on every machine.
package inpaint

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Method selects the inpainting algorithm.
type Method int

const (
	// Telea is the fast-marching method (OpenCV's INPAINT_TELEA).
	Telea Method = iota + 1
	// NS is the Navier–Stokes method (OpenCV's INPAINT_NS).
	NS
)

// String returns the method's short name as shown to users.
func (m Method) String() string {
	switch m {
	case Telea:
		return "telea"
	case NS:
		return "ns"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// MaxRadius bounds the radius: the work per filled pixel grows with its
// square (Telea) and nothing is gained beyond a few pixels.
const MaxRadius = 64

// MaxPixels bounds the image size (64 Mpx) so a caller cannot make one call
// allocate without limit.
const MaxPixels = 1 << 26

// Errors. Every error returned by this package wraps one of them together
// with a message naming the offending value.
var (
	ErrBadImage     = errors.New("inpaint: bad image")
	ErrMaskSize     = errors.New("inpaint: mask does not match the image")
	ErrBadRadius    = errors.New("inpaint: bad radius")
	ErrBadMethod    = errors.New("inpaint: unknown method")
	ErrNothingKnown = errors.New("inpaint: the mask covers the whole image, nothing to fill from")
)

// Inpaint returns a copy of src whose pixels under mask (non-zero values)
// are filled by method, using the known pixels within radius. src and mask
// must have the same bounds; radius must be in [1, MaxRadius]. The result is
// opaque (alpha 255) with the bounds of src; src's alpha is ignored, as in
// OpenCV's 3-channel calling convention. An empty mask returns an exact copy.
func Inpaint(src *image.RGBA, mask *image.Gray, radius float64, method Method) (*image.RGBA, error) {
	p, err := newProblem(src, mask, radius)
	if err != nil {
		return nil, err
	}
	switch method {
	case Telea:
		if p.holes > 0 {
			p.telea()
		}
	case NS:
		if p.holes > 0 {
			p.ns()
		}
	default:
		return nil, fmt.Errorf("%w: %d", ErrBadMethod, int(method))
	}
	return p.result(), nil
}

// problem is one call's working state: the image as float planes in [0, 255]
// (so 8-bit rounding of an unchanged value gives the input byte back) and
// the mask.
type problem struct {
	w, h   int
	rect   image.Rectangle
	radius float64
	// img holds the three channels interleaved, w*h*3 values.
	img []float32
	// hole marks the pixels to fill.
	hole  []bool
	holes int
}

func newProblem(src *image.RGBA, mask *image.Gray, radius float64) (*problem, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil image", ErrBadImage)
	}
	if mask == nil {
		return nil, fmt.Errorf("%w: nil mask", ErrMaskSize)
	}
	r := src.Bounds()
	w, h := r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: empty image %v", ErrBadImage, r)
	}
	if int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("%w: %d×%d is more than %d pixels", ErrBadImage, w, h, MaxPixels)
	}
	if len(src.Pix) < (h-1)*src.Stride+4*w || src.Stride < 4*w {
		return nil, fmt.Errorf("%w: %d bytes with stride %d for %d×%d", ErrBadImage, len(src.Pix), src.Stride, w, h)
	}
	if mask.Bounds() != r {
		return nil, fmt.Errorf("%w: mask %v, image %v", ErrMaskSize, mask.Bounds(), r)
	}
	if len(mask.Pix) < (h-1)*mask.Stride+w || mask.Stride < w {
		return nil, fmt.Errorf("%w: %d mask bytes with stride %d for %d×%d", ErrMaskSize, len(mask.Pix), mask.Stride, w, h)
	}
	if math.IsNaN(radius) || radius < 1 || radius > MaxRadius {
		return nil, fmt.Errorf("%w: %v (want 1 ≤ radius ≤ %d)", ErrBadRadius, radius, MaxRadius)
	}
	p := &problem{w: w, h: h, rect: r, radius: radius, img: make([]float32, w*h*3), hole: make([]bool, w*h)}
	for y := 0; y < h; y++ {
		row := src.Pix[y*src.Stride : y*src.Stride+4*w]
		mrow := mask.Pix[y*mask.Stride : y*mask.Stride+w]
		for x := 0; x < w; x++ {
			i := y*w + x
			p.img[3*i] = float32(row[4*x])
			p.img[3*i+1] = float32(row[4*x+1])
			p.img[3*i+2] = float32(row[4*x+2])
			if mrow[x] != 0 {
				p.hole[i] = true
				p.holes++
			}
		}
	}
	if p.holes == w*h {
		return nil, ErrNothingKnown
	}
	return p, nil
}

// result rounds the planes back to bytes. Known pixels hold their input
// bytes exactly, so they come back unchanged.
func (p *problem) result() *image.RGBA {
	out := image.NewRGBA(p.rect)
	for i := 0; i < p.w*p.h; i++ {
		o := out.Pix[4*i : 4*i+4]
		o[0] = toByte(p.img[3*i])
		o[1] = toByte(p.img[3*i+1])
		o[2] = toByte(p.img[3*i+2])
		o[3] = 255
	}
	return out
}

func toByte(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN, which the methods never produce but must not wrap
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// MaskFromCells turns a grid of cells (row-major, cols×rows, non-zero =
// fill) into a pixel mask of w×h at the origin: pixel (x, y) belongs to cell
// (x·cols/w, y·rows/h). This is how a brushed layer-grid mask becomes the
// region a classical method fills.
func MaskFromCells(cells []float32, cols, rows, w, h int) (*image.Gray, error) {
	if cols <= 0 || rows <= 0 || len(cells) != cols*rows {
		return nil, fmt.Errorf("%w: %d cells for a %d×%d grid", ErrMaskSize, len(cells), cols, rows)
	}
	if w < cols || h < rows || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("%w: %d×%d pixels for a %d×%d grid", ErrMaskSize, w, h, cols, rows)
	}
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		cy := y * rows / h
		for x := 0; x < w; x++ {
			if cells[cy*cols+x*cols/w] != 0 {
				m.Pix[y*m.Stride+x] = 255
			}
		}
	}
	return m, nil
}

// Dilate grows a mask by r pixels (Euclidean disc), returning a new mask.
// Classical methods fill from the pixels just outside the mask; a
// segmenter's mask of an object stops where the label changes, so the
// object's anti-aliased rim would otherwise be copied inwards.
func Dilate(mask *image.Gray, r int) *image.Gray {
	b := mask.Bounds()
	out := image.NewGray(b)
	w, h := b.Dx(), b.Dy()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if mask.Pix[y*mask.Stride+x] == 0 {
				continue
			}
			for dy := -r; dy <= r; dy++ {
				yy := y + dy
				if yy < 0 || yy >= h {
					continue
				}
				for dx := -r; dx <= r; dx++ {
					xx := x + dx
					if xx < 0 || xx >= w || dx*dx+dy*dy > r*r {
						continue
					}
					out.Pix[yy*out.Stride+xx] = 255
				}
			}
		}
	}
	return out
}
