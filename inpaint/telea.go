package inpaint

import "math"

// Telea's method (2004), as the paper describes it:
//
//   - T is the distance to the region's boundary ∂Ω, computed by fast
//     marching inwards; pixels are filled in increasing T, so every pixel is
//     filled from pixels nearer the boundary (the known image or pixels
//     already filled).
//   - A pixel p is the weighted mean, over the known pixels q of its
//     neighbourhood B_ε(p) (ε = radius), of the first-order estimates
//     I(q) + ∇I(q)·(p − q), with weight w = dir·dst·lev:
//     dir = ((p−q)/|p−q|)·N(p) with N = ∇T/|∇T| (favours pixels along the
//     normal to the level set of T), dst = d0²/|p−q|² (nearer pixels count
//     more), lev = T0/(1 + |T(p) − T(q)|) (pixels near p's level set count
//     more), d0 = T0 = 1.
//   - T outside Ω (needed by lev for known pixels) is the distance marched
//     outwards from ∂Ω, counted negative, up to ε + 2.
//
// Choices the paper leaves open, made here:
//
//   - ∂Ω is the set of known pixels with a 4-neighbour in the mask (T = 0).
//   - A pixel is filled when the march freezes it (its T is final), not when
//     it first enters the narrow band, so it sees every pixel with smaller T.
//   - dir is taken in absolute value with a floor of 1e-6: a signed weight
//     could make the normalising sum vanish, and the floor keeps pixels with
//     no defined normal (a one-pixel hole) a plain dst·lev mean.
//   - ∇I(q) is taken from the known image only: at a pixel filled earlier
//     the estimate is I(q) alone. Slopes re-measured on filled pixels
//     compound (each ring extrapolates the ramp the previous ring made), and
//     even slopes carried over from the boundary, extrapolated ring after
//     ring, turn any edge or texture that meets the region into rays that
//     saturate to 0 or 255 a few pixels in (seen on the default model's
//     scenes). The price: on a smooth slope, pixels deeper than the radius
//     lag behind the plane (bounded in the tests).
//   - ∇I(q), per axis: with both neighbours known, the central difference
//     limited by twice each one-sided difference (the monotonized-central
//     limiter of finite-volume schemes, with differences within ±1 grey
//     level treated as ±1, see limitedSlope): a step edge next to the region
//     would otherwise extrapolate half the step per pixel and ring on both
//     sides of the edge. With one neighbour known, the one-sided difference;
//     with none, 0.
//   - Filled values are clamped to [0, 255] before later pixels use them.
func (p *problem) telea() {
	w, h := p.w, p.h
	n := w * h
	var seeds []int
	for i := 0; i < n; i++ {
		if p.hole[i] {
			continue
		}
		edge := false
		neighbours4(w, h, i, func(j int) { edge = edge || p.hole[j] })
		if edge {
			seeds = append(seeds, i)
		}
	}

	// T outside, negative, for lev.
	reach := float32(p.radius) + 2
	tOut := make([]float32, n)
	state := make([]uint8, n)
	march(w, h, tOut, state, seeds, func(i int) bool { return !p.hole[i] }, reach, nil)
	lev := make([]float32, n)
	for i := 0; i < n; i++ {
		if !p.hole[i] {
			if state[i] == stateFrozen {
				lev[i] = -tOut[i]
			} else {
				lev[i] = -reach
			}
		}
	}

	known := make([]bool, n)
	for i := range known {
		known[i] = !p.hole[i]
	}
	tIn := make([]float32, n)
	clear(state)
	offsets := discOffsets(p.radius)
	march(w, h, tIn, state, seeds, func(i int) bool { return p.hole[i] }, inf32, func(i int) {
		if !p.hole[i] {
			return
		}
		lev[i] = tIn[i]
		p.teleaPixel(i, tIn, state, lev, known, offsets)
		known[i] = true
	})
}

// offset is a neighbourhood displacement with its squared length.
type offset struct{ dx, dy, d2 int }

// discOffsets lists the displacements within a Euclidean disc of radius r,
// excluding the centre, in a fixed order.
func discOffsets(r float64) []offset {
	ri := int(math.Floor(r))
	var out []offset
	for dy := -ri; dy <= ri; dy++ {
		for dx := -ri; dx <= ri; dx++ {
			d2 := dx*dx + dy*dy
			if d2 == 0 || float64(d2) > r*r {
				continue
			}
			out = append(out, offset{dx, dy, d2})
		}
	}
	return out
}

// teleaPixel fills pixel i from the known pixels around it.
func (p *problem) teleaPixel(i int, t []float32, state []uint8, lev []float32, known []bool, offsets []offset) {
	w, h := p.w, p.h
	x, y := i%w, i/w
	tp := t[i]

	// N(p) = ∇T/|∇T| from the frozen neighbours.
	frozen := func(j int) bool { return state[j] == stateFrozen }
	var gx, gy float64
	{
		l, r := x > 0 && frozen(i-1), x < w-1 && frozen(i+1)
		switch {
		case l && r:
			gx = float64(t[i+1]-t[i-1]) / 2
		case r:
			gx = float64(t[i+1] - tp)
		case l:
			gx = float64(tp - t[i-1])
		}
		u, d := y > 0 && frozen(i-w), y < h-1 && frozen(i+w)
		switch {
		case u && d:
			gy = float64(t[i+w]-t[i-w]) / 2
		case d:
			gy = float64(t[i+w] - tp)
		case u:
			gy = float64(tp - t[i-w])
		}
		if g := math.Hypot(gx, gy); g > 0 {
			gx, gy = gx/g, gy/g
		}
	}

	var sum [3]float64
	var sumW float64
	for _, o := range offsets {
		qx, qy := x+o.dx, y+o.dy
		if qx < 0 || qx >= w || qy < 0 || qy >= h {
			continue
		}
		q := qy*w + qx
		if !known[q] {
			continue
		}
		rx, ry := float64(-o.dx), float64(-o.dy) // p − q
		d := math.Sqrt(float64(o.d2))
		dir := math.Abs(rx*gx+ry*gy) / d
		if dir < 1e-6 {
			dir = 1e-6
		}
		dst := 1 / float64(o.d2)
		lv := 1 / (1 + math.Abs(float64(tp-lev[q])))
		wt := dir * dst * lv

		for c := 0; c < 3; c++ {
			est := float64(p.img[3*q+c])
			if !p.hole[q] {
				ix, iy := p.knownSlope(q, c)
				est += ix*rx + iy*ry
			}
			sum[c] += wt * est
		}
		sumW += wt
	}
	// sumW > 0: the pixel was reached from a frozen 4-neighbour, which is
	// known (boundary or filled) and within any radius ≥ 1.
	for c := 0; c < 3; c++ {
		v := sum[c] / sumW
		p.img[3*i+c] = float32(min(max(v, 0), 255))
	}
}

// knownSlope is ∇I of channel c at pixel q of the known image, from q's
// known neighbours (see telea's comment).
func (p *problem) knownSlope(q, c int) (ix, iy float64) {
	w, h := p.w, p.h
	qx, qy := q%w, q/w
	l := qx > 0 && !p.hole[q-1]
	r := qx < w-1 && !p.hole[q+1]
	u := qy > 0 && !p.hole[q-w]
	d := qy < h-1 && !p.hole[q+w]
	iq := float64(p.img[3*q+c])
	at := func(j int) float64 { return float64(p.img[3*j+c]) }
	switch {
	case l && r:
		ix = limitedSlope(iq-at(q-1), at(q+1)-iq)
	case r:
		ix = at(q+1) - iq
	case l:
		ix = iq - at(q-1)
	}
	switch {
	case u && d:
		iy = limitedSlope(iq-at(q-w), at(q+w)-iq)
	case d:
		iy = at(q+w) - iq
	case u:
		iy = iq - at(q-w)
	}
	return ix, iy
}

// limitedSlope is the monotonized-central slope from the backward and
// forward differences a and b: the central difference (a+b)/2, at most
// 2·min(|a|, |b|) in magnitude and 0 when a and b have opposite signs. On
// 8-bit data a difference within ±1 grey level is rounding as much as
// signal, so both the sign test and the bound treat smaller differences as
// ±1: a shallow staircase of 0s and 1s keeps its slope.
func limitedSlope(a, b float64) float64 {
	const q = 1 // one grey level
	if a*b < 0 && math.Abs(a) > q && math.Abs(b) > q {
		return 0
	}
	c := (a + b) / 2
	lim := 2 * max(min(math.Abs(a), math.Abs(b)), q)
	if math.Abs(c) > lim {
		return math.Copysign(lim, c)
	}
	return c
}
