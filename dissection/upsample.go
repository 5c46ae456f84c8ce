package dissection

import (
	"fmt"
)

// axis maps one output axis of length dst onto a source axis of length src
// with pixel centres aligned: s = (t+0.5)·src/dst − 0.5, clamped to the edges.
// Output positions that read the same two source samples form a group; inside
// a group bilinear values lie between the group's corner values, which lets
// the tally skip whole groups that are entirely above or below a level.
type axis struct {
	i0, i1 []int32
	w      []float32 // weight of i1
	groups []group
}

type group struct {
	start, end int // output range [start, end)
	i0, i1     int
}

func newAxis(src, dst int) axis {
	a := axis{i0: make([]int32, dst), i1: make([]int32, dst), w: make([]float32, dst)}
	scale := float64(src) / float64(dst)
	for t := 0; t < dst; t++ {
		s := (float64(t)+0.5)*scale - 0.5
		if s < 0 {
			s = 0
		}
		i0 := int(s)
		i1 := i0 + 1
		w := s - float64(i0)
		if i0 >= src-1 {
			i0, i1, w = src-1, src-1, 0
		}
		a.i0[t], a.i1[t], a.w[t] = int32(i0), int32(i1), float32(w)
		if n := len(a.groups); n > 0 && a.groups[n-1].i0 == i0 && a.groups[n-1].i1 == i1 {
			a.groups[n-1].end = t + 1
		} else {
			a.groups = append(a.groups, group{start: t, end: t + 1, i0: i0, i1: i1})
		}
	}
	return a
}

// lerp interpolates between a and b and clamps the result to [min(a,b),
// max(a,b)]. The clamp guards against float rounding stepping outside the
// corner range, so "all corners above the level" really means "every
// interpolated pixel above the level" and the fast tally equals brute force.
func lerp(a, b, w float32) float32 {
	v := a + (b-a)*w
	lo, hi := a, b
	if lo > hi {
		lo, hi = hi, lo
	}
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Upsampler resizes one feature map of h×w to H×W bilinearly (pixel centres
// aligned, edges clamped). It is immutable after construction and safe for
// concurrent use.
type Upsampler struct {
	h, w, H, W int
	rows, cols axis
}

// NewUpsampler prepares the resampling from h×w to H×W.
func NewUpsampler(h, w, H, W int) (*Upsampler, error) {
	if h <= 0 || w <= 0 || H <= 0 || W <= 0 {
		return nil, fmt.Errorf("dissection: bad upsample size %d×%d → %d×%d", h, w, H, W)
	}
	return &Upsampler{h: h, w: w, H: H, W: W, rows: newAxis(h, H), cols: newAxis(w, W)}, nil
}

// Upsample writes the H×W resampling of src (h×w, row-major) into dst.
func (u *Upsampler) Upsample(dst, src []float32) {
	for ty := 0; ty < u.H; ty++ {
		r0 := src[int(u.rows.i0[ty])*u.w:]
		r1 := src[int(u.rows.i1[ty])*u.w:]
		wy := u.rows.w[ty]
		out := dst[ty*u.W : (ty+1)*u.W]
		for tx := range out {
			x0, x1, wx := u.cols.i0[tx], u.cols.i1[tx], u.cols.w[tx]
			top := lerp(r0[x0], r0[x1], wx)
			bot := lerp(r1[x0], r1[x1], wx)
			out[tx] = lerp(top, bot, wy)
		}
	}
}

// patchIndex is the layout of (row group × column group) patches of one
// Upsampler; per image it holds each patch's class histogram so that a patch
// wholly above a level adds its histogram instead of visiting its pixels.
type patchIndex struct {
	up      *Upsampler
	classes int
}

func (p patchIndex) numPatches() int { return len(p.up.rows.groups) * len(p.up.cols.groups) }

// fillHist computes the per-patch class histograms of one segmentation map
// (H×W labels) into hist (numPatches × classes, zeroed here). It reports a
// label outside [0, classes) as an error rather than indexing out of range.
func (p patchIndex) fillHist(hist []int32, seg []uint8) error {
	clear(hist)
	W := p.up.W
	pi := 0
	for _, gy := range p.up.rows.groups {
		for _, gx := range p.up.cols.groups {
			h := hist[pi*p.classes : (pi+1)*p.classes]
			for ty := gy.start; ty < gy.end; ty++ {
				for _, c := range seg[ty*W+gx.start : ty*W+gx.end] {
					if int(c) >= p.classes {
						return fmt.Errorf("dissection: segmentation label %d but only %d classes", c, p.classes)
					}
					h[c]++
				}
			}
			pi++
		}
	}
	return nil
}

// tallyThreshold adds, for one unit of one image, the pixels whose upsampled
// activation exceeds thr: per class into inter and in total into *above.
func (p patchIndex) tallyThreshold(act []float32, thr float32, seg []uint8, hist []int32, inter []int64, above *int64) {
	u := p.up
	pi := 0
	var count int64
	var topBuf, botBuf [64]float32
	for _, gy := range u.rows.groups {
		r0 := act[gy.i0*u.w:]
		r1 := act[gy.i1*u.w:]
		for _, gx := range u.cols.groups {
			a, b, c, d := r0[gx.i0], r0[gx.i1], r1[gx.i0], r1[gx.i1]
			lo := min(a, b, c, d)
			hi := max(a, b, c, d)
			switch {
			case hi <= thr:
			case lo > thr:
				h := hist[pi*p.classes : (pi+1)*p.classes]
				for k, n := range h {
					inter[k] += int64(n)
				}
				count += int64((gy.end - gy.start) * (gx.end - gx.start))
			default:
				top, bot := p.columnLerps(topBuf[:0], botBuf[:0], gx, a, b, c, d)
				for ty := gy.start; ty < gy.end; ty++ {
					wy := u.rows.w[ty]
					row := seg[ty*u.W+gx.start : ty*u.W+gx.end]
					for j, lab := range row {
						if lerp(top[j], bot[j], wy) > thr {
							inter[lab]++
							count++
						}
					}
				}
			}
			pi++
		}
	}
	*above += count
}

// columnLerps interpolates the patch's top (a→b) and bottom (c→d) edges at
// each of its output columns; every row of the patch then needs one lerp
// per pixel. The results are identical to interpolating per pixel.
func (p patchIndex) columnLerps(top, bot []float32, gx group, a, b, c, d float32) ([]float32, []float32) {
	for tx := gx.start; tx < gx.end; tx++ {
		wx := p.up.cols.w[tx]
		top = append(top, lerp(a, b, wx))
		bot = append(bot, lerp(c, d, wx))
	}
	return top, bot
}

// binOf is the number of levels strictly below v (levels sorted ascending):
// v exceeds levels[j] exactly when j < binOf(v).
func binOf(levels []float32, v float32) int {
	lo, hi := 0, len(levels)
	for lo < hi {
		m := (lo + hi) / 2
		if levels[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// tallyHist adds one unit of one image to hist (classes × (len(levels)+1)),
// binning every upsampled pixel by how many levels it exceeds.
func (p patchIndex) tallyHist(act []float32, levels []float32, seg []uint8, hist []int32, out []int64) {
	u := p.up
	nb := len(levels) + 1
	pi := 0
	var topBuf, botBuf [64]float32
	for _, gy := range u.rows.groups {
		r0 := act[gy.i0*u.w:]
		r1 := act[gy.i1*u.w:]
		for _, gx := range u.cols.groups {
			a, b, c, d := r0[gx.i0], r0[gx.i1], r1[gx.i0], r1[gx.i1]
			blo := binOf(levels, min(a, b, c, d))
			bhi := binOf(levels, max(a, b, c, d))
			if blo == bhi {
				h := hist[pi*p.classes : (pi+1)*p.classes]
				for k, n := range h {
					out[k*nb+blo] += int64(n)
				}
				pi++
				continue
			}
			top, bot := p.columnLerps(topBuf[:0], botBuf[:0], gx, a, b, c, d)
			for ty := gy.start; ty < gy.end; ty++ {
				wy := u.rows.w[ty]
				row := seg[ty*u.W+gx.start : ty*u.W+gx.end]
				// Along a row of a patch the values are linear in x, hence
				// monotone, so the bin moves in one direction: walk it from
				// the previous pixel's bin instead of searching. Values lie
				// in [lo, hi], so the bin stays within [blo, bhi].
				bin := blo
				for j, lab := range row {
					v := lerp(top[j], bot[j], wy)
					for bin < bhi && levels[bin] < v {
						bin++
					}
					for bin > blo && levels[bin-1] >= v {
						bin--
					}
					out[int(lab)*nb+bin]++
				}
			}
			pi++
		}
	}
}
