package server

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

// bruteMask tests every pixel against every segment.
func bruteMask(g grid, pts []painting.Point, r int) []float32 {
	m := make([]float32, g.cells())
	for y := 0; y < g.imageH; y++ {
		for x := 0; x < g.imageW; x++ {
			hit := false
			if len(pts) == 1 {
				hit = inCapsule(pts[0], pts[0], r, x, y)
			}
			for i := 1; i < len(pts) && !hit; i++ {
				hit = inCapsule(pts[i-1], pts[i], r, x, y)
			}
			if hit {
				m[(y*g.rows/g.imageH)*g.cols+x*g.cols/g.imageW] = 1
			}
		}
	}
	return m
}

func TestInCapsule(t *testing.T) {
	a, b := painting.Point{X: 10, Y: 10}, painting.Point{X: 20, Y: 10}
	tests := []struct {
		x, y int
		r    int
		want bool
	}{
		{15, 13, 3, true},  // exactly r from the middle
		{15, 14, 3, false}, // just beyond
		{7, 10, 3, true},   // exactly r beyond the start
		{6, 10, 3, false},
		{22, 12, 3, true},  // 2²+2² = 8 ≤ 9 around the end
		{23, 12, 3, false}, // 9+4 > 9
	}
	for _, tc := range tests {
		if got := inCapsule(a, b, tc.r, tc.x, tc.y); got != tc.want {
			t.Errorf("inCapsule(%d,%d r=%d) = %v, want %v", tc.x, tc.y, tc.r, got, tc.want)
		}
	}
}

func TestPaintPolylineMatchesBruteForce(t *testing.T) {
	grids := []grid{
		{imageW: 64, imageH: 64, cols: 8, rows: 8},
		{imageW: 64, imageH: 48, cols: 16, rows: 4},
		{imageW: 30, imageH: 30, cols: 7, rows: 5}, // cells that do not divide the image
		{imageW: 32, imageH: 32, cols: 32, rows: 32},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for gi, g := range grids {
		for trial := 0; trial < 300; trial++ {
			n := 1 + rng.IntN(5)
			pts := make([]painting.Point, n)
			for i := range pts {
				pts[i] = painting.Point{X: rng.IntN(g.imageW), Y: rng.IntN(g.imageH)}
			}
			// Axis-aligned and diagonal strokes make exact tangencies.
			if trial%3 == 0 && n > 1 {
				pts[1].Y = pts[0].Y
			}
			if trial%5 == 0 && n > 1 {
				d := min(g.imageW-1-pts[0].X, g.imageH-1-pts[0].Y)
				pts[1] = painting.Point{X: pts[0].X + d, Y: pts[0].Y + d}
			}
			r := 1 + rng.IntN(8)
			got := make([]float32, g.cells())
			g.paintPolyline(got, pts, r)
			if want := bruteMask(g, pts, r); !slices.Equal(got, want) {
				t.Fatalf("grid %d trial %d pts %v r %d:\n got %v\nwant %v", gi, trial, pts, r, got, want)
			}
		}
	}
}

func TestPaintPolylinePixelExact(t *testing.T) {
	// With one cell per pixel the mask is the brush itself, so every
	// tangency shows up directly.
	g := grid{imageW: 40, imageH: 40, cols: 40, rows: 40}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 500; trial++ {
		pts := []painting.Point{{X: rng.IntN(40), Y: rng.IntN(40)}, {X: rng.IntN(40), Y: rng.IntN(40)}}
		r := 1 + rng.IntN(6)
		got := make([]float32, g.cells())
		g.paintPolyline(got, pts, r)
		if want := bruteMask(g, pts, r); !slices.Equal(got, want) {
			t.Fatalf("pts %v r %d differ", pts, r)
		}
	}
}

// BenchmarkPaintPolyline rasterises the largest stroke message (1024
// points of long jumps across a 256 px image): the worst case a client can
// make the reader goroutine do per message.
func BenchmarkPaintPolyline(b *testing.B) {
	for _, tc := range []struct {
		name string
		g    grid
		r    int
	}{
		{"8x8-r64", grid{imageW: 256, imageH: 256, cols: 8, rows: 8}, 64},
		{"8x8-r1", grid{imageW: 256, imageH: 256, cols: 8, rows: 8}, 1},
		{"32x32-r1", grid{imageW: 256, imageH: 256, cols: 32, rows: 32}, 1},
		{"64x64-r3", grid{imageW: 256, imageH: 256, cols: 64, rows: 64}, 3},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pts := make([]painting.Point, 1024)
			for i := range pts {
				pts[i] = painting.Point{X: (i * 37) % 256, Y: (i * 91) % 256}
			}
			mask := make([]float32, tc.g.cells())
			for b.Loop() {
				clear(mask)
				tc.g.paintPolyline(mask, pts, tc.r)
			}
		})
	}
}
