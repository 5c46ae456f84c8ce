package inference

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// sceneRGBA loads a 256×256 render of the procedural scenes (a realistic
// picture for encoder tests and benchmarks).
func sceneRGBA(t testing.TB) *image.RGBA {
	t.Helper()
	f, err := os.Open("testdata/bench_scene256.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewRGBA(src.Bounds())
	draw.Draw(dst, dst.Rect, src, image.Point{}, draw.Src)
	return dst
}

func TestFastPNGRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	noise := func(w, h int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
			if i%4 == 3 {
				img.Pix[i] = 255
			}
		}
		return img
	}
	gradient := func(w, h int) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := img.PixOffset(x, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x*3), uint8(y*5), uint8(x*y), 255
			}
		}
		return img
	}
	scene := sceneRGBA(t)
	tests := []struct {
		name string
		img  *image.RGBA
	}{
		{"1x1", noise(1, 1)},
		{"odd noise", noise(17, 5)},
		{"tall", noise(2, 40)},
		{"gradient", gradient(100, 60)},
		{"scene", scene},
		{"sub-image", scene.SubImage(image.Rect(10, 20, 60, 50)).(*image.RGBA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodePNG(&buf, tt.img); err != nil {
				t.Fatal(err)
			}
			back, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			b := tt.img.Bounds()
			if back.Bounds().Dx() != b.Dx() || back.Bounds().Dy() != b.Dy() {
				t.Fatalf("decoded %v, want size of %v", back.Bounds(), b)
			}
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					r1, g1, b1, a1 := back.At(back.Bounds().Min.X+x, back.Bounds().Min.Y+y).RGBA()
					r2, g2, b2, a2 := tt.img.At(b.Min.X+x, b.Min.Y+y).RGBA()
					if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
						t.Fatalf("pixel (%d,%d) differs", x, y)
					}
				}
			}
		})
	}
	// Translucent images keep their alpha through the standard encoder.
	clear := image.NewRGBA(image.Rect(0, 0, 3, 3))
	var buf bytes.Buffer
	if err := EncodePNG(&buf, clear); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, a := back.At(1, 1).RGBA(); a != 0 {
		t.Fatalf("alpha lost: %d", a)
	}
}

func TestFastPNGWriteErrors(t *testing.T) {
	img := sceneRGBA(t)
	for limit := 0; limit < 60; limit += 7 {
		if err := EncodePNG(&failingWriter{left: limit}, img); err == nil {
			t.Fatalf("write error after %d bytes not reported", limit)
		}
	}
}

type failingWriter struct{ left int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, io.ErrShortWrite
	}
	f.left -= len(p)
	return len(p), nil
}

func BenchmarkEncodePNGScene(b *testing.B) {
	img := sceneRGBA(b)
	var buf bytes.Buffer
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := EncodePNG(&buf, img); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("stdlib_bestspeed", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := pngEncoder.Encode(&buf, img); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("stdlib_default", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := png.Encode(&buf, img); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
}
