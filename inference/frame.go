package inference

import (
	"context"
	"fmt"
	"image"

	ort "github.com/yalue/onnxruntime_go"
)

// Frame is one image's generator state after a paint layer: the edited
// activations it was last rendered from, the output of every later block,
// and the image. Model.Repaint keeps it up to date, recomputing only what an
// edit can have changed when the model's blocks declare their locality.
//
// A Frame holds every tail activation of one image (about 4 MB for the
// default model painted at layer4). It is not safe for concurrent use; the
// zero value is ready and renders in full the first time.
type Frame struct {
	model *Model
	layer LayerInfo
	end   int // the last stage the frame keeps: to_rgb, or a block (RepaintTo)
	valid bool
	in    []float32   // the edited activations at the paint layer
	outs  [][]float32 // outs[j]: output of stage layer.Index+1+j; the last is the image
	img   Images
}

// RepaintStats says what one Repaint did.
type RepaintStats struct {
	// Region is true when only a crop of each block was recomputed.
	Region bool
	// Changed is the bounding box of the paint-layer cells whose activations
	// differ from the previous render (empty: none; the whole grid after a
	// reset or a change of image or layer).
	Changed image.Rectangle
	// Dirty is the box of image pixels that may differ from the previous
	// frame; pixels outside it are bit-for-bit the previous frame's.
	Dirty image.Rectangle
	// Work is the estimated share of a full tail's multiply-adds that ran.
	Work float64
}

// Image returns the frame's image (batch of one). It shares the frame's
// memory: valid until the next Repaint or Reset. A frame kept by RepaintTo
// has no image.
func (fr *Frame) Image() *Images {
	if fr == nil || !fr.valid || fr.img.Data == nil {
		return nil
	}
	return &fr.img
}

// Output returns the activations of the layer RepaintTo brought the frame
// to (batch of one), sharing the frame's memory like Image; nil for a frame
// kept by Repaint, or an empty one.
func (fr *Frame) Output() *Features {
	if fr == nil || !fr.valid || fr.img.Data != nil {
		return nil
	}
	return &Features{N: 1, Layer: fr.model.layers[fr.end], Data: fr.outs[len(fr.outs)-1]}
}

// Reset forgets the frame's state, so the next Repaint runs the full tail.
func (fr *Frame) Reset() { fr.valid = false }

// Repaint brings fr to the image of f (one image's edited activations at a
// paint layer) and returns what it recomputed. When fr already holds a
// render of the same model and layer, it compares f with the activations of
// that render, propagates the bounding box of the changed cells through the
// later blocks with each block's declared scale and halo, runs each block
// only on the crop it needs, and pastes the results into the kept outputs.
// It runs the whole tail instead when a block declares no locality, when
// the crop's estimated work exceeds Options.RegionMaxWork of the full tail,
// or when fr holds nothing yet. Either way the image equals TailInto's up to
// float rounding (crops may sum in another order). Any error leaves fr
// empty, so the next call renders in full.
func (m *Model) Repaint(ctx context.Context, fr *Frame, f *Features) (RepaintStats, error) {
	return m.repaint(ctx, fr, f, len(m.gen)-1)
}

// RepaintTo is Repaint for the blocks after f's layer up to and including
// layer to only: fr keeps their outputs, and Output gives the activations
// at to, equal to ForwardInto's up to float rounding; the stats' Dirty box
// is in to's cells rather than image pixels. It serves edits at a later
// layer, which need those activations for every stroke, while most strokes
// change only a region of them.
func (m *Model) RepaintTo(ctx context.Context, fr *Frame, f *Features, to string) (RepaintStats, error) {
	lt, err := m.Layer(to)
	if err != nil {
		return RepaintStats{}, err
	}
	if f != nil && lt.Index <= f.Layer.Index {
		return RepaintStats{}, fmt.Errorf("%w: layer %s does not come after the features' layer %s", ErrBadShape, to, f.Layer.Name)
	}
	return m.repaint(ctx, fr, f, lt.Index)
}

func (m *Model) repaint(ctx context.Context, fr *Frame, f *Features, last int) (RepaintStats, error) {
	li, err := m.checkFeatures(f)
	if err != nil {
		return RepaintStats{}, err
	}
	if fr == nil {
		return RepaintStats{}, fmt.Errorf("%w: nil frame", ErrBadShape)
	}
	if f.N != 1 {
		return RepaintStats{}, fmt.Errorf("%w: a frame holds one image, got a batch of %d", ErrBadShape, f.N)
	}
	first := li.Index + 1
	whole := rect{span{0, li.Height}, span{0, li.Width}}
	imgBox := image.Rect(0, 0, m.manifest.Image.Width, m.manifest.Image.Height)
	if last < len(m.gen)-1 { // RepaintTo: boxes in the end layer's cells
		imgBox = image.Rect(0, 0, m.layers[last].Width, m.layers[last].Height)
	}
	if !fr.valid || fr.model != m || fr.layer != li || fr.end != last {
		st := RepaintStats{Changed: toImageRect(whole), Dirty: imgBox, Work: 1}
		return st, m.repaintFull(ctx, fr, f, li, last)
	}
	changed, any := changedCells(fr.in, f.Data, li)
	if !any {
		return RepaintStats{}, nil
	}
	st := RepaintStats{Changed: toImageRect(changed), Dirty: imgBox, Work: 1}
	steps, work, ok := m.planRegion(first, last, changed)
	if !ok || m.regionMaxWork < 0 || work > m.regionMaxWork {
		return st, m.repaintFull(ctx, fr, f, li, last)
	}
	st.Region, st.Work, st.Dirty = true, work, toImageRect(steps[len(steps)-1].out)
	w, err := m.acquire(ctx, false)
	if err != nil {
		return RepaintStats{}, err
	}
	defer m.release(w)
	fr.valid = false
	src := f.Data
	for j, step := range steps {
		if err := ctx.Err(); err != nil {
			return RepaintStats{}, err
		}
		stg := m.gen[step.stage]
		c, h, wd := int(stg.in[0]), int(stg.in[1]), int(stg.in[2])
		w.cropIn = cropInto(w.cropIn, src, c, h, wd, step.in)
		if w.cropOut, err = m.runCrop(w, step.stage, w.cropIn, step.in, w.cropOut); err != nil {
			return RepaintStats{}, err
		}
		s := stg.loc.scale
		pasteFrom(fr.outs[j], w.cropOut, int(stg.out[0]), int(stg.out[1]), int(stg.out[2]),
			s*step.in.y.len(), s*step.in.x.len(), s*step.in.y.lo, s*step.in.x.lo, step.out)
		src = fr.outs[j]
	}
	copy(fr.in, f.Data)
	fr.valid = true
	return st, nil
}

// repaintFull runs the stages after li up to last on f, writing every
// stage's output into the frame's buffers.
func (m *Model) repaintFull(ctx context.Context, fr *Frame, f *Features, li LayerInfo, last int) error {
	w, err := m.acquire(ctx, false)
	if err != nil {
		return err // a busy engine leaves the frame as it was
	}
	defer m.release(w)
	fr.valid = false
	first := li.Index + 1
	if fr.model != m || fr.layer != li || fr.end != last {
		fr.model, fr.layer, fr.end = m, li, last
		fr.outs = make([][]float32, last-first+1)
	}
	for j := range fr.outs {
		o := m.gen[first+j].out
		fr.outs[j] = grow(fr.outs[j], int(o[0]*o[1]*o[2]))
	}
	inT, err := ort.NewTensor(withBatch(1, m.gen[first].in), f.Data)
	if err != nil {
		return fmt.Errorf("%w: input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	cur := inT
	for j := range fr.outs {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := first + j
		out, err := ort.NewTensor(withBatch(1, m.gen[k].out), fr.outs[j])
		if err != nil {
			return fmt.Errorf("%w: output tensor: %v", ErrRuntime, err)
		}
		defer out.Destroy()
		if err := w.gen[k].Run([]ort.Value{cur}, []ort.Value{out}); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrRuntime, m.gen[k].what, err)
		}
		cur = out
	}
	fr.in = append(fr.in[:0], f.Data...)
	fr.img = Images{}
	if last == len(m.gen)-1 {
		h, wd := m.manifest.Image.Height, m.manifest.Image.Width
		fr.img = Images{N: 1, H: h, W: wd, Data: fr.outs[len(fr.outs)-1]}
	}
	fr.valid = true
	return nil
}

// changedCells returns the bounding box of the cells where any unit of a
// and b differ (a NaN that stays NaN counts as unchanged).
func changedCells(a, b []float32, li LayerInfo) (rect, bool) {
	plane := li.Height * li.Width
	y0, y1, x0, x1 := li.Height, -1, li.Width, -1
	for c := 0; c < li.Channels; c++ {
		pa, pb := a[c*plane:(c+1)*plane], b[c*plane:(c+1)*plane]
		for p := range pa {
			if pa[p] != pb[p] && !(pa[p] != pa[p] && pb[p] != pb[p]) {
				y, x := p/li.Width, p%li.Width
				y0, y1, x0, x1 = min(y0, y), max(y1, y), min(x0, x), max(x1, x)
			}
		}
	}
	if y1 < 0 {
		return rect{}, false
	}
	return rect{span{y0, y1 + 1}, span{x0, x1 + 1}}, true
}

func toImageRect(r rect) image.Rectangle { return image.Rect(r.x.lo, r.y.lo, r.x.hi, r.y.hi) }
