package server

import (
	"fmt"
	"image"
	"strconv"
)

// Link previews. Chat apps and social sites show a page's og:image only when
// it is large enough (Facebook asks for 200×200 at least, large cards want
// 512 px and more), while the model draws 128 px images. /render.png?size=N
// upscales on the server with nearest-neighbour sampling by a whole factor:
// every image pixel becomes a k×k block, the same crisp look as the
// painter's pixelated canvas, and no resampling invents detail or blur.

// maxRenderSide bounds the longest side of an upscaled /render.png, so a
// request cannot make the server encode an arbitrarily large PNG.
const maxRenderSide = 1024

// previewSide is the longest side the pages' og:image asks for.
const previewSide = 512

// renderScale parses the size parameter of /render.png: the longest side of
// the answer in pixels, a whole multiple of the model's longest side (native
// size when empty) and at most maxRenderSide or the native size, whichever
// is larger. It returns the upscaling factor.
func renderScale(size string, w, h int) (int, error) {
	native := max(w, h)
	if size == "" {
		return 1, nil
	}
	limit := max(maxRenderSide, native)
	n, err := strconv.Atoi(size)
	if err != nil || len(size) > 6 || size[0] == '+' || size[0] == '-' {
		return 0, fmt.Errorf("size %q is not a whole number of pixels", truncate(size, 16))
	}
	if n < native || n > limit || n%native != 0 {
		return 0, fmt.Errorf("size must be a multiple of %d from %d to %d", native, native, limit-limit%native)
	}
	return n / native, nil
}

// previewScale is the smallest whole factor that makes the longest side of
// a w×h image at least previewSide (1 for models that already draw big).
func previewScale(w, h int) int {
	native := max(w, h)
	return max(1, min((previewSide+native-1)/native, max(maxRenderSide, native)/native))
}

// upscale repeats every pixel of src k times in each direction.
func upscale(src *image.RGBA, k int) *image.RGBA {
	if k <= 1 {
		return src
	}
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy(); y++ {
		srow := src.Pix[y*src.Stride : y*src.Stride+4*b.Dx()]
		drow := dst.Pix[y*k*dst.Stride : y*k*dst.Stride+dst.Stride]
		for x := 0; x < b.Dx(); x++ {
			px := srow[4*x : 4*x+4]
			for i := 0; i < k; i++ {
				copy(drow[4*(x*k+i):], px)
			}
		}
		// The other k-1 rows of the block are copies of the first.
		for i := 1; i < k; i++ {
			copy(dst.Pix[(y*k+i)*dst.Stride:], drow)
		}
	}
	return dst
}

// paintingOf describes p's current image and edits for PageData.
func paintingOf(p *painter) *Painting {
	pt := &Painting{ID: p.id, Layer: p.layer.info.Name}
	for _, e := range p.edits() {
		pt.Edits = append(pt.Edits, e.Edit)
	}
	return pt
}
