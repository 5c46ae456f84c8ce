package dissection

import (
	"context"
	"fmt"
	"math"

	"github.com/ganpaint-go/ganpaint/inference"
)

// fakeGen is a Generator made of function fields; newFakeGen fills them
// with a small analytic "model" whose structure the tests know exactly.
type fakeGen struct {
	manifest func() inference.Manifest
	layers   func() []inference.LayerInfo
	zbatch   func(ids []int64) ([]float32, error)
	head     func(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error)
	tail     func(ctx context.Context, f *inference.Features) (*inference.Images, error)
	generate func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error)
	segment  func(ctx context.Context, imgs *inference.Images) ([]uint8, error)
}

func (f *fakeGen) Manifest() inference.Manifest          { return f.manifest() }
func (f *fakeGen) Layers() []inference.LayerInfo         { return f.layers() }
func (f *fakeGen) ZBatch(ids []int64) ([]float32, error) { return f.zbatch(ids) }
func (f *fakeGen) Head(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error) {
	return f.head(ctx, layer, zs, n)
}
func (f *fakeGen) Tail(ctx context.Context, fe *inference.Features) (*inference.Images, error) {
	return f.tail(ctx, fe)
}
func (f *fakeGen) Generate(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
	return f.generate(ctx, zs, n, layers)
}
func (f *fakeGen) Segment(ctx context.Context, imgs *inference.Images) ([]uint8, error) {
	return f.segment(ctx, imgs)
}

const (
	fakeZ     = 6
	fakeImage = 16
)

// The fake model: layer "a" is 3 units on a 4×4 grid whose values are smooth
// functions of z; layer "b" (2 units, 8×8) is a's first two units
// upsampled. The image encodes a segmentation directly: class "sky" (1)
// where a's unit 0, upsampled to the image, exceeds 1.85; class "tree" (2)
// where unit 1 exceeds 1.6; "ground" (0) elsewhere. So unit 0 of "a" is a
// sky detector and its ablation removes all sky.
var fakeLayers = []inference.LayerInfo{
	{Name: "a", Index: 0, Channels: 3, Height: 4, Width: 4},
	{Name: "b", Index: 1, Channels: 2, Height: 8, Width: 8},
}

func fakeManifest() inference.Manifest {
	return inference.Manifest{
		Format: "ganpaint-model", Version: 1, Name: "fake",
		Z:            inference.ZSpec{Size: fakeZ, Rule: "splitmix64-boxmuller-v1", MaxID: 1_000_000},
		Image:        inference.ImageSpec{Height: fakeImage, Width: fakeImage, Range: [2]float32{-1, 1}},
		DefaultLayer: "a",
		Segmenter: &inference.SegmenterSpec{Classes: []inference.ClassSpec{
			{Name: "ground", Color: "#000000"}, {Name: "sky", Color: "#87ceeb"}, {Name: "tree", Color: "#228b22"}}},
	}
}

func fakeLayerA(z []float32) []float32 {
	out := make([]float32, 3*16)
	for u := 0; u < 3; u++ {
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				v := math.Sin(float64(z[u])*2+float64(x)*0.9+float64(u)) + math.Cos(float64(z[u+3])*2+float64(y)*1.1)
				out[u*16+y*4+x] = float32(v)
			}
		}
	}
	return out
}

func fakeLayerB(a []float32) []float32 {
	out := make([]float32, 2*64)
	up, _ := NewUpsampler(4, 4, 8, 8)
	for u := 0; u < 2; u++ {
		up.Upsample(out[u*64:(u+1)*64], a[u*16:(u+1)*16])
	}
	return out
}

// fakeImageFrom renders the label image from layer-a activations (N×3×4×4):
// channel 0 holds the label as a float, channels 1–2 are zero.
func fakeImageFrom(a []float32, n int) *inference.Images {
	img := &inference.Images{N: n, H: fakeImage, W: fakeImage, Data: make([]float32, n*3*fakeImage*fakeImage)}
	up, _ := NewUpsampler(4, 4, fakeImage, fakeImage)
	m0 := make([]float32, fakeImage*fakeImage)
	m1 := make([]float32, fakeImage*fakeImage)
	for i := 0; i < n; i++ {
		up.Upsample(m0, a[i*48:i*48+16])
		up.Upsample(m1, a[i*48+16:i*48+32])
		plane := img.Data[i*3*fakeImage*fakeImage:]
		for p := range m0 {
			switch {
			case m0[p] > 1.85:
				plane[p] = 1
			case m1[p] > 1.6:
				plane[p] = 2
			}
		}
	}
	return img
}

func newFakeGen() *fakeGen {
	g := &fakeGen{}
	g.manifest = fakeManifest
	g.layers = func() []inference.LayerInfo { return append([]inference.LayerInfo(nil), fakeLayers...) }
	g.zbatch = func(ids []int64) ([]float32, error) {
		out := make([]float32, len(ids)*fakeZ)
		for i, id := range ids {
			if id < 0 || id >= 1_000_000 {
				return nil, fmt.Errorf("%w: %d", inference.ErrIDOutOfRange, id)
			}
			inference.ZForID(out[i*fakeZ:(i+1)*fakeZ], id, 0)
		}
		return out, nil
	}
	headAll := func(zs []float32, n int) (a, b []float32) {
		for i := 0; i < n; i++ {
			ai := fakeLayerA(zs[i*fakeZ : (i+1)*fakeZ])
			a = append(a, ai...)
			b = append(b, fakeLayerB(ai)...)
		}
		return a, b
	}
	g.head = func(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error) {
		a, b := headAll(zs, n)
		switch layer {
		case "a":
			return &inference.Features{Layer: fakeLayers[0], N: n, Data: a}, nil
		case "b":
			return &inference.Features{Layer: fakeLayers[1], N: n, Data: b}, nil
		}
		return nil, inference.ErrUnknownLayer
	}
	g.tail = func(ctx context.Context, f *inference.Features) (*inference.Images, error) {
		if f.Layer.Name != "a" {
			return nil, fmt.Errorf("fake tail only from layer a")
		}
		return fakeImageFrom(f.Data, f.N), nil
	}
	g.generate = func(ctx context.Context, zs []float32, n int, layers []string) (*inference.Images, map[string]*inference.Features, error) {
		a, b := headAll(zs, n)
		m := map[string]*inference.Features{}
		for _, l := range layers {
			switch l {
			case "a":
				m[l] = &inference.Features{Layer: fakeLayers[0], N: n, Data: a}
			case "b":
				m[l] = &inference.Features{Layer: fakeLayers[1], N: n, Data: b}
			default:
				return nil, nil, inference.ErrUnknownLayer
			}
		}
		return fakeImageFrom(a, n), m, nil
	}
	g.segment = func(ctx context.Context, imgs *inference.Images) ([]uint8, error) {
		plane := imgs.H * imgs.W
		out := make([]uint8, imgs.N*plane)
		for i := 0; i < imgs.N; i++ {
			for p := 0; p < plane; p++ {
				out[i*plane+p] = uint8(imgs.Data[i*3*plane+p])
			}
		}
		return out, nil
	}
	return g
}
