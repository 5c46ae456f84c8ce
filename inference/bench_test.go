package inference_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// benchModel loads the model named by $GANPAINT_BENCH_MODEL (a model
// directory), or the planted test model, with one worker so the figures are
// single-request latencies.
func benchModel(b *testing.B) *inference.Model {
	b.Helper()
	testenv.RequireRuntime(b)
	dir := os.Getenv("GANPAINT_BENCH_MODEL")
	if dir == "" {
		dir = plantedDir
	}
	m, err := inference.LoadDir(dir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func BenchmarkHead(b *testing.B) {
	m := benchModel(b)
	z, _ := m.Z(7)
	ctx := context.Background()
	for _, li := range m.Layers() {
		b.Run(li.Name, func(b *testing.B) {
			var f inference.Features
			for b.Loop() {
				if err := m.HeadInto(ctx, &f, li.Name, z, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTail(b *testing.B) {
	m := benchModel(b)
	z, _ := m.Z(7)
	ctx := context.Background()
	for _, li := range m.Layers() {
		b.Run(li.Name, func(b *testing.B) {
			f, err := m.Head(ctx, li.Name, z, 1)
			if err != nil {
				b.Fatal(err)
			}
			var img inference.Images
			for b.Loop() {
				if err := m.TailInto(ctx, &img, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGenerate is what the reference server does per stroke: the whole
// generator from z.
func BenchmarkGenerate(b *testing.B) {
	m := benchModel(b)
	z, _ := m.Z(7)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := m.Generate(ctx, z, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyEdits uses the reference's painting layer shape (512 units at
// 8×8), 15 units per concept, and a stroke history of 1 or 20 edits.
func BenchmarkApplyEdits(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	src := randomFeatures(rng, 1, 512, 8, 8)
	levels := make([]float32, 512)
	for i := range levels {
		levels[i] = rng.Float32() * 5
	}
	for _, tc := range []struct {
		name    string
		edits   int
		canvas  int
		pooling inference.Pooling
	}{
		{"1edit_grid32_max", 1, 32, inference.PoolMax},
		{"20edits_grid32_max", 20, 32, inference.PoolMax},
		{"20edits_canvas256_mean", 20, 256, inference.PoolMean},
		{"200edits_canvas256_prepooled", 200, 256, inference.PoolMax},
	} {
		b.Run(tc.name, func(b *testing.B) {
			edits := make([]inference.Edit, tc.edits)
			for i := range edits {
				units := make([]int, 15)
				for u := range units {
					units[u] = rng.IntN(512)
				}
				x, y := rng.IntN(tc.canvas), rng.IntN(tc.canvas)
				edits[i] = inference.Edit{Units: units, Mode: inference.Mode(1 + i%2), Strength: 1,
					Mask: inference.RectMask(tc.canvas, tc.canvas, x, y, x+tc.canvas/4, y+tc.canvas/4)}
				if tc.edits > 100 { // what a painter session keeps: one pooled mask per stroke
					var err error
					if edits[i].Mask, err = edits[i].Mask.Pooled(8, 8, tc.pooling); err != nil {
						b.Fatal(err)
					}
				}
			}
			var dst inference.Features
			for b.Loop() {
				if err := inference.ApplyEdits(&dst, src, edits, levels, tc.pooling); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchImage is a smooth 256×256 picture, closer to GAN output than noise.
func benchImage() *image.RGBA {
	img := &inference.Images{N: 1, H: 256, W: 256, Data: make([]float32, 3*256*256)}
	for c := 0; c < 3; c++ {
		for y := 0; y < 256; y++ {
			for x := 0; x < 256; x++ {
				img.Data[c*65536+y*256+x] = float32(math.Sin(float64(x*(c+1))/40) * math.Cos(float64(y+17*c)/23))
			}
		}
	}
	return img.RGBA(0, [2]float32{-1, 1})
}

func BenchmarkEncodePNG(b *testing.B) {
	img := benchImage()
	for b.Loop() {
		if err := inference.EncodePNG(io.Discard, img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeJPEG(b *testing.B) {
	img := benchImage()
	for _, q := range []int{90, 99} {
		b.Run("q"+string(rune('0'+q/10))+string(rune('0'+q%10)), func(b *testing.B) {
			for b.Loop() {
				if err := inference.EncodeJPEG(io.Discard, img, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRGBA(b *testing.B) {
	img := &inference.Images{N: 1, H: 256, W: 256, Data: make([]float32, 3*256*256)}
	dst := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for b.Loop() {
		if err := img.RGBAInto(dst, 0, [2]float32{-1, 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeFrame encodes a frame of the bench model (sample id 7) the
// way the server did before issue 15 (image/png, default compression) and
// the way it does now (EncodePNG), reporting bytes per frame.
func BenchmarkEncodeFrame(b *testing.B) {
	m := benchModel(b)
	z, _ := m.Z(7)
	imgs, _, err := m.Generate(context.Background(), z, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	frame := imgs.RGBA(0, m.ImageRange())
	for _, tc := range []struct {
		name string
		enc  func(io.Writer, image.Image) error
	}{
		{"stdlib_default", (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode},
		{"EncodePNG", inference.EncodePNG},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := tc.enc(&buf, frame); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}
