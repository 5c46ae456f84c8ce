package inference

import (
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultRegionMaxWork is Options.RegionMaxWork's default. A crop run costs
// more per pixel than a whole-tensor run (the crop is copied in and out and
// ONNX Runtime sees a new shape), so a crop that holds most of the work is
// not worth it; docs/performance.md has the measurements behind the value.
const DefaultRegionMaxWork = 0.85

// locality is a block's declared spatial footprint (manifest scale/halo):
// output row y depends only on input rows ⌊(y−halo)/scale⌋ … ⌊(y+halo)/scale⌋.
type locality struct{ scale, halo int }

// span is the half-open index range [lo, hi).
type span struct{ lo, hi int }

func (s span) len() int        { return max(s.hi-s.lo, 0) }
func (s span) empty() bool     { return s.hi <= s.lo }
func (s span) clip(n int) span { return span{max(s.lo, 0), min(s.hi, n)} }

// reach is the output rows (of outN) a change in input rows d can affect.
func (l locality) reach(d span, outN int) span {
	return span{l.scale*d.lo - l.halo, l.scale*d.hi + l.halo}.clip(outN)
}

// need is the input rows (of inN) a crop must hold so that running the block
// on it gives output rows o exactly: rows within halo of a crop edge see
// the block's padding instead of their neighbours, unless that edge is the
// image's own, where the whole-tensor run sees the same padding.
func (l locality) need(o span, inN int) span {
	return span{floorDiv(o.lo-l.halo, l.scale), floorDiv(o.hi-1+l.halo, l.scale) + 1}.clip(inN)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// rect is a crop of a [C, H, W] tensor: rows y, columns x.
type rect struct{ y, x span }

func (r rect) area() int   { return r.y.len() * r.x.len() }
func (r rect) empty() bool { return r.y.empty() || r.x.empty() }

// regionStep is one block of a region plan: run it on input crop in, keep
// output rows/columns out (in the output's coordinates).
type regionStep struct {
	stage   int
	in, out rect
}

// planRegion propagates the changed cells d of stage first-1's output
// through stages first..last and returns the crop of each, with the plan's
// estimated work relative to running the stages on whole tensors. It
// returns ok=false when a stage does not declare its locality.
func (m *Model) planRegion(first, last int, d rect) (steps []regionStep, work float64, ok bool) {
	var done, full float64
	for k := first; k <= last; k++ {
		st := m.gen[k]
		if st.loc == nil {
			return nil, 0, false
		}
		inH, inW := int(st.in[1]), int(st.in[2])
		outH, outW := int(st.out[1]), int(st.out[2])
		out := rect{st.loc.reach(d.y, outH), st.loc.reach(d.x, outW)}
		in := rect{st.loc.need(out.y, inH), st.loc.need(out.x, inW)}
		// Work of a convolution is proportional to output pixels × input
		// channels × output channels; the kernel size cancels in the ratio.
		macs := float64(st.in[0]) * float64(st.out[0])
		done += macs * float64(in.area()*st.loc.scale*st.loc.scale)
		full += macs * float64(outH*outW)
		steps = append(steps, regionStep{stage: k, in: in, out: out})
		d = out
	}
	if full == 0 {
		return steps, 1, true
	}
	return steps, done / full, true
}

// cropInto copies crop r of the [c, h, w] tensor src into dst ([c, r.y, r.x]).
func cropInto(dst, src []float32, c, h, w int, r rect) []float32 {
	rh, rw := r.y.len(), r.x.len()
	dst = grow(dst, c*rh*rw)
	o := 0
	for ch := 0; ch < c; ch++ {
		base := ch * h * w
		for y := r.y.lo; y < r.y.hi; y++ {
			row := base + y*w
			o += copy(dst[o:o+rw], src[row+r.x.lo:row+r.x.hi])
		}
	}
	return dst
}

// pasteFrom copies, for each of c channels, the part out of a [c, ch, cw]
// crop whose top-left sits at (oy, ox) of the [c, h, w] tensor dst.
func pasteFrom(dst, crop []float32, c, h, w, ch, cw, oy, ox int, out rect) {
	rw := out.x.len()
	for k := 0; k < c; k++ {
		for y := out.y.lo; y < out.y.hi; y++ {
			d := k*h*w + y*w + out.x.lo
			s := k*ch*cw + (y-oy)*cw + (out.x.lo - ox)
			copy(dst[d:d+rw], crop[s:s+rw])
		}
	}
}

// runCrop runs stage k on the [1, C, in] crop held in in and writes its
// [1, C', scale·in] output to out (grown as needed), returning it.
func (m *Model) runCrop(w *worker, k int, in []float32, r rect, out []float32) ([]float32, error) {
	st := m.gen[k]
	s := int64(st.loc.scale)
	inShape := ort.NewShape(1, st.in[0], int64(r.y.len()), int64(r.x.len()))
	outShape := ort.NewShape(1, st.out[0], s*int64(r.y.len()), s*int64(r.x.len()))
	out = grow(out, int(outShape.FlattenedSize()))
	inT, err := ort.NewTensor(inShape, in[:inShape.FlattenedSize()])
	if err != nil {
		return nil, fmt.Errorf("%w: crop input tensor: %v", ErrRuntime, err)
	}
	defer inT.Destroy()
	outT, err := ort.NewTensor(outShape, out)
	if err != nil {
		return nil, fmt.Errorf("%w: crop output tensor: %v", ErrRuntime, err)
	}
	defer outT.Destroy()
	if err := w.gen[k].Run([]ort.Value{inT}, []ort.Value{outT}); err != nil {
		return nil, fmt.Errorf("%w: %s on a %dx%d crop: %v", ErrRuntime, st.what, r.x.len(), r.y.len(), err)
	}
	return out, nil
}

// checkLocality verifies every declared block on worker w: a crop must give
// the same values as the whole-tensor run wherever the declared halo says
// the crop's edges cannot reach. A manifest that under-declares a halo (or
// declares a block local that is not, say one with a global statistic)
// would make repaints silently wrong, so it fails the load instead.
func (m *Model) checkLocality(w *worker) error {
	for k, st := range m.gen {
		if st.loc == nil {
			continue
		}
		c, h, wd := int(st.in[0]), int(st.in[1]), int(st.in[2])
		if h < 2 && wd < 2 {
			continue // no crop is smaller than the whole
		}
		in := probeInput(c * h * wd)
		whole, err := m.runCrop(w, k, in, rect{span{0, h}, span{0, wd}}, nil)
		if err != nil {
			return fmt.Errorf("%w: checking the declared locality: %v", ErrBadModel, err)
		}
		// Two crops, each with an inner edge on one side of each axis, so
		// both sides of the halo are exercised.
		ay, ax := min(max(1, h/4), h-1), min(max(1, wd/4), wd-1)
		for _, r := range []rect{{span{ay, h}, span{ax, wd}}, {span{0, h - ay}, span{0, wd - ax}}} {
			if r.empty() {
				continue
			}
			crop := cropInto(nil, in, c, h, wd, r)
			got, err := m.runCrop(w, k, crop, r, nil)
			if err != nil {
				return fmt.Errorf("%w: %s declares scale %d: %v", ErrBadModel, st.what, st.loc.scale, err)
			}
			if err := compareCrop(st, whole, got, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareCrop checks the exact part of a crop run against the whole run.
func compareCrop(st *stage, whole, got []float32, r rect) error {
	s, hl := st.loc.scale, st.loc.halo
	oc, oh, ow := int(st.out[0]), int(st.out[1]), int(st.out[2])
	inH, inW := int(st.in[1]), int(st.in[2])
	exact := func(in span, n int) span {
		o := span{s * in.lo, s * in.hi}
		if in.lo > 0 {
			o.lo += hl
		}
		if in.hi < n {
			o.hi -= hl
		}
		return o
	}
	ey, ex := exact(r.y, inH), exact(r.x, inW)
	ch, cw := s*r.y.len(), s*r.x.len()
	for k := 0; k < oc; k++ {
		for y := ey.lo; y < ey.hi; y++ {
			for x := ex.lo; x < ex.hi; x++ {
				want := whole[k*oh*ow+y*ow+x]
				v := got[k*ch*cw+(y-s*r.y.lo)*cw+(x-s*r.x.lo)]
				if d := math.Abs(float64(v - want)); !(d <= 1e-4*(1+math.Abs(float64(want)))) {
					return fmt.Errorf("%w: %s declares scale %d and halo %d, but on a crop of its input rows %d..%d, columns %d..%d its output (%d,%d) of unit %d is %g instead of %g",
						ErrBadModel, st.what, s, hl, r.y.lo, r.y.hi-1, r.x.lo, r.x.hi-1, x, y, k, v, want)
				}
			}
		}
	}
	return nil
}

// probeInput is a fixed standard-normal input (the z rule's stream), so a
// load-time check gives the same verdict on every run.
func probeInput(n int) []float32 {
	out := make([]float32, n)
	ZForID(out, 15, 0)
	return out
}
