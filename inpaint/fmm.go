package inpaint

import "math"

// Fast marching (Sethian): arrival times T of a front moving at unit speed,
// i.e. distances to where it starts, solving |∇T| = 1 on the 4-neighbour
// grid. Pixels are frozen in order of T from a min-heap of the narrow band.

// Pixel states during a march.
const (
	stateFar    uint8 = iota // not reached yet
	stateBand                // reached, T tentative, in the heap
	stateFrozen              // T final
)

var inf32 = float32(math.Inf(1))

// bandEntry is one heap entry; entries whose t no longer equals the pixel's
// T are stale (the pixel was reached again with a smaller time) and skipped.
type bandEntry struct {
	t float32
	i int32
}

// band is a binary min-heap ordered by (t, i): ties go to the lower pixel
// index, so marches are deterministic.
type band []bandEntry

func (b band) less(x, y int) bool {
	if b[x].t != b[y].t {
		return b[x].t < b[y].t
	}
	return b[x].i < b[y].i
}

func (b *band) push(t float32, i int) {
	*b = append(*b, bandEntry{t, int32(i)})
	h := *b
	for k := len(h) - 1; k > 0; {
		parent := (k - 1) / 2
		if !h.less(k, parent) {
			break
		}
		h[k], h[parent] = h[parent], h[k]
		k = parent
	}
}

func (b *band) pop() bandEntry {
	h := *b
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for k := 0; ; {
		l, r, m := 2*k+1, 2*k+2, k
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == k {
			break
		}
		h[k], h[m] = h[m], h[k]
		k = m
	}
	*b = h
	return top
}

// eikonal solves the upwind discretisation of |∇T| = 1 at pixel (x, y) from
// the frozen neighbours' times: with a the smaller frozen time along x and
// b along y, T is the larger root of (T−a)² + (T−b)² = 1 when both exist and
// |a−b| < 1, else min(a, b) + 1.
func eikonal(t []float32, state []uint8, w, h, x, y int) float32 {
	i := y*w + x
	a, b := inf32, inf32
	if x > 0 && state[i-1] == stateFrozen {
		a = t[i-1]
	}
	if x < w-1 && state[i+1] == stateFrozen && t[i+1] < a {
		a = t[i+1]
	}
	if y > 0 && state[i-w] == stateFrozen {
		b = t[i-w]
	}
	if y < h-1 && state[i+w] == stateFrozen && t[i+w] < b {
		b = t[i+w]
	}
	if a == inf32 && b == inf32 {
		return inf32
	}
	if a == inf32 || b == inf32 || math.Abs(float64(a-b)) >= 1 {
		return min(a, b) + 1
	}
	d := float64(a - b)
	return float32((float64(a) + float64(b) + math.Sqrt(2-d*d)) / 2)
}

// neighbours4 visits the in-image 4-neighbours of pixel i.
func neighbours4(w, h, i int, visit func(j int)) {
	x, y := i%w, i/w
	if x > 0 {
		visit(i - 1)
	}
	if x < w-1 {
		visit(i + 1)
	}
	if y > 0 {
		visit(i - w)
	}
	if y < h-1 {
		visit(i + w)
	}
}

// march runs fast marching over the pixels allowed by inside, starting from
// the seeds (T = 0), and freezes pixels in order of T until the band is
// empty or T exceeds limit. onFreeze is called for each pixel as it is
// frozen, after its T is final and before its neighbours are updated, so a
// caller can compute the pixel's value from everything frozen before it.
// t and state must have w*h entries; t of seeds is set to 0, of pixels never
// reached left as is.
func march(w, h int, t []float32, state []uint8, seeds []int, allowed func(i int) bool, limit float32, onFreeze func(i int)) {
	var heap band
	for _, s := range seeds {
		t[s] = 0
		state[s] = stateBand
		heap.push(0, s)
	}
	for len(heap) > 0 {
		e := heap.pop()
		i := int(e.i)
		if state[i] == stateFrozen || e.t != t[i] {
			continue
		}
		if e.t > limit {
			break
		}
		state[i] = stateFrozen
		if onFreeze != nil {
			onFreeze(i)
		}
		neighbours4(w, h, i, func(j int) {
			if state[j] == stateFrozen || !allowed(j) {
				return
			}
			tj := eikonal(t, state, w, h, j%w, j/w)
			if state[j] == stateFar || tj < t[j] {
				t[j] = tj
				state[j] = stateBand
				heap.push(tj, j)
			}
		})
	}
}
