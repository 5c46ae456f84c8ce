package inpaint

import (
	"math"
	"slices"
)

// The Navier–Stokes method (Bertalmio, Bertozzi, Sapiro 2001), as the paper
// describes it: the image intensity I plays the stream function of a 2-D
// incompressible flow, its Laplacian ω = ΔI the vorticity, and ∇⊥I the
// velocity, which points along the isophotes. Inside the region Ω the
// method alternates until steady state:
//
//  1. transport ω along the isophotes with (anisotropic) diffusion,
//     ω_t + v·∇ω = ν ∇·(g(|∇ω|) ∇ω),  v = ∇⊥I,  g(s) = 1/(1 + (s/K)²);
//  2. recover I from ω by solving the Poisson equation ΔI = ω in Ω with I
//     fixed to the known image on ∂Ω.
//
// Each colour channel is processed on its own. Choices the paper leaves
// open, made here:
//
//   - Vorticity evolves on Ω and on the known pixels whose 5-point
//     Laplacian touches Ω (their measured ΔI would mix in unknown values).
//     Around that, ω is fixed to the known image's Laplacian averaged over a
//     disc of the given radius: the radius is how far the boundary condition
//     looks, and the mean keeps 8-bit quantisation noise (whose Laplacian is
//     of the order of the signal in smooth areas) out of the region. What
//     is left of it, |ω| up to 0.5 grey levels per pixel², is shrunk to 0
//     (soft threshold): transported along an isophote without loss, a
//     small constant ω bends a long hole's fill by ω·L²/8.
//   - Only the direction of the isophotes moves ω: v = ∇⊥I/max(|∇I|, 1), so
//     steps are stable at a fixed dt in flat and in steep areas alike.
//   - Upwind differences for the transport, explicit Euler with
//     dt = 0.9/(√2 + 4ν), ν = 0.1, K = 4 grey levels per pixel²; one transport
//     step then two SOR sweeps per iteration.
//   - Ω starts from a push–pull fill (mask-weighted pyramid averages), ω in
//     Ω from 0. Iterations stop when no value of I changes by more than
//     0.01 grey levels in an iteration, or after 32 + 4·D iterations, D the
//     largest distance from a pixel of Ω to the known image: at dt ≈ 0.5 px
//     per iteration the vorticity then crosses the region, and 64 + 8·D SOR
//     sweeps from the push–pull start solve the Poisson equation. (A true
//     steady state would wait for the diffusion, O(D²/ν) iterations.)
//   - At the image border, a reflecting border (see laplacian).
const (
	nsNu        = 0.1
	nsK         = 4.0
	nsTol       = 0.01
	nsNoise     = 0.5
	nsSweeps    = 2
	nsMinIters  = 8
	nsBaseIters = 32
	nsIterPerPx = 2
)

// nsPixel is a pixel of the vorticity domain or the hole with its
// 4-neighbours (left, right, up, down; −1 off the image).
type nsPixel struct {
	i  int32
	nb [4]int32
}

func (p *problem) nsPixel(i int) nsPixel {
	w, h := p.w, p.h
	x, y := i%w, i/w
	px := nsPixel{i: int32(i), nb: [4]int32{-1, -1, -1, -1}}
	if x > 0 {
		px.nb[0] = int32(i - 1)
	}
	if x < w-1 {
		px.nb[1] = int32(i + 1)
	}
	if y > 0 {
		px.nb[2] = int32(i - w)
	}
	if y < h-1 {
		px.nb[3] = int32(i + w)
	}
	return px
}

func (p *problem) ns() {
	w, h := p.w, p.h
	n := w * h

	// Largest distance into the hole, for the iteration budget and SOR factor.
	var seeds []int
	var holes []nsPixel
	for i := 0; i < n; i++ {
		if p.hole[i] {
			holes = append(holes, p.nsPixel(i))
			continue
		}
		edge := false
		neighbours4(w, h, i, func(j int) { edge = edge || p.hole[j] })
		if edge {
			seeds = append(seeds, i)
		}
	}
	dist := make([]float32, n)
	state := make([]uint8, n)
	var depth float32
	march(w, h, dist, state, seeds, func(i int) bool { return p.hole[i] }, inf32, func(i int) { depth = max(depth, dist[i]) })
	maxIters := nsBaseIters + nsIterPerPx*int(math.Ceil(float64(depth)))
	// SOR factor of a square of side ~2·depth.
	omegaSOR := 2 / (1 + math.Sin(math.Pi/(2*float64(depth)+2)))

	// Vorticity domain: the hole plus the known pixels whose stencil touches it.
	inW := make([]bool, n)
	var wdom []nsPixel
	for i := 0; i < n; i++ {
		touch := p.hole[i]
		if !touch {
			neighbours4(w, h, i, func(j int) { touch = touch || p.hole[j] })
		}
		if touch {
			inW[i] = true
			wdom = append(wdom, p.nsPixel(i))
		}
	}
	// Known pixels next to the vorticity domain: their ω is the boundary
	// condition, a disc mean of the known Laplacian.
	var outer []int
	isOuter := make([]bool, n)
	for _, px := range wdom {
		neighbours4(w, h, int(px.i), func(j int) {
			if !inW[j] && !isOuter[j] {
				isOuter[j] = true
				outer = append(outer, j)
			}
		})
	}
	offsets := append(discOffsets(p.radius), offset{0, 0, 0})

	plane := make([]float64, n)
	omega := make([]float64, n)
	next := make([]float64, len(wdom))
	lap := make([]float64, n)
	fullyKnown := make([]bool, n)
	for i := 0; i < n; i++ {
		if p.hole[i] || inW[i] {
			continue
		}
		ok := true
		neighbours4(w, h, i, func(j int) { ok = ok && !p.hole[j] })
		fullyKnown[i] = ok
	}
	dt := 0.9 / (math.Sqrt2 + 4*nsNu)

	for c := 0; c < 3; c++ {
		for i := 0; i < n; i++ {
			plane[i] = float64(p.img[3*i+c])
		}
		pushPull(plane, p.hole, w, h)
		// Boundary vorticity.
		for i := 0; i < n; i++ {
			if fullyKnown[i] {
				lap[i] = laplacian(plane, w, h, i)
			}
		}
		clear(omega)
		bmean := make([]float64, len(outer))
		for k, i := range outer {
			x, y := i%w, i/w
			var s float64
			var cnt int
			for _, o := range offsets {
				qx, qy := x+o.dx, y+o.dy
				if qx < 0 || qx >= w || qy < 0 || qy >= h {
					continue
				}
				if q := qy*w + qx; fullyKnown[q] {
					s += lap[q]
					cnt++
				}
			}
			if cnt > 0 {
				bmean[k] = s / float64(cnt)
			}
		}
		thr := noiseThreshold(bmean)
		for k, i := range outer {
			omega[i] = shrink(bmean[k], thr)
		}
		// The range of the known pixels around the hole bounds the fill.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, px := range wdom {
			if !p.hole[px.i] {
				lo, hi = min(lo, plane[px.i]), max(hi, plane[px.i])
			}
		}

		for it := 0; it < maxIters; it++ {
			// 1. Transport–diffusion of ω on its domain (Jacobi: from the old ω).
			for k, px := range wdom {
				next[k] = omega[px.i] + dt*nsRate(plane, omega, px)
			}
			for k, px := range wdom {
				omega[px.i] = next[k]
			}
			// 2. Poisson: ΔI = ω in the hole, I fixed outside.
			var change float64
			for s := 0; s < nsSweeps; s++ {
				for _, px := range holes {
					var sum float64
					k := 0
					for _, j := range px.nb {
						if j >= 0 {
							sum += plane[j]
							k++
						}
					}
					d := omegaSOR * ((sum-omega[px.i])/float64(k) - plane[px.i])
					plane[px.i] += d
					change = max(change, math.Abs(d))
				}
			}
			if it >= nsMinIters && change < nsTol {
				break
			}
		}
		for _, px := range holes {
			p.img[3*int(px.i)+c] = float32(min(max(plane[px.i], lo), hi))
		}
	}
}

// At the image border the missing neighbours are left out of the 5-point
// stencil (a reflecting border, zero derivative across it: Neumann). The
// vorticity measured at known border pixels is then this stencil's too, so
// a gradient across the border shows up as vorticity along it and is
// carried into a region that touches the border.

// laplacian is the 5-point Laplacian at pixel i.
func laplacian(v []float64, w, h, i int) float64 {
	x, y := i%w, i/w
	var s float64
	if x > 0 {
		s += v[i-1] - v[i]
	}
	if x < w-1 {
		s += v[i+1] - v[i]
	}
	if y > 0 {
		s += v[i-w] - v[i]
	}
	if y < h-1 {
		s += v[i+w] - v[i]
	}
	return s
}

// nsRate is ∂ω/∂t at a pixel: −v·∇ω (upwind) + ν ∇·(g ∇ω).
func nsRate(img, omega []float64, px nsPixel) float64 {
	i, l, r, u, d := px.i, px.nb[0], px.nb[1], px.nb[2], px.nb[3]
	// ∇I by central differences (one-sided at the border).
	var ix, iy float64
	switch {
	case l >= 0 && r >= 0:
		ix = (img[r] - img[l]) / 2
	case r >= 0:
		ix = img[r] - img[i]
	case l >= 0:
		ix = img[i] - img[l]
	}
	switch {
	case u >= 0 && d >= 0:
		iy = (img[d] - img[u]) / 2
	case d >= 0:
		iy = img[d] - img[i]
	case u >= 0:
		iy = img[i] - img[u]
	}
	norm := 1.0
	if g2 := ix*ix + iy*iy; g2 > 1 {
		norm = math.Sqrt(g2)
	}
	vx, vy := -iy/norm, ix/norm

	o := omega[i]
	var dl, dr, du, dd float64 // differences to the neighbours; 0 off the image
	if l >= 0 {
		dl = omega[l] - o
	}
	if r >= 0 {
		dr = omega[r] - o
	}
	if u >= 0 {
		du = omega[u] - o
	}
	if d >= 0 {
		dd = omega[d] - o
	}
	var adv float64
	if vx > 0 {
		adv -= vx * dl // backward difference ω(x) − ω(x−1)
	} else {
		adv += vx * dr
	}
	if vy > 0 {
		adv -= vy * du
	} else {
		adv += vy * dd
	}
	diff := pm(dl)*dl + pm(dr)*dr + pm(du)*du + pm(dd)*dd
	return -adv + nsNu*diff
}

// noiseThreshold is the soft threshold for boundary vorticities v: three
// robust standard deviations (1.4826 × the median of |v|) of the values
// themselves, at least nsNoise. Texture makes the Laplacian large but
// incoherent: carried along isophotes and integrated by the Poisson solve
// it becomes blobs of a colour the image does not have, while the
// vorticity of a real edge stands out of that spread and is kept.
func noiseThreshold(v []float64) float64 {
	if len(v) == 0 {
		return nsNoise
	}
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	slices.Sort(a)
	med := a[len(a)/2]
	return max(nsNoise, 3*1.4826*med)
}

// shrink moves v towards 0 by d (soft threshold).
func shrink(v, d float64) float64 {
	switch {
	case v > d:
		return v - d
	case v < -d:
		return v + d
	}
	return 0
}

// pm is the Perona–Malik edge-stopping function.
func pm(s float64) float64 {
	s *= 1 / nsK
	return 1 / (1 + s*s)
}

// pushPull fills the hole pixels of v with mask-weighted averages from a
// pyramid of 2×2 reductions, each hole taking the value of the coarsest
// level's cell above it that first has known data. A smooth start for the
// Poisson iteration, which otherwise needs O(D²) sweeps to fill a hole of
// depth D.
func pushPull(v []float64, hole []bool, w, h int) {
	type level struct {
		w, h int
		val  []float64
		wt   []float64
	}
	l0 := level{w, h, make([]float64, w*h), make([]float64, w*h)}
	for i := range v {
		if !hole[i] {
			l0.val[i], l0.wt[i] = v[i], 1
		}
	}
	levels := []level{l0}
	for {
		cur := levels[len(levels)-1]
		missing := false
		for _, wt := range cur.wt {
			if wt == 0 {
				missing = true
				break
			}
		}
		if !missing || (cur.w == 1 && cur.h == 1) {
			break
		}
		nw, nh := (cur.w+1)/2, (cur.h+1)/2
		nx := level{nw, nh, make([]float64, nw*nh), make([]float64, nw*nh)}
		for y := 0; y < cur.h; y++ {
			for x := 0; x < cur.w; x++ {
				i, j := y*cur.w+x, (y/2)*nw+x/2
				nx.val[j] += cur.wt[i] * cur.val[i]
				nx.wt[j] += cur.wt[i]
			}
		}
		for j := range nx.val {
			if nx.wt[j] > 0 {
				nx.val[j] /= nx.wt[j]
			}
		}
		levels = append(levels, nx)
	}
	for k := len(levels) - 2; k >= 0; k-- {
		cur, up := levels[k], levels[k+1]
		for y := 0; y < cur.h; y++ {
			for x := 0; x < cur.w; x++ {
				if i := y*cur.w + x; cur.wt[i] == 0 {
					j := (y/2)*up.w + x/2
					cur.val[i], cur.wt[i] = up.val[j], 1
				}
			}
		}
	}
	for i := range v {
		if hole[i] {
			v[i] = levels[0].val[i]
		}
	}
}
