package server

import "math"

// grid maps image pixels onto a layer's cells: pixel x lies in cell
// x·cols/imageW, which for the usual power-of-two sizes is a block of
// imageW/cols pixels.
type grid struct {
	imageW, imageH int
	cols, rows     int
}

func (g grid) cells() int { return g.cols * g.rows }

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
func (g grid) paintPolyline(mask []float32, pts []Point, r int) {
	if len(pts) == 1 {
		g.paintSegment(mask, pts[0], pts[0], r)
		return
	}
	for i := 1; i < len(pts); i++ {
		g.paintSegment(mask, pts[i-1], pts[i], r)
	}
}

func (g grid) paintSegment(mask []float32, a, b Point, r int) {
	y0 := max(0, min(a.Y, b.Y)-r)
	y1 := min(g.imageH-1, max(a.Y, b.Y)+r)
	for y := y0; y <= y1; y++ {
		flo, fhi, ok := capsuleRow(a, b, r, y)
		if !ok {
			continue
		}
		lo := int(math.Ceil(flo))
		hi := int(math.Floor(fhi))
		lo = min(max(lo, 0), g.imageW-1)
		hi = min(max(hi, 0), g.imageW-1)
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

// inCapsule is the exact test: distance² from (x,y) to segment ab ≤ r².
func inCapsule(a, b Point, r, x, y int) bool {
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

// capsuleRow estimates the x-range where row y meets the capsule of segment
// ab: the hull of the rows of the two end discs and of the swept rectangle.
func capsuleRow(a, b Point, r, y int) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	disc := func(c Point) {
		dy := y - c.Y
		if rem := r*r - dy*dy; rem >= 0 {
			w := math.Sqrt(float64(rem))
			lo = math.Min(lo, float64(c.X)-w)
			hi = math.Max(hi, float64(c.X)+w)
		}
	}
	disc(a)
	disc(b)
	dx, dy := float64(b.X-a.X), float64(b.Y-a.Y)
	l := math.Hypot(dx, dy)
	if l > 0 {
		// Along the row, t(x) = ((x-ax)dx + (y-ay)dy)/l² must be in [0,1]
		// and the signed distance s(x) = ((x-ax)dy - (y-ay)dx)/l in [-r,r];
		// both are linear in x, so each bounds x to an interval.
		ry := float64(y - a.Y)
		rlo, rhi := math.Inf(-1), math.Inf(1)
		clip := func(k, c, vmin, vmax float64) {
			// vmin ≤ k·u + c ≤ vmax with u = x - ax
			if k == 0 {
				if c < vmin || c > vmax {
					rlo, rhi = 1, 0
				}
				return
			}
			u1, u2 := (vmin-c)/k, (vmax-c)/k
			if u1 > u2 {
				u1, u2 = u2, u1
			}
			rlo = math.Max(rlo, u1)
			rhi = math.Min(rhi, u2)
		}
		// The slack makes the estimate a superset of the true run even when
		// rounding would shave off a pixel that touches the brush exactly.
		const slack = 1e-6
		clip(dx/(l*l), ry*dy/(l*l), -slack, 1+slack)
		clip(dy/l, -ry*dx/l, -float64(r)-slack, float64(r)+slack)
		if rlo <= rhi {
			lo = math.Min(lo, float64(a.X)+rlo)
			hi = math.Max(hi, float64(a.X)+rhi)
		}
	}
	return lo, hi, lo <= hi
}
