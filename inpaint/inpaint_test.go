package inpaint

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"
)

var methods = []Method{Telea, NS}

// fill returns a w×h image whose pixel (x, y) is f(x, y), alpha 255.
func fill(w, h int, f func(x, y int) [3]uint8) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := f(x, y)
			img.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
		}
	}
	return img
}

// rectMask marks x0 ≤ x < x1, y0 ≤ y < y1.
func rectMask(w, h, x0, y0, x1, y1 int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := max(y0, 0); y < min(y1, h); y++ {
		for x := max(x0, 0); x < min(x1, w); x++ {
			m.Pix[y*m.Stride+x] = 1 // any non-zero value marks a pixel, as in OpenCV
		}
	}
	return m
}

// discMask marks the pixels within r of (cx, cy).
func discMask(w, h int, cx, cy, r float64) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if math.Hypot(float64(x)-cx, float64(y)-cy) <= r {
				m.Pix[y*m.Stride+x] = 255
			}
		}
	}
	return m
}

// outsideUnchanged fails when a pixel outside the mask differs from src or
// an output pixel is not opaque.
func outsideUnchanged(t *testing.T, src, got *image.RGBA, mask *image.Gray) {
	t.Helper()
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g := got.RGBAAt(x, y)
			if g.A != 255 {
				t.Fatalf("pixel (%d,%d) alpha %d, want 255", x, y, g.A)
			}
			if mask.GrayAt(x, y).Y != 0 {
				continue
			}
			if s := src.RGBAAt(x, y); s.R != g.R || s.G != g.G || s.B != g.B {
				t.Fatalf("known pixel (%d,%d) changed from %v to %v", x, y, s, g)
			}
		}
	}
}

func TestConstantImageRestoredExactly(t *testing.T) {
	const w, h = 48, 40
	col := [3]uint8{37, 200, 113}
	src := fill(w, h, func(x, y int) [3]uint8 { return col })
	masks := map[string]*image.Gray{
		"square":    rectMask(w, h, 10, 8, 30, 28),
		"disc":      discMask(w, h, 24, 20, 9.5),
		"one pixel": rectMask(w, h, 5, 5, 6, 6),
		"left edge": rectMask(w, h, 0, 0, 12, h),
		"corner":    rectMask(w, h, 30, 25, w, h),
		"all but one": func() *image.Gray {
			m := rectMask(w, h, 0, 0, w, h)
			m.Pix[17*m.Stride+3] = 0
			return m
		}(),
	}
	for _, method := range methods {
		for name, mask := range masks {
			for _, radius := range []float64{1, 3, 5.5} {
				t.Run(fmt.Sprintf("%s/%s/r%g", method, name, radius), func(t *testing.T) {
					got, err := Inpaint(src, mask, radius, method)
					if err != nil {
						t.Fatal(err)
					}
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							if c := got.RGBAAt(x, y); [3]uint8{c.R, c.G, c.B} != col || c.A != 255 {
								t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, c, col)
							}
						}
					}
				})
			}
		}
	}
}

// Tolerances when a linear gradient is restored. The input is the gradient
// rounded to bytes, so the methods see a staircase, not a plane: up to 0.5
// grey levels of rounding in the known data plus its effect on the
// extrapolation.
//
// NS restores a linear image up to that rounding (a plane is harmonic and
// its boundary vorticity is below the noise threshold): linearTolerance.
//
// Telea extrapolates to first order only from the known image, within the
// radius; deeper pixels are weighted means of pixels filled before them,
// which lie nearer the boundary, so on a slope the fill lags behind the
// plane by a part of what copying the nearest known pixel would miss. The
// bound per pixel p is linearTolerance + teleaLag·|∇I|·D(p), D(p) the
// distance from p to the nearest known pixel; nearest-pixel copying has
// teleaLag = 1 (measured worst: 0.78, in the 12-pixel strip at the right border).
const (
	linearTolerance = 2
	teleaLag        = 0.85
)

// distToKnown is the Euclidean distance from every pixel to the nearest
// pixel outside mask (brute force; test images are small).
func distToKnown(mask *image.Gray) []float64 {
	b := mask.Bounds()
	w, h := b.Dx(), b.Dy()
	d := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if mask.Pix[y*mask.Stride+x] == 0 {
				continue
			}
			best := math.Inf(1)
			for yy := 0; yy < h; yy++ {
				for xx := 0; xx < w; xx++ {
					if mask.Pix[yy*mask.Stride+xx] == 0 {
						best = min(best, math.Hypot(float64(x-xx), float64(y-yy)))
					}
				}
			}
			d[y*w+x] = best
		}
	}
	return d
}

func TestLinearGradientRestored(t *testing.T) {
	const w, h = 64, 64
	// Slopes in grey levels per pixel; values stay inside [0, 255].
	grads := []struct {
		name       string
		gx, gy, c0 float64
	}{
		{"horizontal", 3, 0, 20},
		{"vertical", 0, 2.5, 40},
		{"diagonal", 1.5, -1.2, 120},
		{"shallow", 0.3, 0.2, 90},
	}
	masks := []struct {
		name string
		mask *image.Gray
		// across: the mask touches a border the gradient crosses (x: the
		// left or right border, y: top or bottom).
		acrossX, acrossY bool
	}{
		{"square 16", rectMask(w, h, 24, 24, 40, 40), false, false},
		{"disc r10", discMask(w, h, 31.5, 31.5, 10), false, false},
		{"bar", rectMask(w, h, 8, 28, 56, 34), false, false},
		{"top edge", rectMask(w, h, 20, 0, 44, 10), false, true},
		{"right edge", rectMask(w, h, 52, 10, w, 50), true, false},
		{"corner", rectMask(w, h, 50, 50, w, h), true, true},
	}
	for _, g := range grads {
		truth := func(x, y int) float64 { return g.c0 + g.gx*float64(x) + g.gy*float64(y) }
		src := fill(w, h, func(x, y int) [3]uint8 {
			v := uint8(math.Round(truth(x, y)))
			return [3]uint8{v, v, 255 - v}
		})
		for _, method := range methods {
			for _, m := range masks {
				// NS reflects at the image border (zero derivative across it),
				// so it restores only gradients along the borders it touches;
				// the constant test covers it at every border.
				if method == NS && ((m.acrossX && g.gx != 0) || (m.acrossY && g.gy != 0)) {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", method, g.name, m.name), func(t *testing.T) {
					got, err := Inpaint(src, m.mask, 5, method)
					if err != nil {
						t.Fatal(err)
					}
					outsideUnchanged(t, src, got, m.mask)
					slope := math.Hypot(g.gx, g.gy)
					dist := distToKnown(m.mask)
					for y := 0; y < h; y++ {
						for x := 0; x < w; x++ {
							if m.mask.GrayAt(x, y).Y == 0 {
								continue
							}
							tol := float64(linearTolerance)
							if method == Telea {
								tol += teleaLag * slope * dist[y*w+x]
							}
							c := got.RGBAAt(x, y)
							v := truth(x, y)
							if e := max(math.Abs(float64(c.R)-v), math.Abs(float64(c.B)-(255-v))); e > tol {
								t.Fatalf("(%d,%d): error %.2f grey levels, want ≤ %.2f", x, y, e, tol)
							}
						}
					}
				})
			}
		}
	}
}

func TestEmptyMaskChangesNothing(t *testing.T) {
	src := fill(33, 17, func(x, y int) [3]uint8 { return [3]uint8{uint8(x * 7), uint8(y * 13), uint8(x * y)} })
	// A translucent source pixel: the alpha is ignored and the colour kept.
	src.Pix[3] = 7
	mask := image.NewGray(src.Bounds())
	for _, method := range methods {
		t.Run(method.String(), func(t *testing.T) {
			got, err := Inpaint(src, mask, 3, method)
			if err != nil {
				t.Fatal(err)
			}
			outsideUnchanged(t, src, got, mask)
		})
	}
}

// A step edge crossing the hole: both methods must keep the two sides'
// colours on their sides (the first column and the last of the hole), and
// no value may leave the range of the known pixels. Telea's first-order
// estimates would ring at the edge with plain central differences (half the
// step as slope); NS clamps to the range of the pixels around the hole.
func TestEdgeKeepsSides(t *testing.T) {
	const w, h = 40, 40
	src := fill(w, h, func(x, y int) [3]uint8 {
		if x < 20 {
			return [3]uint8{30, 60, 90}
		}
		return [3]uint8{220, 180, 140}
	})
	mask := rectMask(w, h, 12, 14, 28, 26)
	for _, method := range methods {
		for _, radius := range []float64{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("%s/r%g", method, radius), func(t *testing.T) {
				got, err := Inpaint(src, mask, radius, method)
				if err != nil {
					t.Fatal(err)
				}
				outsideUnchanged(t, src, got, mask)
				for y := 14; y < 26; y++ {
					l, r := got.RGBAAt(12, y), got.RGBAAt(27, y)
					if l.R > 60 || r.R < 190 {
						t.Errorf("row %d: hole's left column R=%d, right column R=%d, want near 30 and 220", y, l.R, r.R)
					}
					for x := 12; x < 28; x++ {
						if c := got.RGBAAt(x, y); c.R < 30 || c.R > 220 || c.G < 60 || c.G > 180 {
							t.Fatalf("(%d,%d) = %v outside the known range", x, y, c)
						}
					}
				}
			})
		}
	}
}

func TestBoundsNotAtOrigin(t *testing.T) {
	r := image.Rect(5, -3, 25, 17)
	src := image.NewRGBA(r)
	for i := range src.Pix {
		src.Pix[i] = 90
	}
	mask := image.NewGray(r)
	mask.SetGray(10, 2, color.Gray{Y: 1})
	mask.SetGray(11, 2, color.Gray{Y: 1})
	for _, method := range methods {
		got, err := Inpaint(src, mask, 2, method)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if got.Bounds() != r {
			t.Fatalf("%s: bounds %v, want %v", method, got.Bounds(), r)
		}
		if c := got.RGBAAt(10, 2); c.R != 90 || c.G != 90 || c.B != 90 {
			t.Errorf("%s: filled pixel %v, want grey 90", method, c)
		}
	}
}

func TestDeterministic(t *testing.T) {
	src := fill(50, 50, func(x, y int) [3]uint8 {
		return [3]uint8{uint8(x*x + y), uint8(3*x ^ y), uint8((x + y) * 5)}
	})
	mask := discMask(50, 50, 25, 20, 12)
	for _, method := range methods {
		a, err := Inpaint(src, mask, 5, method)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Inpaint(src, mask, 5, method)
		if string(a.Pix) != string(b.Pix) {
			t.Errorf("%s: two runs differ", method)
		}
	}
}

func TestBadInput(t *testing.T) {
	src := fill(8, 8, func(x, y int) [3]uint8 { return [3]uint8{1, 2, 3} })
	ok := rectMask(8, 8, 2, 2, 4, 4)
	cases := []struct {
		name   string
		src    *image.RGBA
		mask   *image.Gray
		radius float64
		method Method
		want   error
	}{
		{"nil image", nil, ok, 3, Telea, ErrBadImage},
		{"empty image", image.NewRGBA(image.Rect(0, 0, 0, 5)), image.NewGray(image.Rect(0, 0, 0, 5)), 3, Telea, ErrBadImage},
		{"short pixels", &image.RGBA{Pix: make([]uint8, 10), Stride: 32, Rect: image.Rect(0, 0, 8, 8)}, ok, 3, NS, ErrBadImage},
		{"nil mask", src, nil, 3, Telea, ErrMaskSize},
		{"mask smaller", src, rectMask(7, 8, 0, 0, 1, 1), 3, Telea, ErrMaskSize},
		{"mask shifted", src, image.NewGray(image.Rect(1, 0, 9, 8)), 3, NS, ErrMaskSize},
		{"short mask", src, &image.Gray{Pix: make([]uint8, 5), Stride: 8, Rect: image.Rect(0, 0, 8, 8)}, 3, NS, ErrMaskSize},
		{"radius 0", src, ok, 0, Telea, ErrBadRadius},
		{"radius negative", src, ok, -2, NS, ErrBadRadius},
		{"radius NaN", src, ok, math.NaN(), Telea, ErrBadRadius},
		{"radius huge", src, ok, MaxRadius + 1, NS, ErrBadRadius},
		{"radius +Inf", src, ok, math.Inf(1), NS, ErrBadRadius},
		{"method 0", src, ok, 3, 0, ErrBadMethod},
		{"method 9", src, ok, 3, 9, ErrBadMethod},
		{"everything masked", src, rectMask(8, 8, 0, 0, 8, 8), 3, Telea, ErrNothingKnown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Inpaint(c.src, c.mask, c.radius, c.method)
			if !errors.Is(err, c.want) || got != nil {
				t.Fatalf("got (%v, %v), want error %v", got != nil, err, c.want)
			}
			if err.Error() == c.want.Error() && c.want != ErrNothingKnown {
				t.Errorf("error %q names no value", err)
			}
		})
	}
}

func TestMaskFromCells(t *testing.T) {
	cells := []float32{0, 1, 0, 0, 0, 1} // 3×2 grid
	m, err := MaskFromCells(cells, 3, 2, 12, 8)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 8; y++ {
		for x := 0; x < 12; x++ {
			want := (y < 4 && x >= 4 && x < 8) || (y >= 4 && x >= 8)
			if got := m.GrayAt(x, y).Y != 0; got != want {
				t.Fatalf("(%d,%d) masked %v, want %v", x, y, got, want)
			}
		}
	}
	for _, bad := range []struct {
		cells            []float32
		cols, rows, w, h int
	}{
		{cells, 3, 3, 12, 8}, {cells, 0, 2, 12, 8}, {cells, 3, 2, 2, 8}, {cells, 3, 2, 1 << 14, 1 << 14},
	} {
		if _, err := MaskFromCells(bad.cells, bad.cols, bad.rows, bad.w, bad.h); !errors.Is(err, ErrMaskSize) {
			t.Errorf("MaskFromCells(%d cells, %d×%d, %d×%d) error = %v", len(bad.cells), bad.cols, bad.rows, bad.w, bad.h, err)
		}
	}
}

func TestDilate(t *testing.T) {
	m := rectMask(9, 9, 4, 4, 5, 5)
	d := Dilate(m, 2)
	n := 0
	for y := 0; y < 9; y++ {
		for x := 0; x < 9; x++ {
			in := (x-4)*(x-4)+(y-4)*(y-4) <= 4
			if got := d.GrayAt(x, y).Y != 0; got != in {
				t.Fatalf("(%d,%d) = %v, want %v", x, y, got, in)
			}
			if in {
				n++
			}
		}
	}
	if n != 13 {
		t.Errorf("disc of radius 2 has %d pixels, want 13", n)
	}
	same := Dilate(m, 0)
	for i := range m.Pix {
		if (same.Pix[i] != 0) != (m.Pix[i] != 0) {
			t.Fatalf("Dilate by 0 changed pixel %d", i)
		}
	}
}
