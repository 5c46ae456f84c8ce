package inference_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

func TestRGBAConversion(t *testing.T) {
	nan := float32(math.NaN())
	// One 1×4 image; channel values chosen to hit both ends, clamping, rounding and NaN.
	img := &inference.Images{N: 1, H: 1, W: 4, Data: []float32{
		-1, 1, 0, 5, // R
		-3, 0.0039215, -0.0039215, nan, // G: 0.0039215 → 127.99997 → 128; −0.0039215 → 127.00002 → 127
		1, -1, 0, -1.0 / 255, // B: 0 → exactly 127.5 → 128 (ties away from zero), −1/255 → 127
	}}
	got := img.RGBA(0, [2]float32{-1, 1})
	want := [][4]uint8{{0, 0, 255, 255}, {255, 128, 0, 255}, {128, 127, 128, 255}, {255, 0, 127, 255}}
	for x, w := range want {
		c := got.RGBAAt(x, 0)
		if [4]uint8{c.R, c.G, c.B, c.A} != w {
			t.Errorf("pixel %d = %v, want %v", x, c, w)
		}
	}
	if img.RGBA(1, [2]float32{-1, 1}) != nil || img.RGBA(-1, [2]float32{-1, 1}) != nil {
		t.Error("RGBA of a missing image is not nil")
	}
	bad := []struct {
		name string
		err  error
	}{
		{"index", img.RGBAInto(image.NewRGBA(image.Rect(0, 0, 4, 1)), 2, [2]float32{-1, 1})},
		{"dst size", img.RGBAInto(image.NewRGBA(image.Rect(0, 0, 3, 1)), 0, [2]float32{-1, 1})},
		{"range", img.RGBAInto(image.NewRGBA(image.Rect(0, 0, 4, 1)), 0, [2]float32{1, 1})},
		{"short data", (&inference.Images{N: 1, H: 2, W: 2, Data: make([]float32, 5)}).RGBAInto(image.NewRGBA(image.Rect(0, 0, 2, 2)), 0, [2]float32{0, 1})},
	}
	for _, b := range bad {
		if !errors.Is(b.err, inference.ErrBadShape) {
			t.Errorf("%s: error = %v, want ErrBadShape", b.name, b.err)
		}
	}
}

func TestEncodeJPEGAndPNG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
		if i%4 == 3 {
			img.Pix[i] = 255 // image.RGBA is premultiplied: keep colours valid
		}
	}
	for _, q := range []int{0, -5, 101} {
		if err := inference.EncodeJPEG(&bytes.Buffer{}, img, q); !errors.Is(err, inference.ErrBadQuality) {
			t.Errorf("quality %d error = %v", q, err)
		}
	}
	var buf bytes.Buffer
	if err := inference.EncodeJPEG(&buf, img, 90); err != nil {
		t.Fatal(err)
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil || dec.Bounds() != img.Bounds() {
		t.Fatalf("jpeg round trip: %v %v", dec, err)
	}
	var pngBuf bytes.Buffer
	if err := inference.EncodeImage(&pngBuf, img, inference.FormatPNG, 0); err != nil {
		t.Fatal(err)
	}
	if err := inference.EncodeImage(&pngBuf, img, "gif", 90); !errors.Is(err, inference.ErrBadFormat) {
		t.Errorf("gif: %v, want ErrBadFormat", err)
	}
	back, err := png.Decode(bytes.NewReader(pngBuf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			if back.At(x, y) != img.At(x, y) {
				t.Fatalf("png pixel (%d,%d) = %v, want %v", x, y, back.At(x, y), img.At(x, y))
			}
		}
	}
	if err := inference.EncodePNG(&buf, nil); !errors.Is(err, inference.ErrBadShape) {
		t.Errorf("nil image error = %v", err)
	}
}

// TestGoldenRender renders planted id 7 with two strokes at layer2 and
// compares pixels with testdata/golden/planted_id7_edit.png (run with
// -update to rewrite it after an intended change).
func TestGoldenRender(t *testing.T) {
	m := loadPlanted(t, inference.Options{})
	ctx := context.Background()
	feat := headOf(t, m, "layer2", 7)
	levels, err := m.Levels(context.Background(), "layer2")
	if err != nil {
		t.Fatal(err)
	}
	edits := []inference.Edit{
		{Units: []int{0, 1, 2, 3}, Mode: inference.ModeRemove, Strength: 1, Mask: inference.RectMask(32, 32, 0, 0, 16, 32)},
		{Units: []int{1}, Mode: inference.ModeAdd, Strength: 1, Mask: inference.RectMask(32, 32, 12, 4, 30, 14)},
		{Units: []int{3}, Mode: inference.ModeAdd, Strength: 0.5, Mask: inference.RectMask(32, 32, 2, 20, 10, 30)},
	}
	var edited inference.Features
	if err := inference.ApplyEdits(&edited, feat, edits, levels, inference.PoolMax); err != nil {
		t.Fatal(err)
	}
	img, err := m.Tail(ctx, &edited)
	if err != nil {
		t.Fatal(err)
	}
	got := img.RGBA(0, m.ImageRange())
	path := filepath.Join("testdata", "golden", "planted_id7_edit.png")
	if *update {
		var buf bytes.Buffer
		if err := inference.EncodePNG(&buf, got); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("golden file missing (run go test -run TestGoldenRender -update): %v", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds() != got.Bounds() {
		t.Fatalf("golden is %v, render is %v", want.Bounds(), got.Bounds())
	}
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			wr, wg, wb, wa := want.At(x, y).RGBA()
			c := got.RGBAAt(x, y)
			if uint8(wr>>8) != c.R || uint8(wg>>8) != c.G || uint8(wb>>8) != c.B || uint8(wa>>8) != c.A {
				t.Fatalf("pixel (%d,%d) = %v, golden %v", x, y, c, want.At(x, y))
			}
		}
	}
}

func TestImagesFromRGBRoundTrip(t *testing.T) {
	src := image.NewRGBA(image.Rect(2, 3, 7, 6))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*37 + 11)
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	for _, r := range [][2]float32{{-1, 1}, {0, 1}, {0, 255}} {
		imgs, err := inference.ImagesFromRGBA([]*image.RGBA{src, src}, r)
		if err != nil {
			t.Fatal(err)
		}
		if imgs.N != 2 || imgs.W != 5 || imgs.H != 3 {
			t.Fatalf("batch %dx%dx%d", imgs.N, imgs.W, imgs.H)
		}
		for k := 0; k < 2; k++ {
			back := imgs.RGBA(k, r)
			for y := 0; y < 3; y++ {
				for x := 0; x < 5; x++ {
					if a, b := src.RGBAAt(x+2, y+3), back.RGBAAt(x, y); a != b {
						t.Fatalf("range %v image %d (%d,%d): %v came back as %v", r, k, x, y, a, b)
					}
				}
			}
		}
	}
	bad := []error{
		func() error {
			_, err := inference.ImagesFromRGB(make([]uint8, 11), 1, 2, 2, [2]float32{0, 1})
			return err
		}(),
		func() error {
			_, err := inference.ImagesFromRGB(make([]uint8, 12), 1, 2, 2, [2]float32{1, 1})
			return err
		}(),
		func() error { _, err := inference.ImagesFromRGB(nil, 0, 2, 2, [2]float32{0, 1}); return err }(),
		func() error { _, err := inference.ImagesFromRGBA(nil, [2]float32{0, 1}); return err }(),
		func() error {
			_, err := inference.ImagesFromRGBA([]*image.RGBA{src, image.NewRGBA(image.Rect(0, 0, 5, 4))}, [2]float32{0, 1})
			return err
		}(),
	}
	for i, err := range bad {
		if !errors.Is(err, inference.ErrBadShape) {
			t.Errorf("case %d: error = %v, want ErrBadShape", i, err)
		}
	}
}
