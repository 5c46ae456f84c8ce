package server

import (
	"math"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/painting"
)

// grid maps image pixels onto a layer's cells: pixel x lies in cell
// x·cols/imageW, which for the usual power-of-two sizes is a block of
// imageW/cols pixels.
type grid struct {
	imageW, imageH int
	cols, rows     int
}

func (g grid) cells() int { return g.cols * g.rows }

// mask wraps a mask of the grid's cells for the engine.
func (g grid) mask(alpha []float32) inference.Mask {
	return inference.Mask{Width: g.cols, Height: g.rows, Alpha: alpha}
}

// paintPolyline marks (sets to 1) every cell of mask that contains a pixel
// whose distance to the polyline pts is at most r. A single point paints a
// disc. Points must lie inside the image; the image must be smaller than
// 2^14 pixels per side so the exact integer tests below cannot overflow.
//
// The brush region of a segment is a capsule, which is convex, so each
// pixel row meets it in one run of pixels: the run's ends are estimated in
// floating point (slightly generously) and then settled with the exact
// integer test, which keeps
// the result identical to testing every pixel while costing O(rows) per
// segment instead of O(area).
func (g grid) paintPolyline(mask []float32, pts []painting.Point, r int) {
	if len(pts) == 1 {
		g.paintSegment(mask, pts[0], pts[0], r)
		return
	}
	for i := 1; i < len(pts); i++ {
		g.paintSegment(mask, pts[i-1], pts[i], r)
	}
}

func (g grid) paintSegment(mask []float32, a, b painting.Point, r int) {
	x0 := max(0, min(a.X, b.X)-r)
	x1 := min(g.imageW-1, max(a.X, b.X)+r)
	y0 := max(0, min(a.Y, b.Y)-r)
	y1 := min(g.imageH-1, max(a.Y, b.Y)+r)
	// Long strokes with a big brush soon cover every cell they can reach;
	// then the segment cannot change the mask and is skipped.
	if g.allSet(mask, x0, x1, y0, y1) {
		return
	}
	cs := newCapsule(a, b, r)
	for y := y0; y <= y1; y++ {
		flo, fhi, ok := cs.row(y)
		if !ok {
			continue
		}
		lo := min(max(int(math.Ceil(flo)), 0), g.imageW-1)
		hi := min(max(int(math.Floor(fhi)), 0), g.imageW-1)
		if g.allSet(mask, max(lo-1, 0), min(hi+1, g.imageW-1), y, y) {
			continue
		}
		for lo <= hi && !inCapsule(a, b, r, lo, y) {
			lo++
		}
		if lo > hi {
			continue
		}
		for !inCapsule(a, b, r, hi, y) {
			hi--
		}
		for lo-1 >= 0 && inCapsule(a, b, r, lo-1, y) {
			lo--
		}
		for hi+1 < g.imageW && inCapsule(a, b, r, hi+1, y) {
			hi++
		}
		row := y * g.rows / g.imageH * g.cols
		for c := lo * g.cols / g.imageW; c <= hi*g.cols/g.imageW; c++ {
			mask[row+c] = 1
		}
	}
}

// allSet reports whether every cell under the pixel box [x0,x1]×[y0,y1]
// is already painted.
func (g grid) allSet(mask []float32, x0, x1, y0, y1 int) bool {
	if x0 > x1 || y0 > y1 {
		return true
	}
	c0, c1 := x0*g.cols/g.imageW, x1*g.cols/g.imageW
	for cy := y0 * g.rows / g.imageH; cy <= y1*g.rows/g.imageH; cy++ {
		for _, v := range mask[cy*g.cols+c0 : cy*g.cols+c1+1] {
			if v == 0 {
				return false
			}
		}
	}
	return true
}

// inCapsule is the exact test: distance² from (x,y) to segment ab ≤ r².
func inCapsule(a, b painting.Point, r, x, y int) bool {
	dx, dy := int64(b.X-a.X), int64(b.Y-a.Y)
	px, py := int64(x-a.X), int64(y-a.Y)
	r2 := int64(r) * int64(r)
	l2 := dx*dx + dy*dy
	dot := px*dx + py*dy
	switch {
	case l2 == 0 || dot <= 0:
		return px*px+py*py <= r2
	case dot >= l2:
		qx, qy := int64(x-b.X), int64(y-b.Y)
		return qx*qx+qy*qy <= r2
	default:
		cross := px*dy - py*dx
		return cross*cross <= r2*l2
	}
}

// capsule holds what estimating the rows of one segment's brush region
// needs, computed once per segment.
type capsule struct {
	a, b    painting.Point
	r       float64
	dx, dy  float64
	l, l2   float64
	hasBody bool
}

func newCapsule(a, b painting.Point, r int) capsule {
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	l := math.Hypot(dx, dy)
	return capsule{a: a, b: b, r: float64(r), dx: dx, dy: dy, l: l, l2: l * l, hasBody: l > 0}
}

// row estimates the x-range where pixel row y meets the capsule: the hull
// of the rows of the two end discs and of the swept rectangle.
func (c capsule) row(y int) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	r := int(c.r)
	disc := func(p painting.Point) {
		dy := y - p.Y
		if rem := r*r - dy*dy; rem >= 0 {
			w := math.Sqrt(float64(rem))
			lo = math.Min(lo, float64(p.X)-w)
			hi = math.Max(hi, float64(p.X)+w)
		}
	}
	disc(c.a)
	disc(c.b)
	if c.hasBody {
		// Along the row, t(x) = ((x-ax)dx + (y-ay)dy)/l² must be in [0,1]
		// and the signed distance s(x) = ((x-ax)dy - (y-ay)dx)/l in [-r,r];
		// both are linear in x, so each bounds x to an interval. The slack
		// makes the estimate a superset of the true run even when rounding
		// would shave off a pixel that touches the brush exactly.
		const slack = 1e-6
		ry := float64(y - c.a.Y)
		rlo, rhi := math.Inf(-1), math.Inf(1)
		clip := func(k, off, vmin, vmax float64) {
			// vmin ≤ k·u + off ≤ vmax with u = x - ax
			if k == 0 {
				if off < vmin || off > vmax {
					rlo, rhi = 1, 0
				}
				return
			}
			u1, u2 := (vmin-off)/k, (vmax-off)/k
			if u1 > u2 {
				u1, u2 = u2, u1
			}
			rlo = math.Max(rlo, u1)
			rhi = math.Min(rhi, u2)
		}
		clip(c.dx/c.l2, ry*c.dy/c.l2, -slack, 1+slack)
		clip(c.dy/c.l, -ry*c.dx/c.l, -c.r-slack, c.r+slack)
		if rlo <= rhi {
			lo = math.Min(lo, float64(c.a.X)+rlo)
			hi = math.Max(hi, float64(c.a.X)+rhi)
		}
	}
	return lo, hi, lo <= hi
}
