package inpaint

import (
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/ganpaint-go/ganpaint/internal/cputime"
)

// benchScene is a smooth scene-like image with texture: two gradients, a
// dark band and a deterministic high-frequency pattern.
func benchScene(n int) *image.RGBA {
	return fill(n, n, func(x, y int) [3]uint8 {
		fx, fy := float64(x)/float64(n), float64(y)/float64(n)
		tex := 12 * math.Sin(float64(x*7+y*3)) * math.Cos(float64(x*2-y*5))
		r := 80 + 100*fx + tex
		g := 140 - 60*fy + tex
		b := 200 - 120*fx*fy
		if math.Abs(fy-0.6-0.1*math.Sin(6*fx)) < 0.05 {
			r, g, b = 40, 50, 30
		}
		return [3]uint8{uint8(min(max(r, 0), 255)), uint8(min(max(g, 0), 255)), uint8(min(max(b, 0), 255))}
	})
}

// Masks like the painter's: a brushed block of layer cells (a quarter of the
// image's width, an eighth of its area) and a blob (a "remove everywhere"
// segment, 10% of the image).
func benchMasks(n int) map[string]*image.Gray {
	cells := make([]float32, 64)
	for _, c := range []int{18, 19, 20, 26, 27, 28, 34, 35} {
		cells[c] = 1
	}
	brush, _ := MaskFromCells(cells, 8, 8, n, n)
	r := math.Sqrt(0.1*float64(n*n)/math.Pi) / 2
	blob := image.NewGray(image.Rect(0, 0, n, n))
	for _, c := range [][2]float64{{0.3, 0.4}, {0.7, 0.55}, {0.45, 0.8}, {0.6, 0.2}} {
		d := discMask(n, n, c[0]*float64(n), c[1]*float64(n), r)
		for i, v := range d.Pix {
			blob.Pix[i] |= v
		}
	}
	return map[string]*image.Gray{"brush": brush, "segment": blob}
}

func BenchmarkInpaint(b *testing.B) {
	for _, n := range []int{128, 256} {
		src := benchScene(n)
		for _, mname := range []string{"brush", "segment"} {
			mask := benchMasks(n)[mname]
			for _, method := range methods {
				b.Run(fmt.Sprintf("%s/%dpx/%s", method, n, mname), func(b *testing.B) {
					// CPU time too: on a shared machine wall time measures the load.
					cpu0, ok := cputime.Process()
					for b.Loop() {
						if _, err := Inpaint(src, mask, 3, method); err != nil {
							b.Fatal(err)
						}
					}
					if cpu1, _ := cputime.Process(); ok {
						b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
					}
				})
			}
		}
	}
}
