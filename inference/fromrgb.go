package inference

import (
	"fmt"
	"image"
)

// ImagesFromRGB converts n images of h×w pixels, 8-bit RGB interleaved
// ([n, h, w, 3], as numpy stores images), into Images in valueRange:
// v = lo + b/255·(hi − lo), the inverse of Images.RGBA up to rounding.
func ImagesFromRGB(pix []uint8, n, h, w int, valueRange [2]float32) (*Images, error) {
	if n <= 0 || n > MaxBatch || h <= 0 || w <= 0 || h > maxDim || w > maxDim {
		return nil, fmt.Errorf("%w: %d images of %dx%d", ErrBadShape, n, w, h)
	}
	if len(pix) != n*h*w*3 {
		return nil, fmt.Errorf("%w: %d bytes for %d RGB images of %dx%d", ErrBadShape, len(pix), n, w, h)
	}
	lo, hi := valueRange[0], valueRange[1]
	if !(hi > lo) {
		return nil, fmt.Errorf("%w: value range %v", ErrBadShape, valueRange)
	}
	scale := (hi - lo) / 255
	plane := h * w
	out := &Images{N: n, H: h, W: w, Data: make([]float32, n*3*plane)}
	for k := 0; k < n; k++ {
		src := pix[k*plane*3 : (k+1)*plane*3]
		dst := out.Data[k*3*plane : (k+1)*3*plane]
		for p := 0; p < plane; p++ {
			dst[p] = lo + float32(src[3*p])*scale
			dst[plane+p] = lo + float32(src[3*p+1])*scale
			dst[2*plane+p] = lo + float32(src[3*p+2])*scale
		}
	}
	return out, nil
}

// ImagesFromRGBA converts opaque RGBA images of one size (alpha ignored)
// into one batch of Images in valueRange.
func ImagesFromRGBA(imgs []*image.RGBA, valueRange [2]float32) (*Images, error) {
	if len(imgs) == 0 || imgs[0] == nil {
		return nil, fmt.Errorf("%w: no images", ErrBadShape)
	}
	b := imgs[0].Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || w > maxDim || h > maxDim || len(imgs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d images of %dx%d", ErrBadShape, len(imgs), w, h)
	}
	pix := make([]uint8, len(imgs)*w*h*3)
	for k, img := range imgs {
		if img == nil || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
			return nil, fmt.Errorf("%w: image %d is not %dx%d", ErrBadShape, k, w, h)
		}
		ib := img.Bounds()
		for y := 0; y < h; y++ {
			row := img.Pix[img.PixOffset(ib.Min.X, ib.Min.Y+y):]
			for x := 0; x < w; x++ {
				o := ((k*h+y)*w + x) * 3
				pix[o], pix[o+1], pix[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	}
	return ImagesFromRGB(pix, len(imgs), h, w, valueRange)
}
