package compare

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/inpaint"
	"github.com/ganpaint-go/ganpaint/internal/cputime"
)

// Method names, in the order the panel and the table show them.
const (
	MethodGAN     = "gan"
	MethodLearned = "learned"
	MethodNS      = "ns"
	MethodTelea   = "telea"
)

// Labels are the methods' display names.
var Labels = map[string]string{
	MethodGAN:     "GAN removal",
	MethodLearned: "Learned inpainting",
	MethodNS:      "Navier–Stokes",
	MethodTelea:   "Telea",
}

// Defaults shared by the panel and the table.
const (
	// DefaultRadius is the classical methods' radius in pixels (OpenCV's
	// customary inpaintRadius).
	DefaultRadius = 3
	// DefaultDilate grows the segmenter's mask of a concept by this many
	// pixels before the classical and learned methods fill it: the mask
	// stops where the label changes, and the object's soft rim just outside
	// it would otherwise be copied back in.
	DefaultDilate = 2
)

// ErrUnavailable: the method cannot run with this model (no learned
// inpainter shipped).
var ErrUnavailable = errors.New("not available for this model")

// Inpainter fills the pixels of img where mask is non-zero. Implementations
// return an image of img's size and must not modify img or mask.
type Inpainter interface {
	Inpaint(ctx context.Context, img *image.RGBA, mask *image.Gray) (*image.RGBA, error)
}

// Classical runs one of the inpaint package's methods.
type Classical struct {
	Method inpaint.Method
	Radius float64
}

// Inpaint implements Inpainter.
func (c Classical) Inpaint(ctx context.Context, img *image.RGBA, mask *image.Gray) (*image.RGBA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return inpaint.Inpaint(img, mask, c.Radius, c.Method)
}

// Learned runs the model's learned inpainter (the manifest's "inpainter"
// entry, docs/model-format.md); ErrUnavailable when the model has none.
type Learned struct {
	Model *inference.Model
}

// Inpaint implements Inpainter.
func (l Learned) Inpaint(ctx context.Context, img *image.RGBA, mask *image.Gray) (*image.RGBA, error) {
	if l.Model == nil || !l.Model.HasInpainter() {
		return nil, ErrUnavailable
	}
	r := l.Model.ImageRange()
	imgs, err := inference.ImagesFromRGBA([]*image.RGBA{img}, r)
	if err != nil {
		return nil, err
	}
	b := mask.Bounds()
	if b.Dx() != imgs.W || b.Dy() != imgs.H {
		return nil, fmt.Errorf("%w: mask %v for a %dx%d image", inference.ErrBadShape, b, imgs.W, imgs.H)
	}
	alpha := make([]float32, imgs.W*imgs.H)
	for y := 0; y < imgs.H; y++ {
		for x := 0; x < imgs.W; x++ {
			if mask.Pix[mask.PixOffset(b.Min.X+x, b.Min.Y+y)] != 0 {
				alpha[y*imgs.W+x] = 1
			}
		}
	}
	out, err := l.Model.Inpaint(ctx, imgs, alpha)
	if err != nil {
		return nil, err
	}
	return out.RGBA(0, r), nil
}

// Filler is a named Inpainter.
type Filler struct {
	Method string
	In     Inpainter
}

// Fillers are the methods that fill a mask, in display order: the model's
// learned inpainter (unavailable when it ships none), Navier–Stokes, Telea.
func Fillers(m *inference.Model, radius float64) []Filler {
	return []Filler{
		{MethodLearned, Learned{Model: m}},
		{MethodNS, Classical{Method: inpaint.NS, Radius: radius}},
		{MethodTelea, Classical{Method: inpaint.Telea, Radius: radius}},
	}
}

// Fill is one method's result: the image and how long it took (wall
// clock, and the process's CPU time where the platform measures it: on a
// loaded machine the first stretches, the second does not), or the error
// (ErrUnavailable for a method the model cannot run).
type Fill struct {
	Method  string
	Image   *image.RGBA
	Elapsed time.Duration
	CPU     time.Duration
	Err     error
}

// RunFills runs every filler on the same image and mask, one after the
// other, timing each. A failing method does not stop the others; only a
// cancelled ctx does.
func RunFills(ctx context.Context, before *image.RGBA, mask *image.Gray, fillers []Filler) ([]Fill, error) {
	out := make([]Fill, 0, len(fillers))
	for _, f := range fillers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		cpu0, _ := cputime.Process()
		img, err := f.In.Inpaint(ctx, before, mask)
		cpu1, _ := cputime.Process()
		out = append(out, Fill{Method: f.Method, Image: img, Elapsed: time.Since(start), CPU: cpu1 - cpu0, Err: err})
	}
	return out, nil
}

// ConceptMask returns the pixels labelled class (labels [h·w], row-major)
// grown by dilate pixels, as an image mask, and how many pixels carry the
// label.
func ConceptMask(labels []uint8, w, h int, class uint8, dilate int) (*image.Gray, int) {
	m := image.NewGray(image.Rect(0, 0, w, h))
	n := 0
	for i, l := range labels[:w*h] {
		if l == class {
			m.Pix[i] = 255
			n++
		}
	}
	if dilate > 0 && n > 0 {
		m = inpaint.Dilate(m, dilate)
	}
	return m, n
}
