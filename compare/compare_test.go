package compare

import (
	"bytes"
	"context"
	"errors"
	"image"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
	"github.com/ganpaint-go/ganpaint/inpaint"
	"github.com/ganpaint-go/ganpaint/internal/testenv"
)

func loadPlanted(t *testing.T) *inference.Model {
	t.Helper()
	testenv.RequireRuntime(t)
	m, err := inference.LoadDir(testenv.PlantedModel(), inference.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// plantedReference: the statistics of unedited planted images, ids 1000–1063.
func plantedReference(t *testing.T, m *inference.Model) *fid.Stats {
	t.Helper()
	var feats []float32
	for id := int64(1000); id < 1064; id++ {
		z, _ := m.Z(id)
		img, _, err := m.Generate(context.Background(), z, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, f, err := m.SegmentFeatures(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		feats = append(feats, f...)
	}
	s, err := fid.Compute(feats, m.FeatureDim())
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

// unitsOff is a GAN removal that switches units off, as the IoU eraser does.
func unitsOff(units ...int) inference.Edit {
	return inference.Edit{Units: units, Mode: inference.ModeRemove, Strength: 1}
}

// On the planted model, removing unit 1 at layer2 turns exactly the tree
// blocks into background and the planted inpainter paints the hole grey
// (background), so both leave no tree in the region; the classical methods
// fill from the neighbours, which are not tree.
func TestEvaluatePlanted(t *testing.T) {
	m := loadPlanted(t)
	ref := plantedReference(t, m)
	var progress bytes.Buffer
	tab, err := Evaluate(context.Background(), m, Config{
		Layer: "layer2", GAN: unitsOff(1), Concept: "tree", Samples: 6, Reference: ref, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.IDs) != 6 || strings.Count(progress.String(), "\n") != 6 {
		t.Fatalf("%d images, progress %q", len(tab.IDs), progress.String())
	}
	if math.IsNaN(tab.Unedited) || tab.Unedited < 0 {
		t.Errorf("unedited FID %v", tab.Unedited)
	}
	if len(tab.Rows) != 8 {
		t.Fatalf("%d rows, want 2 scopes × 4 methods", len(tab.Rows))
	}
	for _, r := range tab.Rows {
		if r.Images != 6 || r.Failed != 0 {
			t.Errorf("%s/%s: %d images, %d failed (%v)", r.Scope, r.Method, r.Images, r.Failed, r.Err)
			continue
		}
		if r.ShareBefore <= 0 || r.ShareAfter < 0 || r.ShareAfter > r.ShareBefore {
			t.Errorf("%s/%s: share before %v, after %v", r.Scope, r.Method, r.ShareBefore, r.ShareAfter)
		}
		if r.Scope == ScopeEverywhere && r.ShareBefore != 1 {
			t.Errorf("%s/%s: the region is the concept's pixels, share before %v, want 1", r.Scope, r.Method, r.ShareBefore)
		}
		if (r.Method == MethodGAN || r.Method == MethodLearned) && r.ShareAfter != 0 {
			t.Errorf("%s/%s: %v of the region still tree, want 0", r.Scope, r.Method, r.ShareAfter)
		}
		if math.IsNaN(r.FID) || r.FID < 0 || len(r.Times) != 6 {
			t.Errorf("%s/%s: FID %v, %d times", r.Scope, r.Method, r.FID, len(r.Times))
		}
		if runtime.GOOS == "linux" && len(r.CPU) != 6 {
			t.Errorf("%s/%s: %d CPU times on linux, want 6", r.Scope, r.Method, len(r.CPU))
		}
	}
	var out bytes.Buffer
	tab.Write(&out)
	for _, want := range []string{"| stroke | GAN removal | 6 |", "| everywhere | Telea | 6 |", "Navier–Stokes", "unedited images"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// Without a reference the FID column is empty, not zero.
	tab, err = Evaluate(context.Background(), m, Config{Layer: "layer2", GAN: unitsOff(1), Concept: "tree", Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	tab.Write(&out)
	if !math.IsNaN(tab.Rows[0].FID) || !strings.Contains(out.String(), "FID: not measured") {
		t.Errorf("FID without a reference: %v\n%s", tab.Rows[0].FID, out.String())
	}
}

// The GAN removes with whatever edit the painter's eraser makes: a recipe
// that blends unit 1 to 0 takes the planted trees away as switching it off
// does, and the table names the brush.
func TestEvaluateRecipeEraser(t *testing.T) {
	m := loadPlanted(t)
	recipe := inference.Edit{Units: []int{1}, Mode: inference.ModeBlend, Strength: 1, Weights: []float32{1}, Values: []float32{0}}
	tab, err := Evaluate(context.Background(), m, Config{Layer: "layer2", GAN: recipe, Brush: "tree-erase at high", Concept: "tree", Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		if r.Method == MethodGAN && (r.Images != 2 || r.ShareAfter != 0) {
			t.Errorf("%s: %d images, %v of the region still tree", r.Scope, r.Images, r.ShareAfter)
		}
	}
	var out bytes.Buffer
	tab.Write(&out)
	if want := `Removing "tree" at layer2 with tree-erase at high (blend, strength 1, 1 units)`; !strings.Contains(out.String(), want) {
		t.Errorf("table does not name the brush as %q:\n%s", want, out.String())
	}
}

func TestEvaluateRejects(t *testing.T) {
	m := loadPlanted(t)
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown concept", Config{Layer: "layer2", GAN: unitsOff(1), Concept: "dragon", Samples: 1}, "classes: background, sky"},
		{"unknown layer", Config{Layer: "layer7", GAN: unitsOff(1), Concept: "tree", Samples: 1}, "layer7"},
		{"no units", Config{Layer: "layer2", Concept: "tree", Samples: 1}, "no units"},
		{"an adding edit", Config{Layer: "layer2", GAN: inference.Edit{Units: []int{1}, Mode: inference.ModeAdd, Strength: 1}, Concept: "tree", Samples: 1}, "must remove"},
		{"a bad recipe", Config{Layer: "layer2", GAN: inference.Edit{Units: []int{1}, Mode: inference.ModeBlend, Strength: 1}, Concept: "tree", Samples: 1}, "weights"},
		{"no samples", Config{Layer: "layer2", GAN: unitsOff(1), Concept: "tree"}, "samples"},
		{"concept never present", Config{Layer: "layer2", GAN: unitsOff(1), Concept: "background", Samples: 1, MaxTries: 5}, "no image among 5"},
		{"unit out of range", Config{Layer: "layer2", GAN: unitsOff(99), Concept: "tree", Samples: 1}, "unit"},
		{"reference size", Config{Layer: "layer2", GAN: unitsOff(1), Concept: "tree", Samples: 1,
			Reference: &fid.Stats{N: 2, Mean: []float64{0}, Cov: []float64{1}}}, "features"},
	}
	for _, c := range cases {
		if _, err := Evaluate(ctx, m, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestRunFills(t *testing.T) {
	m := loadPlanted(t)
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	mask := image.NewGray(img.Bounds())
	for y := 10; y < 20; y++ {
		for x := 5; x < 15; x++ {
			mask.Pix[y*32+x] = 1
		}
	}
	fills, err := RunFills(context.Background(), img, mask, Fillers(m, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != 3 || fills[0].Method != MethodLearned || fills[1].Method != MethodNS || fills[2].Method != MethodTelea {
		t.Fatalf("fills %+v", fills)
	}
	for _, f := range fills {
		if f.Err != nil {
			t.Fatalf("%s: %v", f.Method, f.Err)
		}
		// A constant image: the classical methods restore it; the planted
		// learned inpainter paints the hole mid grey.
		want := uint8(200)
		if f.Method == MethodLearned {
			want = 128
		}
		if c := f.Image.RGBAAt(9, 14); c.R != want || c.G != want || c.B != want {
			t.Errorf("%s: hole pixel %v, want %d", f.Method, c, want)
		}
		if c := f.Image.RGBAAt(30, 30); c.R != 200 {
			t.Errorf("%s: known pixel changed to %v", f.Method, c)
		}
	}
	// A model without an inpainter: that slot is unavailable, the others run.
	fills, err = RunFills(context.Background(), img, mask, Fillers(nil, 3))
	if err != nil || !errors.Is(fills[0].Err, ErrUnavailable) || fills[1].Err != nil {
		t.Fatalf("without inpainter: %v, %+v", err, fills)
	}
	// Bad input is reported per method; a cancelled context stops the run.
	fills, _ = RunFills(context.Background(), img, image.NewGray(image.Rect(0, 0, 3, 3)), Fillers(m, 3))
	for _, f := range fills {
		if f.Err == nil {
			t.Errorf("%s accepted a mask of the wrong size", f.Method)
		}
	}
	if !errors.Is(fills[1].Err, inpaint.ErrMaskSize) {
		t.Errorf("ns error = %v", fills[1].Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunFills(ctx, img, mask, Fillers(m, 3)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestConceptMaskAndCells(t *testing.T) {
	// 8×4 labels, class 2 in a 2×2 block at (2,1).
	labels := make([]uint8, 32)
	for _, i := range []int{10, 11, 18, 19} {
		labels[i] = 2
	}
	m, n := ConceptMask(labels, 8, 4, 2, 0)
	if n != 4 || m.Pix[10] == 0 || m.Pix[9] != 0 {
		t.Fatalf("mask %v, n %d", m.Pix, n)
	}
	grown, _ := ConceptMask(labels, 8, 4, 2, 1)
	if grown.Pix[9] == 0 || grown.Pix[2] == 0 || grown.Pix[0] != 0 {
		t.Fatalf("grown mask %v", grown.Pix)
	}
	// A 4×2 grid: each cell is 2×2 pixels; the block fills cell (1,0) half
	// and cell (1,1) half.
	cells := brushedCells(labels, 8, 4, 4, 2, 2, 0.5)
	if want := []float32{0, 1, 0, 0, 0, 1, 0, 0}; !equal(cells, want) {
		t.Fatalf("cells %v, want %v", cells, want)
	}
	if brushedCells(labels, 8, 4, 4, 2, 2, 0.75) != nil {
		t.Error("cells half covered counted at share 0.75")
	}
	if s := regionShare(labels, maskRegion(grown), 2); s <= 0 || s >= 1 {
		t.Errorf("share %v", s)
	}
}

func equal(a, b []float32) bool {
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
