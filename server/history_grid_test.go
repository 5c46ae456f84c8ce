package server

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// onGridByPixel is the definition onGrid must agree with: every pixel of
// to's image that lies in a set cell of from sets to's cell under it.
func onGridByPixel(mask []float32, from, to grid) []float32 {
	out := make([]float32, to.cells())
	for y := 0; y < to.imageH; y++ {
		for x := 0; x < to.imageW; x++ {
			if mask[(y*from.rows/from.imageH)*from.cols+x*from.cols/from.imageW] != 0 {
				out[(y*to.rows/to.imageH)*to.cols+x*to.cols/to.imageW] = 1
			}
		}
	}
	return out
}

func TestOnGridMatchesPixels(t *testing.T) {
	grids := []struct {
		name     string
		from, to grid
	}{
		{"layer6 on layer4", grid{128, 128, 16, 16}, grid{128, 128, 8, 8}},
		{"layer4 on layer6", grid{128, 128, 8, 8}, grid{128, 128, 16, 16}},
		{"uneven cells", grid{100, 90, 7, 6}, grid{100, 90, 3, 4}},
		{"finer than pixels", grid{10, 10, 16, 16}, grid{10, 10, 3, 3}},
		{"coarse to uneven", grid{128, 96, 4, 3}, grid{128, 96, 10, 9}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range grids {
		t.Run(g.name, func(t *testing.T) {
			for trial := range 50 {
				mask := make([]float32, g.from.cells())
				for i := range mask {
					if rng.IntN(4) == 0 {
						mask[i] = 1
					}
				}
				if trial == 0 {
					clear(mask)
				}
				want := onGridByPixel(mask, g.from, g.to)
				if got := onGrid(mask, g.from, g.to); !slices.Equal(got, want) {
					t.Fatalf("trial %d: onGrid %v, by pixel %v", trial, got, want)
				}
			}
		})
	}
}

// A state message summarises every edit; a layer6 brush's mask is moved
// onto the session's layer4 grid for each.
func BenchmarkOnGrid(b *testing.B) {
	from, to := grid{128, 128, 16, 16}, grid{128, 128, 8, 8}
	mask := make([]float32, from.cells())
	for i := 3 * 16; i < 6*16; i++ {
		mask[i] = 1
	}
	b.Run("cells", func(b *testing.B) {
		for b.Loop() {
			onGrid(mask, from, to)
		}
	})
	b.Run("pixels", func(b *testing.B) {
		for b.Loop() {
			onGridByPixel(mask, from, to)
		}
	})
}
