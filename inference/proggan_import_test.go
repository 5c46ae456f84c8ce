package inference_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

// testdata/proggan_tiny is a random generator in the reference ProGAN layout, converted by
// training/import_proggan.py; expected.json holds the torch outputs of the unconverted
// architecture (training/make_proggan_tiny.py regenerates both).
const progganTinyDir = "testdata/proggan_tiny"

type progganExpected struct {
	IDs        []int64   `json:"ids"`
	ZSize      int       `json:"z_size"`
	Z          []float32 `json:"z"`
	ImageShape []int     `json:"image_shape"`
	Image      []float32 `json:"image"`
	Layers     map[string]struct {
		Shape  []int   `json:"shape"`
		Sum    float64 `json:"sum"`
		AbsMax float64 `json:"abs_max"`
	} `json:"layers"`
	MaxAbsTol float64 `json:"max_abs_tol"`
}

func readProgganExpected(t *testing.T) progganExpected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(progganTinyDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp progganExpected
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(exp.IDs) == 0 || exp.MaxAbsTol <= 0 || len(exp.ImageShape) != 4 {
		t.Fatalf("expected.json is incomplete: %d ids, tol %v, shape %v", len(exp.IDs), exp.MaxAbsTol, exp.ImageShape)
	}
	return exp
}

func TestImportedProGANMatchesTorch(t *testing.T) {
	testenv.RequireRuntime(t)
	exp := readProgganExpected(t)
	m, err := inference.LoadDir(progganTinyDir, inference.Options{Workers: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("loading imported model: %v", err)
	}
	defer m.Close()

	man := m.Manifest()
	if man.Z.Size != exp.ZSize {
		t.Fatalf("z size %d, expected.json says %d", man.Z.Size, exp.ZSize)
	}
	layers := m.Layers()
	if len(layers) != len(exp.Layers) {
		t.Fatalf("%d layers, expected %d", len(layers), len(exp.Layers))
	}

	// The Go z rule must reproduce the z that torch was run on, bit for bit.
	zs, err := m.ZBatch(exp.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != len(exp.Z) {
		t.Fatalf("z batch has %d values, expected %d", len(zs), len(exp.Z))
	}
	for i := range zs {
		if zs[i] != exp.Z[i] {
			t.Fatalf("z[%d] = %v in Go, %v in Python", i, zs[i], exp.Z[i])
		}
	}

	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.Name
	}
	imgs, feats, err := m.Generate(context.Background(), zs, len(exp.IDs), names)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{imgs.N, 3, imgs.H, imgs.W}; !equalInts(got, exp.ImageShape) {
		t.Fatalf("image shape %v, want %v", got, exp.ImageShape)
	}
	maxDiff := 0.0
	for i, v := range imgs.Data {
		maxDiff = math.Max(maxDiff, math.Abs(float64(v)-float64(exp.Image[i])))
	}
	t.Logf("max |onnxruntime - torch| over the image: %.3g (tolerance %.3g)", maxDiff, exp.MaxAbsTol)
	if maxDiff > exp.MaxAbsTol {
		t.Errorf("image differs from torch by %.3g > %.3g", maxDiff, exp.MaxAbsTol)
	}

	for _, l := range layers {
		want, ok := exp.Layers[l.Name]
		if !ok {
			t.Errorf("layer %s missing from expected.json", l.Name)
			continue
		}
		f := feats[l.Name]
		if f == nil {
			t.Errorf("layer %s not captured", l.Name)
			continue
		}
		if got := []int{f.N, l.Channels, l.Height, l.Width}; !equalInts(got, want.Shape) {
			t.Errorf("layer %s shape %v, want %v", l.Name, got, want.Shape)
		}
		sum := 0.0
		for _, v := range f.Data {
			sum += float64(v)
		}
		if tol := 1e-4 * math.Max(1, math.Abs(want.Sum)) * math.Sqrt(float64(len(f.Data))); math.Abs(sum-want.Sum) > tol {
			t.Errorf("layer %s activation sum %.6g, torch %.6g", l.Name, sum, want.Sum)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
